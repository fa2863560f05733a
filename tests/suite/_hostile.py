"""Hostile fake gateways on loopback, for proving that the suite never hangs and stays bounded.

:func:`hostile_server` runs one *behaviour* per accepted connection on its own thread (plain TCP,
or TLS when given a server context), on :func:`tests.harness.connection_server`. Every behaviour is bounded: it ends when the client leaves,
when the ``with`` block ends, or after ``hold`` seconds, whichever comes first; nothing here ever
listens beyond 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import random
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tests.harness import connection_server

from pytest_wsgateway.handshake import accept_for, head_end, parse_request

TEN_MB = 10 * 1024 * 1024


@dataclass
class Stats:
    """What a hostile server saw: connections accepted and bytes it managed to write."""

    connections: int = 0
    sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_sent(self, count: int) -> None:
        with self.lock:
            self.sent += count


@dataclass
class Conn:
    """One accepted connection as a behaviour sees it."""

    sock: socket.socket
    stop: threading.Event
    until: float  # monotonic time after which the behaviour must give up
    stats: Stats

    def expired(self) -> bool:
        return self.stop.is_set() or time.monotonic() >= self.until

    def send(self, data: bytes) -> None:
        self.sock.settimeout(max(0.05, min(1.0, self.until - time.monotonic())))
        self.sock.sendall(data)
        self.stats.add_sent(len(data))

    def read_request(self, limit: int = 65536) -> bytes:
        """The request head (bounded in size and time); b"" if the client left first.

        Unlike :func:`tests.harness.read_head` it reads in 0.1 s slices so that it also gives up
        as soon as the server stops (a hostile server may hold a connection for ``hold`` seconds).
        """
        data = b""
        while head_end(data) < 0 and len(data) < limit and not self.expired():
            self.sock.settimeout(0.1)
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                return data
            data += chunk
        return data

    def hold(self) -> None:
        """Read and discard until the client leaves (or the server stops / ``hold`` expires)."""
        while not self.expired():
            self.sock.settimeout(0.1)
            try:
                if not self.sock.recv(65536):
                    return
            except TimeoutError:
                continue

    def client_left(self) -> bool:
        """Non-blocking: has the client closed (EOF or reset)?"""
        if isinstance(self.sock, ssl.SSLSocket):
            return False  # no peeking through TLS; the next send fails instead
        try:
            self.sock.settimeout(0)
            return self.sock.recv(65536, socket.MSG_PEEK) == b""
        except (BlockingIOError, ssl.SSLWantReadError, InterruptedError):
            return False
        except OSError:
            return True


Behaviour = Callable[[Conn], None]


# --- behaviours ----------------------------------------------------------------------------------


def never_answers(conn: Conn) -> None:
    """Accept, read the request, never say a word."""
    conn.hold()


def close_at_once(conn: Conn) -> None:
    """Close right after accepting (before the request is read)."""


def reset_at_once(conn: Conn) -> None:
    """Reset the connection (SO_LINGER 0 then close => RST) after reading the request."""
    conn.read_request()
    _reset(conn.sock)


def _reset(sock: socket.socket) -> None:
    """Linger 0: the close that follows (when the ``with`` block ends) sends RST, not FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def random_bytes(conn: Conn) -> None:
    """Answer with 4 KiB of random bytes (seeded per connection), then wait for the client."""
    conn.read_request()
    rng = random.Random(conn.stats.connections)
    conn.send(bytes(rng.getrandbits(8) for _ in range(4096)))
    conn.hold()


def endless_head(conn: Conn) -> None:
    """A status line, then header lines forever (64 KiB chunks) until the client gives up."""
    conn.read_request()
    conn.send(b"HTTP/1.1 101 Switching Protocols\r\n")
    line = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    chunk = line * 64
    while not conn.expired():
        conn.send(chunk)


def ten_mb_head(conn: Conn) -> None:
    """A 10 MB header block (then the empty line), sent as fast as the client reads it."""
    conn.read_request()
    line = b"X-Filler: " + b"b" * 1000 + b"\r\n"
    chunk = line * 64
    sent = 0
    conn.send(b"HTTP/1.1 400 Bad Request\r\n")
    while sent < TEN_MB and not conn.expired():
        conn.send(chunk)
        sent += len(chunk)
    conn.send(b"\r\n")
    conn.hold()


def _accept_response(request_head: bytes) -> bytes:
    try:
        key = parse_request(request_head).get("Sec-WebSocket-Key") or ""
    except Exception:  # a hostile server does not care why the request is odd
        key = ""
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_for(key)}\r\n\r\n"
    ).encode()


def valid_101_then_nothing(conn: Conn) -> None:
    """A correct 101 for whatever was asked, then silence (no pong, no close, no EOF)."""
    conn.send(_accept_response(conn.read_request()))
    conn.hold()


def trickle(interval: float = 1.0) -> Behaviour:
    """A correct 101 sent one byte every ``interval`` seconds (then silence)."""

    def behaviour(conn: Conn) -> None:
        response = _accept_response(conn.read_request())
        for byte in response:
            conn.send(bytes([byte]))
            if conn.stop.wait(interval) or conn.client_left() or conn.expired():
                return
        conn.hold()

    behaviour.__name__ = f"trickle_{interval:g}s"
    return behaviour


def plaintext_answer(conn: Conn) -> None:
    """Plain HTTP where TLS is expected: read the ClientHello, answer HTTP/1.1 400 in clear."""
    conn.sock.settimeout(1.0)
    with contextlib.suppress(OSError):
        conn.sock.recv(4096)
    conn.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    conn.hold()


def tls_abort(conn: Conn) -> None:
    """A would-be TLS server that reads the ClientHello and resets the connection."""
    conn.sock.settimeout(1.0)
    with contextlib.suppress(OSError):
        conn.sock.recv(4096)
    _reset(conn.sock)


def flood_frames_after_101(conn: Conn) -> None:
    """A correct 101, then endless unfinished text fragments (never a final frame)."""
    conn.send(_accept_response(conn.read_request()))
    fragment = b"\x01\x7e\xff\xff" + b"x" * 0xFFFF  # text, fin=0, 65535 bytes
    continuation = b"\x00\x7e\xff\xff" + b"x" * 0xFFFF  # continuation, fin=0
    conn.send(fragment)
    while not conn.expired():
        conn.send(continuation * 16)


def tiny_frames_after_101(conn: Conn) -> None:
    """A correct 101, then endless 2-byte frames (empty final text frames) until the client leaves."""
    conn.send(_accept_response(conn.read_request()))
    burst = b"\x81\x00" * 32768
    while not conn.expired():
        conn.send(burst)


def ten_thousand_headers(conn: Conn) -> None:
    """A correct 101 carrying 10,000 extra header lines, then the connection closes."""
    accept = _accept_response(conn.read_request())
    extra = b"".join(b"X-H%d: v\r\n" % i for i in range(10000))
    conn.send(accept[:-2] + extra + b"\r\n")


# --- the server ----------------------------------------------------------------------------------


@contextlib.contextmanager
def hostile_server(
    behaviour: Behaviour,
    *,
    tls: ssl.SSLContext | None = None,
    hold: float = 30.0,
    path: str = "/websocket-test",
) -> Iterator[tuple[str, Stats]]:
    """Serve ``behaviour`` on 127.0.0.1 (port 0); yields (URL, stats). ``tls`` = serve wss://."""
    stats = Stats()
    stop = threading.Event()  # set when the ``with`` block ends: every behaviour gives up

    def run(sock: socket.socket) -> None:
        with stats.lock:
            stats.connections += 1
        with contextlib.suppress(OSError, ValueError):
            with sock:
                if tls is not None:
                    sock.settimeout(5.0)
                    sock = tls.wrap_socket(sock, server_side=True)
                behaviour(Conn(sock, stop, time.monotonic() + hold, stats))
                if isinstance(sock, ssl.SSLSocket):
                    sock.close()

    with connection_server(run, backlog=256) as server:
        try:
            yield server.url("wss" if tls is not None else "ws", path), stats
        finally:
            stop.set()
