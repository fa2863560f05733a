"""Helpers for the reference-server tests: raw requests and responses, frames to send, the CLI as a subprocess.

The socket I/O (connect, bounded reads) is :mod:`tests.harness`'s.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable, Sequence

from tests.harness import open_socket, read_head, read_until_close

DEFAULT_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
DEFAULT_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
ROUTE = "/websocket-test"

BASE_HEADERS: tuple[tuple[str, str], ...] = (
    ("Host", "127.0.0.1"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", DEFAULT_KEY),
    ("Sec-WebSocket-Version", "13"),
)


def build_request(
    path: str = ROUTE,
    *,
    method: str = "GET",
    version: str = "HTTP/1.1",
    headers: Sequence[tuple[str, str]] = BASE_HEADERS,
    drop: Iterable[str] = (),
    replace: dict[str, str] | None = None,
    extra: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
) -> bytes:
    """A request head; ``drop`` removes headers by name, ``replace`` swaps values."""
    dropped = {name.lower() for name in drop}
    replace = {k.lower(): v for k, v in (replace or {}).items()}
    lines = [f"{method} {path} {version}"]
    for name, value in headers:
        if name.lower() in dropped:
            continue
        lines.append(f"{name}: {replace.get(name.lower(), value)}")
    lines.extend(f"{name}: {value}" for name, value in extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Response:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status_line = lines[0]
        parts = status_line.split(" ", 2)
        assert parts[0] == "HTTP/1.1", status_line
        self.status = int(parts[1])
        self.reason = parts[2] if len(parts) > 2 else ""
        self.headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers.append((name.strip(), value.strip()))

    def get_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def get(self, name: str) -> str | None:
        values = self.get_all(name)
        return values[0] if values else None

    def tokens(self, name: str) -> list[str]:
        return [t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()]

    def __repr__(self) -> str:
        return f"Response({self.raw!r})"


def exchange(
    address: tuple[str, int],
    data: bytes,
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 5.0,
) -> tuple[Response, bool]:
    """Send ``data``, read until the server closes; (response, closed_by_server)."""
    sock = open_socket(address, ssl_context=ssl_context, timeout=timeout)
    try:
        sock.sendall(data)
        raw, closed = read_until_close(sock, timeout)
    finally:
        sock.close()
    assert raw, "no response at all"
    return Response(raw), closed


def upgrade_head(
    address: tuple[str, int],
    data: bytes,
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 5.0,
) -> Response:
    """Send ``data`` and read just the response head (the connection is then dropped)."""
    sock = open_socket(address, ssl_context=ssl_context, timeout=timeout)
    try:
        sock.sendall(data)
        head, _ = read_head(sock, timeout)
    finally:
        sock.close()
    return Response(head)


def mask_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes = b"\x01\x02\x03\x04") -> bytes:
    """A client (masked) frame with a payload < 126 bytes."""
    assert len(payload) < 126
    first = (0x80 if fin else 0) | opcode
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([first, 0x80 | len(payload)]) + mask + masked


# --- subprocesses --------------------------------------------------------------------

import os
import queue
import shutil
import subprocess
import sys
import threading


def server_command() -> list[str]:
    """The ``wsgateway-server`` console script next to this Python, else ``python -m``."""
    script = os.path.join(os.path.dirname(sys.executable), "wsgateway-server")
    if os.path.exists(script):
        return [script]
    found = shutil.which("wsgateway-server")
    return [found] if found else [sys.executable, "-m", "pytest_wsgateway.reference_server"]


class CliServer:
    """A ``wsgateway-server`` subprocess whose stdout lines are read on a thread."""

    def __init__(self, args: Sequence[str], cwd: str, *, command: Sequence[str] | None = None) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [*(command or server_command()), *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_ready(self, timeout: float = 30.0) -> dict[str, list[str]]:
        """Collect ``key: value`` lines up to ``ready:``; bounded by ``timeout``."""
        deadline = time.monotonic() + timeout
        fields: dict[str, list[str]] = {}
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"server not ready; stdout so far: {self.stdout}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"server exited early; stdout: {self.stdout}")
            self.stdout.append(line)
            key, _, value = line.partition(": ")
            fields.setdefault(key, []).append(value)
            if key == "ready":
                return fields

    def stop(self, sig: int | None = None, timeout: float = 15.0) -> tuple[int, str]:
        """Send ``sig`` (SIGTERM), wait bounded; (returncode, stderr). Kills on timeout."""
        import signal as _signal

        if self.proc.poll() is None:
            self.proc.send_signal(sig if sig is not None else _signal.SIGTERM)
        try:
            _, stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, stderr = self.proc.communicate(timeout=5)
            raise AssertionError(f"server did not exit within {timeout}s after the signal")
        return self.proc.returncode, stderr or ""

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def run_cli(args: Sequence[str], cwd: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*server_command(), *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
