"""Slowloris and floods: the reference server keeps serving and its limits answer cleanly.

* 500 connections trickle a request head one byte at a time while 2,000 rapid handshakes run
  (4 threads) and legitimate clients keep arriving: every legitimate client gets its 101 within
  the open timeout, every trickler gets a 408 once the open timeout is over, and the server (a
  subprocess, so its GIL and memory are its own) stays alive with a bounded peak RSS.
* ``max_connections`` answers 503 (well-formed, ``Retry-After``) and frees the slot afterwards;
  oversized heads answer 414/431 without the server buffering the flood.

Everything is on 127.0.0.1, every loop is bounded in count and time, and every read has a
timeout. The heavier variant (2,000 tricklers, 10,000 handshakes) is marked ``slow``::

    pytest -m slow tests/server/test_server_load.py
"""

from __future__ import annotations

import concurrent.futures
import re
import resource
import selectors
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass

import pytest

from tests.harness import read_head

from pytest_wsgateway.reference_server import ReferenceServer, ServerConfig

ROUTE = "/websocket-test"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
HANDSHAKE = (
    f"GET {ROUTE} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
).encode()


def _raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {needed} file descriptors needed")


# --- the server under load, in its own process ------------------------------------------------------

_SERVER_SCRIPT = textwrap.dedent(
    """
    import sys
    from pytest_wsgateway.reference_server import ReferenceServer, ServerConfig
    server = ReferenceServer(ServerConfig(schemes=("ws",), open_timeout=float(sys.argv[1]),
                                          max_connections=int(sys.argv[2]))).start()
    print(server.address("ws")[1], flush=True)
    sys.stdin.read()  # until the test closes our stdin
    server.stop()
    """
)


@dataclass
class ServerProcess:
    proc: subprocess.Popen
    port: int

    def peak_rss_kib(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as status:
            match = re.search(r"^VmHWM:\s+(\d+) kB", status.read(), re.M)
        assert match
        return int(match.group(1))


def _spawn(open_timeout: float, max_connections: int) -> ServerProcess:
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER_SCRIPT, str(open_timeout), str(max_connections)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    if not selector.select(timeout=30):
        proc.kill()
        raise AssertionError("the server subprocess did not start within 30 s")
    return ServerProcess(proc, int(proc.stdout.readline()))


def _stop(server: ServerProcess) -> str:
    try:
        _, stderr = server.proc.communicate(input="", timeout=20)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.communicate(timeout=5)
        raise AssertionError("the server subprocess did not stop within 20 s")
    return stderr


# --- clients ------------------------------------------------------------------------------------------


def handshake(port: int, timeout: float = 5.0) -> float:
    """One valid handshake; returns how long the 101 took. Raises on anything else."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(HANDSHAKE)
        head = b"".join(read_head(sock, timeout))
        assert head.startswith(b"HTTP/1.1 101 ") and ACCEPT in head, head[:200]
        sock.sendall(b"\x88\x82\x00\x00\x00\x00\x03\xe8")  # masked close 1000
    return time.monotonic() - started


class Tricklers:
    """``count`` connections that send a request head one byte per round (slowloris)."""

    PREFIX = f"GET {ROUTE} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".encode()

    def __init__(self, port: int, count: int) -> None:
        self.selector = selectors.DefaultSelector()
        self.answers: dict[socket.socket, bytes] = {}
        self.closed: set[socket.socket] = set()
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(self.PREFIX)
            sock.setblocking(False)
            self.answers[sock] = b""
            self.selector.register(sock, selectors.EVENT_READ)

    def round(self) -> None:
        """Send one more byte on every connection not answered yet; collect what arrived."""
        for key, _ in self.selector.select(timeout=0):
            sock = key.fileobj
            try:
                chunk = sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                chunk = b""
            if chunk:
                self.answers[sock] += chunk
            else:
                self.closed.add(sock)
                self.selector.unregister(sock)
        for sock, answer in self.answers.items():
            if not answer and sock not in self.closed:
                try:
                    sock.send(b"a")
                except (BlockingIOError, OSError):
                    pass

    def pending(self) -> int:
        return sum(1 for sock, answer in self.answers.items() if not answer and sock not in self.closed)

    def close(self) -> None:
        self.selector.close()
        for sock in self.answers:
            sock.close()


def _slowloris_and_flood(tricklers: int, rapid: int, *, open_timeout: float, hard_deadline: float) -> dict:
    _raise_nofile(tricklers + 256)
    server = _spawn(open_timeout=open_timeout, max_connections=tricklers + 512)
    figures: dict = {"tricklers": tricklers, "rapid": rapid}
    started = time.monotonic()
    deadline = started + hard_deadline
    try:
        baseline_rss = server.peak_rss_kib()
        slow = Tricklers(server.port, tricklers)
        figures["held"] = slow.pending()
        legit: list[float] = []
        failures: list[str] = []

        def rapid_batch(count: int) -> int:
            done = 0
            for _ in range(count):
                if time.monotonic() > deadline:
                    break
                try:
                    handshake(server.port)
                    done += 1
                except Exception as exc:  # collected, asserted below
                    failures.append(f"{type(exc).__name__}: {exc}")
            return done

        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            batches = [pool.submit(rapid_batch, rapid // 4) for _ in range(4)]
            # while the flood runs: trickle, and keep sending legitimate clients
            while (slow.pending() or not all(b.done() for b in batches)) and time.monotonic() < deadline:
                slow.round()
                try:
                    legit.append(handshake(server.port, timeout=open_timeout))
                except Exception as exc:
                    failures.append(f"legitimate client: {type(exc).__name__}: {exc}")
                time.sleep(0.1)
            figures["rapid_done"] = sum(b.result(timeout=max(0.0, deadline - time.monotonic()) + 5) for b in batches)
        figures["elapsed"] = time.monotonic() - started
        answers = list(slow.answers.values())
        figures["408"] = sum(1 for a in answers if a.startswith(b"HTTP/1.1 408 "))
        figures["unanswered"] = slow.pending()
        figures["legit"] = len(legit)
        figures["legit_max"] = max(legit, default=0.0)
        figures["failures"] = failures[:5]
        figures["failures_count"] = len(failures)
        slow.close()
        # still alive and still correct after all that
        handshake(server.port)
        figures["rss_growth_mib"] = (server.peak_rss_kib() - baseline_rss) / 1024
        assert server.proc.poll() is None, "the server process died"
    finally:
        stderr = _stop(server)
    figures["stderr"] = stderr
    return figures


def _assert_survived(figures: dict, open_timeout: float) -> None:
    print(figures)
    assert figures["held"] == figures["tricklers"], figures
    assert figures["failures_count"] == 0, figures["failures"]
    assert figures["rapid_done"] == figures["rapid"], figures
    assert figures["legit"] >= 3, figures
    assert figures["legit_max"] < open_timeout, figures  # served within the open timeout
    assert figures["unanswered"] == 0, figures
    assert figures["408"] == figures["tricklers"], figures  # every trickler: 408 after open_timeout
    assert figures["rss_growth_mib"] < 200, figures
    assert "Traceback" not in figures["stderr"], figures["stderr"][-2000:]


def test_slowloris_and_a_handshake_flood_do_not_starve_legitimate_clients():
    open_timeout = 3.0
    figures = _slowloris_and_flood(500, 2000, open_timeout=open_timeout, hard_deadline=25.0)
    _assert_survived(figures, open_timeout)


@pytest.mark.slow
def test_slowloris_and_a_handshake_flood_heavy():
    open_timeout = 5.0
    figures = _slowloris_and_flood(2000, 10000, open_timeout=open_timeout, hard_deadline=120.0)
    _assert_survived(figures, open_timeout)


# --- limits answer cleanly -------------------------------------------------------------------------------


def _error(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    head = b"".join(read_head(sock, 5.0))
    status_line, *lines = head.split(b"\r\n\r\n")[0].decode("ascii").split("\r\n")
    match = re.fullmatch(r"HTTP/1\.1 (\d{3}) .+", status_line)
    assert match, status_line
    fields = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    body = head.split(b"\r\n\r\n", 1)[1]
    deadline = time.monotonic() + 5
    while len(body) < int(fields["content-length"]) and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        body += sock.recv(4096)
    assert len(body) == int(fields["content-length"])
    assert "close" in fields["connection"].lower()
    return int(match.group(1)), fields, body


def test_max_connections_answers_503_and_frees_the_slot():
    with ReferenceServer(ServerConfig(schemes=("ws",), max_connections=5, open_timeout=10)) as server:
        port = server.address("ws")[1]
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(5)]
        try:
            for sock in held:
                sock.sendall(b"GET /websocket-test HTTP/1.1\r\n")  # a head that never ends
            time.sleep(0.2)  # let the server count them (a bound below retries anyway)
            for _ in range(3):
                with socket.create_connection(("127.0.0.1", port), timeout=5) as extra:
                    extra.sendall(HANDSHAKE)
                    status, fields, _ = _error(extra)
                assert status == 503 and fields.get("retry-after") == "1"
        finally:
            for sock in held:
                sock.close()
        # the slots free up once the held connections are gone: bounded retries
        deadline = time.monotonic() + 5
        while True:
            try:
                handshake(port)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


@pytest.mark.parametrize(
    "head, status",
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n", 414),
        (b"GET /websocket-test HTTP/1.1\r\nX-Big: " + b"b" * 9000, 431),
        (b"GET /websocket-test HTTP/1.1\r\n" + b"X-Many: v\r\n" * 129, 431),
    ],
    ids=["long-request-line", "long-header-line", "too-many-headers"],
)
def test_oversized_heads_get_414_or_431(head, status):
    with ReferenceServer(ServerConfig(schemes=("ws",), open_timeout=5)) as server:
        with socket.create_connection(server.address("ws"), timeout=5) as sock:
            sock.sendall(head)  # no end of head: the answer comes as soon as the limit is certain
            got, _, _ = _error(sock)
    assert got == status


def test_a_10_mb_header_flood_is_cut_at_the_limit():
    """The client keeps sending header bytes; the server answers 431 at once and never buffers 10 MB."""
    import tracemalloc

    with ReferenceServer(ServerConfig(schemes=("ws",), open_timeout=5)) as server:
        tracemalloc.start()
        try:
            with socket.create_connection(server.address("ws"), timeout=5) as sock:
                sock.sendall(b"GET /websocket-test HTTP/1.1\r\nX-Flood: ")
                sent, status = 0, None
                deadline = time.monotonic() + 10
                sock.settimeout(0.5)
                while sent < 10 * 1024 * 1024 and time.monotonic() < deadline:
                    try:
                        sent += sock.send(b"f" * 65536)
                    except (TimeoutError, BlockingIOError):
                        break  # the server stopped reading
                    except OSError:
                        break  # or closed
                status, _, _ = _error(sock)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert status == 431
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes traced while {sent} bytes were flooded"
