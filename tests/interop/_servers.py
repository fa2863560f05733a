"""WebSocket server libraries as suite targets: websockets, aiohttp, tornado, uvicorn (two backends).

Each library serves a minimal echo endpoint at ``/websocket-test`` with its defaults, on a
loopback socket bound to port 0 *before* its thread starts (no free-port race), in a thread with
its own event loop (:func:`tests.harness.serve_in_thread`), and is stopped when the ``with``
block ends. :data:`LIBRARIES` maps the
target id (also the expected-verdicts file name) to a context manager yielding the ws:// URL.

uvicorn is not a framework: requests it does not treat as WebSocket upgrades are handed to the
application as plain HTTP. The minimal ASGI app answers those with what an endpoint that only
speaks WebSocket should say (426 + ``Upgrade: websocket``), so every verdict on it is uvicorn's.
uvicorn's HTTP parser is pinned to ``h11`` (``auto`` would switch to httptools if installed).
:func:`hypercorn_server` serves the same app over HTTP/2 (RFC 8441; tests/interop/test_http2_peers.py
and the matrix's HTTP/2 columns).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import socket
import warnings
from collections.abc import Awaitable, Callable, Iterator

from tests._targets import websockets_echo_server
from tests.harness import bind_loopback, serve_in_thread

HOST = "127.0.0.1"
PATH = "/websocket-test"
START_TIMEOUT = 10.0


def _quiet(*names: str) -> None:
    for name in names:
        logger = logging.getLogger(name)
        logger.setLevel(logging.CRITICAL)
        logger.propagate = False


@contextlib.contextmanager
def _in_thread(serve: Callable[[socket.socket, asyncio.Event], Awaitable[None]]) -> Iterator[str]:
    """Bind a loopback port-0 socket, run ``serve(sock, stop)`` on it with :func:`tests.harness.serve_in_thread`;
    yield the ws:// URL at once."""
    sock = bind_loopback()
    try:
        with serve_in_thread(lambda stop: serve(sock, stop), name="library-server", timeout=START_TIMEOUT):
            yield f"ws://{HOST}:{sock.getsockname()[1]}{PATH}"
    finally:
        sock.close()


@contextlib.contextmanager
def websockets_server() -> Iterator[str]:
    """websockets' default ``serve`` (it answers on any path)."""
    with websockets_echo_server() as url:
        yield url.rstrip("/") + PATH


@contextlib.contextmanager
def aiohttp_server() -> Iterator[str]:
    """aiohttp.web: a GET route whose handler prepares a WebSocketResponse and echoes."""
    from aiohttp import WSMsgType, web

    _quiet("aiohttp.access", "aiohttp.server", "aiohttp.web")

    async def echo(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await ws.send_str(message.data)
            elif message.type == WSMsgType.BINARY:
                await ws.send_bytes(message.data)
        return ws

    async def serve(sock: socket.socket, stop: asyncio.Event) -> None:
        app = web.Application()
        app.router.add_get(PATH, echo)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    with _in_thread(serve) as url:
        yield url


@contextlib.contextmanager
def tornado_server() -> Iterator[str]:
    """tornado.websocket.WebSocketHandler echoing every message."""
    from tornado.httpserver import HTTPServer
    from tornado.web import Application
    from tornado.websocket import WebSocketHandler

    _quiet("tornado.access", "tornado.application", "tornado.general")

    class Echo(WebSocketHandler):
        def on_message(self, message: str | bytes) -> None:
            self.write_message(message, binary=isinstance(message, bytes))

    async def serve(sock: socket.socket, stop: asyncio.Event) -> None:
        server = HTTPServer(Application([(PATH, Echo)]))
        sock.setblocking(False)  # tornado's accept loop expects a non-blocking listener
        server.add_socket(sock)
        try:
            await stop.wait()
        finally:
            server.stop()
            await asyncio.wait_for(server.close_all_connections(), 5)

    with _in_thread(serve) as url:
        yield url


async def asgi_echo(scope: dict, receive: Callable, send: Callable) -> None:
    """A minimal ASGI app: WebSocket connections echo; plain HTTP requests get 426."""
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})
    elif scope["type"] == "http":
        body = b"This endpoint speaks WebSocket only.\n"
        await send({"type": "http.response.start", "status": 426,
                    "headers": [(b"upgrade", b"websocket"), (b"connection", b"Upgrade"),
                                (b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


@contextlib.contextmanager
def uvicorn_server(ws: str) -> Iterator[str]:
    """uvicorn with the ``ws`` backend ("websockets" or "wsproto"), HTTP parser h11, on a pre-bound socket."""
    import uvicorn

    with warnings.catch_warnings():
        # uvicorn deprecates ws="websockets" in favour of "websockets-sansio" (still its default today).
        warnings.simplefilter("ignore")
        importlib.import_module(uvicorn.config.WS_PROTOCOLS[ws].split(":")[0])
    _quiet("uvicorn", "uvicorn.error", "uvicorn.access")
    config = uvicorn.Config(asgi_echo, ws=ws, http="h11", lifespan="off", log_level="critical", access_log=False,
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)

    async def serve(sock: socket.socket, stop: asyncio.Event) -> None:
        async def watch() -> None:
            await stop.wait()
            server.should_exit = True  # uvicorn's main loop sees it and shuts down

        watcher = asyncio.ensure_future(watch())
        try:
            await server.serve(sockets=[sock])
        finally:
            watcher.cancel()

    with _in_thread(serve) as url:
        yield url


#: hypercorn 0.18 creates its idle-timeout coroutine after its task group began shutting down when a
#: client closes a connection: the coroutine is never awaited (hypercorn's, not the suite's). It is
#: silenced here and collected before a server's fixture ends (:func:`_collect_hypercorn_garbage`).
HYPERCORN_IDLE = "coroutine 'TCPServer._idle_timeout' was never awaited"


@contextlib.contextmanager
def hypercorn_server(tls, *, h2c: bool = False, enable_connect: bool = True) -> Iterator[str]:
    """hypercorn with ``asgi_echo`` (``tls``: a :class:`tests.interop._gateways.TlsFiles`): ``wss://`` (TLS, ALPN h2 and http/1.1), or with ``h2c`` a
    plain ``ws://`` listener (HTTP/2 with prior knowledge). ``enable_connect=False`` stops the
    server from advertising SETTINGS_ENABLE_CONNECT_PROTOCOL (a peer that does not offer RFC 8441)."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    for name in ("hypercorn.error", "hypercorn.access"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    sock = bind_loopback()
    port = sock.getsockname()[1]
    config = Config()
    config.loglevel = "CRITICAL"
    config.graceful_timeout = 1.0
    if h2c:
        config.bind = [f"fd://{os.dup(sock.fileno())}"]
    else:
        config.certfile, config.keyfile = tls.cert, tls.key
        config.bind = [f"fd://{os.dup(sock.fileno())}"]
    sock.close()

    async def main(stop: asyncio.Event) -> None:
        await serve(asgi_echo, config, shutdown_trigger=stop.wait, mode="asgi")

    try:
        with _settings_patch(enable_connect), serve_in_thread(main, name="hypercorn"):
            yield f"{'ws' if h2c else 'wss'}://127.0.0.1:{port}/websocket-test"
    finally:
        _collect_hypercorn_garbage()


def _collect_hypercorn_garbage() -> None:
    """Collect hypercorn's never-awaited coroutines now, while their warning is silenced, rather than
    in whichever test the garbage collector happens to run next."""
    import gc

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", HYPERCORN_IDLE, RuntimeWarning)
        gc.collect()


@contextlib.contextmanager
def _settings_patch(enable: bool) -> Iterator[None]:
    """Without ``enable``, hypercorn's HTTP/2 SETTINGS lack ENABLE_CONNECT_PROTOCOL."""
    if enable:
        yield
        return
    import h2.settings
    from hypercorn.protocol import h2 as hypercorn_h2

    original = hypercorn_h2.H2Protocol.__init__

    def patched(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.connection.local_settings = h2.settings.Settings(
            client=False, initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100})

    hypercorn_h2.H2Protocol.__init__ = patched
    try:
        yield
    finally:
        hypercorn_h2.H2Protocol.__init__ = original


LIBRARIES: dict[str, Callable[[], contextlib.AbstractContextManager[str]]] = {
    "websockets": websockets_server,
    "aiohttp": aiohttp_server,
    "tornado": tornado_server,
    "uvicorn-websockets": lambda: uvicorn_server("websockets"),
    "uvicorn-wsproto": lambda: uvicorn_server("wsproto"),
}

TITLES = {
    "websockets": "websockets (asyncio `serve`, defaults)",
    "aiohttp": "aiohttp.web `WebSocketResponse` on a GET route",
    "tornado": "tornado `WebSocketHandler`",
    "uvicorn-websockets": "uvicorn, `ws=\"websockets\"`, `http=\"h11\"`, minimal ASGI echo app",
    "uvicorn-wsproto": "uvicorn, `ws=\"wsproto\"`, `http=\"h11\"`, minimal ASGI echo app",
}


def library_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("websockets", "aiohttp", "tornado", "uvicorn", "wsproto", "h11")}
