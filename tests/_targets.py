"""Targets for the suite's own tests: a plain websockets echo server and raw fake gateways.

Each runs in a background thread on a port-0 socket bound before the thread starts (no
free-port race) and is stopped when its ``with`` block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

from pytest_wsgateway.handshake import accept_for, head_end, parse_request


@contextlib.contextmanager
def websockets_echo_server() -> Iterator[str]:
    """A default ``websockets.asyncio.server.serve`` echo server; yields its ws:// URL."""
    from websockets.asyncio.server import serve

    sock = socket.create_server(("127.0.0.1", 0))
    loop = asyncio.new_event_loop()
    ready, stop = threading.Event(), None

    async def echo(connection):
        with contextlib.suppress(Exception):
            async for message in connection:
                await connection.send(message)

    async def main():
        nonlocal stop
        stop = asyncio.Event()
        async with serve(echo, sock=sock, logger=_quiet_logger()):
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def _quiet_logger():
    import logging

    logger = logging.getLogger("tests.websockets-echo")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


@contextlib.contextmanager
def raw_server(handle: Callable[[socket.socket], None]) -> Iterator[str]:
    """A thread-per-connection TCP server calling ``handle(conn)``; yields its ws:// URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stopping = threading.Event()
    workers: list[threading.Thread] = []

    def serve() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=_run, args=(handle, conn), daemon=True)
            worker.start()
            workers.append(worker)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}/websocket-test"
    finally:
        stopping.set()
        thread.join(5)
        listener.close()
        for worker in workers:
            worker.join(5)


def _run(handle: Callable[[socket.socket], None], conn: socket.socket) -> None:
    with conn, contextlib.suppress(OSError):
        conn.settimeout(5)
        handle(conn)


def read_head(conn: socket.socket) -> bytes:
    data = b""
    while head_end(data) < 0 and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def gatewayscript_101(conn: socket.socket) -> None:
    """The IBM API Connect GatewayScript of the seed example: any request gets a 101 with only
    ``Sec-WebSocket-Accept`` (no Upgrade, no Connection, no validation of key or version)."""
    data = read_head(conn)
    key = parse_request(data).get("Sec-WebSocket-Key") or ""
    conn.sendall(f"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: {accept_for(key)}\r\n\r\n".encode())
