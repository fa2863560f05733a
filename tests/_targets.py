"""Targets for the suite's own tests: a plain websockets echo server and raw fake gateways.

Each runs on a thread of :mod:`tests.harness` (a port-0 socket bound before the thread starts, no
free-port race, no readiness wait) and is stopped when its ``with`` block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator

from tests.harness import bind_loopback, connection_server, read_head, serve_in_thread

from pytest_wsgateway.handshake import accept_for, parse_request

#: What a fake gateway reads of a request head at most (then it answers whatever it got).
REQUEST_HEAD_LIMIT = 65536


@contextlib.contextmanager
def websockets_echo_server() -> Iterator[str]:
    """A default ``websockets.asyncio.server.serve`` echo server; yields its ws:// URL."""
    from websockets.asyncio.server import serve

    sock = bind_loopback()

    async def echo(connection):
        with contextlib.suppress(Exception):
            async for message in connection:
                await connection.send(message)

    async def main(stop: asyncio.Event) -> None:
        async with serve(echo, sock=sock, logger=_quiet_logger()):
            await stop.wait()

    try:
        with serve_in_thread(main, name="websockets-echo"):
            yield f"ws://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        sock.close()


def _quiet_logger():
    import logging

    logger = logging.getLogger("tests.websockets-echo")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


@contextlib.contextmanager
def raw_server(handle: Callable[[socket.socket], None]) -> Iterator[str]:
    """A thread-per-connection TCP server calling ``handle(conn)``; yields its ws:// URL."""
    with connection_server(lambda conn: _run(handle, conn)) as server:
        yield server.url()


def _run(handle: Callable[[socket.socket], None], conn: socket.socket) -> None:
    with conn, contextlib.suppress(OSError):
        conn.settimeout(5)
        handle(conn)


def read_request(conn: socket.socket) -> bytes:
    """The request head a fake gateway answers: what arrived up to the blank line, the client
    closing, or :data:`REQUEST_HEAD_LIMIT` bytes (b"" if the client left without a word)."""
    head, _ = read_head(conn, limit=REQUEST_HEAD_LIMIT, partial=True)
    return head


def gatewayscript_101(conn: socket.socket) -> None:
    """The IBM API Connect GatewayScript of the seed example: any request gets a 101 with only
    ``Sec-WebSocket-Accept`` (no Upgrade, no Connection, no validation of key or version)."""
    data = read_request(conn)
    key = parse_request(data).get("Sec-WebSocket-Key") or ""
    conn.sendall(f"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: {accept_for(key)}\r\n\r\n".encode())
