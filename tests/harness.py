"""The test harness: servers on threads on pre-bound port-0 sockets, bounded socket reads, target ids.

Servers. Every server a test starts here follows one recipe:

1. bind a loopback listener to port 0 *first* (:func:`bind_loopback`, or
   :meth:`ReferenceServer.bind`) and keep that very socket, so there is no free-port race;
2. hand that socket to a server running on its own thread with its own event loop
   (:func:`serve_in_thread`);
3. hand out the address at once. The kernel queues connections on a listening socket, so a
   client may connect before the server thread has reached ``accept``: nothing waits (let alone
   sleeps) for readiness;
4. when the ``with`` block ends, set the server's ``stop`` event, join the thread (bounded) and
   re-raise whatever the server coroutine raised (a server that failed to start is an error).

:func:`serve_in_thread` is that mechanism for any ``serve(stop)`` coroutine (aiohttp, tornado,
uvicorn, websockets...). :func:`reference_server` runs a :class:`ReferenceServer` on it, and
:func:`connection_server` is a thread-per-connection TCP server for fake gateways written with
blocking sockets: its accept loop runs on the server thread's event loop and each accepted
connection goes to ``handle(conn)`` on a worker thread.

Reads. Every read below has a deadline: :func:`read_until_close`, :func:`read_head` (an HTTP
head, request or response) and :func:`read_frame` never block longer than their ``timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"
#: Bound on starting and stopping a server thread.
THREAD_TIMEOUT = 10.0

Serve = Callable[[asyncio.Event], Awaitable[None]]


# --- servers --------------------------------------------------------------------------------


def bind_loopback(*, backlog: int | None = None) -> socket.socket:
    """A TCP socket listening on 127.0.0.1, port 0 (the kernel picks a free port)."""
    return socket.create_server((LOOPBACK, 0), backlog=backlog)


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """What ``asyncio.run`` does on the way out: cancel leftover tasks, close async generators."""
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())


@contextlib.contextmanager
def serve_in_thread(serve: Serve, *, name: str = "test-server", timeout: float = THREAD_TIMEOUT) -> Iterator[None]:
    """Run ``serve(stop)`` on a fresh event loop in its own thread while the ``with`` block runs.

    ``serve`` must serve on sockets bound beforehand and return once ``stop`` is set. The block
    starts at once (no readiness wait: the bound socket queues connections); on the way out
    ``stop`` is set, the thread joined (bounded by ``timeout``) and an exception raised by
    ``serve`` is raised here.
    """
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()  # bound to ``loop`` on first use (Python >= 3.10)
    failed: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve(stop))
        except BaseException as exc:  # surfaced to the caller on the way out
            failed.append(exc)
        finally:
            try:
                _cancel_leftovers(loop)
            finally:
                loop.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        with contextlib.suppress(RuntimeError):  # the loop already finished (and closed)
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"{name}: the server thread did not stop within {timeout:g} s")
        if failed:
            raise RuntimeError(f"{name} failed: {failed[0]!r}") from failed[0]


@contextlib.contextmanager
def reference_server(config) -> Iterator:
    """A :class:`ReferenceServer` for ``config``, bound now and served by :func:`serve_in_thread`."""
    from pytest_wsgateway.reference_server import ReferenceServer

    server = ReferenceServer(config).bind()
    try:
        with serve_in_thread(lambda stop: server.run(stop=stop), name="reference-server"):
            yield server
    finally:
        server.stop()  # the loop is gone by now: this only closes the listeners


@dataclass(frozen=True)
class ConnectionServer:
    """What :func:`connection_server` yields."""

    address: tuple[str, int]
    #: Stop accepting and close the listener now (new connections are then refused): a crash.
    stop_accepting: Callable[[], None] = lambda: None

    def url(self, scheme: str = "ws", path: str = "/websocket-test") -> str:
        host, port = self.address
        return f"{scheme}://{host}:{port}{path}"


@contextlib.contextmanager
def connection_server(
    handle: Callable[[socket.socket], None], *, backlog: int | None = None, join_timeout: float = 5.0
) -> Iterator[ConnectionServer]:
    """A loopback TCP server calling ``handle(conn)`` on a worker thread per accepted connection.

    ``conn`` is a blocking socket; ``handle`` owns it (closes it, bounds its own reads). The
    accept loop runs on the event loop of a :func:`serve_in_thread` thread. When the ``with``
    block ends the accept loop stops, the listener is closed and every worker is joined
    (``join_timeout`` each): handlers that may run long must watch a stop signal of their own.
    """
    listener = bind_loopback(backlog=backlog)
    listener.setblocking(False)
    workers: list[threading.Thread] = []
    running: dict[str, Callable[[], None]] = {}

    def stop_accepting() -> None:
        if "stop" in running:
            running["stop"]()

    server = ConnectionServer(listener.getsockname()[:2], stop_accepting)

    async def accept_forever() -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(listener)
            conn.setblocking(True)
            worker = threading.Thread(target=handle, args=(conn,), daemon=True)
            worker.start()
            workers.append(worker)

    async def serve(stop: asyncio.Event) -> None:
        acceptor = asyncio.ensure_future(accept_forever())
        waiter = asyncio.ensure_future(stop.wait())
        loop = asyncio.get_running_loop()

        closed = threading.Event()

        def close_listener() -> None:
            listener.close()
            closed.set()

        def crash() -> None:  # on the loop: cancel the accept, then close the listener
            acceptor.cancel()
            loop.call_soon(close_listener)

        def stop_accepting() -> None:  # returns once new connections are refused
            loop.call_soon_threadsafe(crash)
            closed.wait(5)

        running["stop"] = stop_accepting
        try:
            await asyncio.wait({acceptor, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if acceptor.cancelled():  # stop_accepting: keep the workers' connections until the block ends
                await waiter
        finally:
            for task in (acceptor, waiter):
                task.cancel()
            await asyncio.gather(acceptor, waiter, return_exceptions=True)
        if acceptor.done() and not acceptor.cancelled() and acceptor.exception() is not None:
            raise acceptor.exception()

    try:
        with serve_in_thread(serve, name="connection-server"):
            yield server
    finally:
        listener.close()
        for worker in workers:
            worker.join(join_timeout)


# --- bounded reads --------------------------------------------------------------------------


def open_socket(
    address: tuple[str, int],
    *,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    timeout: float = 5.0,
) -> socket.socket:
    """A client connection to ``address`` (TLS when given a context); every operation has ``timeout``."""
    sock = socket.create_connection(address, timeout=timeout)
    sock.settimeout(timeout)
    if ssl_context is not None:
        sock = ssl_context.wrap_socket(sock, server_hostname=server_hostname or address[0])
    return sock


def read_until_close(sock: socket.socket, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Read until EOF; returns (data, closed_by_peer). Bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return data, False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return data, False
        except (ConnectionResetError, ssl.SSLError, OSError):
            return data, True
        if not chunk:
            return data, True
        data += chunk


def read_head(
    sock: socket.socket, timeout: float = 5.0, *, limit: int | None = None, partial: bool = False
) -> tuple[bytes, bytes]:
    """Read an HTTP head (request or response) up to its blank line; returns (head, extra bytes).

    Bounded by ``timeout`` (a deadline for the whole head) and, with ``limit``, by size: reading
    stops once ``limit`` bytes arrived without a complete head. A head that ends early (the peer
    closed, or ``limit``) raises, unless ``partial``: then what arrived is returned as the head.
    Running out of time raises either way (``TimeoutError``, an ``OSError``).
    """
    deadline = time.monotonic() + timeout
    data = b""
    while b"\r\n\r\n" not in data:
        if limit is not None and len(data) >= limit:
            if partial:
                return data, b""
            raise ConnectionError(f"no complete head in the first {limit} bytes")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no complete head; got {data!r}")
        sock.settimeout(remaining)
        chunk = sock.recv(65536 if limit is None else max(1, min(65536, limit - len(data))))
        if not chunk:
            if partial:
                return data, b""
            raise ConnectionError(f"closed before a complete head; got {data!r}")
        data += chunk
    end = data.index(b"\r\n\r\n") + 4
    return data[:end], data[end:]


def read_frame(sock: socket.socket, buffer: bytes = b"", timeout: float = 5.0) -> tuple[int, bytes, bytes]:
    """Read one unmasked server frame (payload < 65536); returns (opcode, payload, rest)."""
    deadline = time.monotonic() + timeout

    def need(n: int) -> None:
        nonlocal buffer
        while len(buffer) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("frame not received")
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed while reading a frame")
            buffer += chunk

    need(2)
    opcode = buffer[0] & 0x0F
    length = buffer[1] & 0x7F
    assert not buffer[1] & 0x80, "server frames must not be masked"
    header = 2
    if length == 126:
        need(4)
        length = int.from_bytes(buffer[2:4], "big")
        header = 4
    need(header + length)
    return opcode, buffer[header : header + length], buffer[header + length :]


# --- ids ------------------------------------------------------------------------------------


def target_id(url: str) -> str:
    """The id the suite gives the target ``url`` (the part after ``@`` in test ids)."""
    from pytest_wsgateway.targets import parse_url

    return parse_url(url).id


# --- hostile input --------------------------------------------------------------------------------

#: A YAML alias bomb: nine nested aliases, about 387 million strings once expanded; ``alias_bomb``
#: puts the last alias under ``key`` of an otherwise valid OpenAPI 2.0 document.
ALIASES = "".join(
    f"{name}: &{name} [{', '.join([prev] * 9)}]\n"
    for name, prev in zip("abcdefgh", ['"x"', "*a", "*b", "*c", "*d", "*e", "*f", "*g"]))


def alias_bomb(tail: str) -> str:
    return 'swagger: "2.0"\n' + ALIASES + tail

