"""The reference server: a thin asyncio shell around the sans-I/O decisions.

* The request head is read with a bounded reader; ``open_timeout`` covers the
  TLS handshake and receiving the complete head (on expiry: 408, then close).
* :func:`.http.parse_request_head` + :func:`.http.validate_upgrade` decide;
  a rejection is written and the connection closed.
* After the 101, framing is websockets' sans-I/O :class:`websockets.protocol.Protocol`
  constructed with ``Side.SERVER`` in state ``OPEN`` (the handshake was done
  here, so websockets' own handshake code is never used). Bytes that arrived
  with the request head are fed to it first. Text and binary messages are
  echoed (fragmented messages are reassembled and echoed whole), pings are
  answered by websockets, the closing handshake is completed and TCP closed.
* Limits: ``max_connections`` (503 for the rest), ``max_message_size``
  (close 1009), ``idle_timeout`` on open connections (close 1001), every write
  has a ``close_timeout`` deadline. An exception in one connection is logged
  and that connection closed.
* ``ServerConfig.fault`` (:mod:`.faults`) makes the server wrong in one named
  way for testing the suite: a relaxed parse/validate, a rewritten response,
  a delayed 101, a close right after it, or dropped outgoing frames. The server
  always goes through the profile's seams; without a fault the profile is
  :data:`.faults.STRICT`, whose seams are the strict path above, unchanged.

Listeners: ``ServerConfig.schemes`` (or, when None, the API definition's
``ws``/``wss`` schemes) decides which listeners run. With one scheme it binds
``port``; with both, ``wss`` binds ``port`` and ``ws`` binds ``plain_port``.
A plain ``ws://`` listener for local testing: ``ServerConfig(schemes=("ws",))``.

TLS: ``ssl_context`` is required for ``wss``. The context is set to TLS >= 1.2 and
ALPN ``["h2", "http/1.1"]`` (``ServerConfig.http2``, the default) or ``["http/1.1"]``
(the given context object is modified in place: Python cannot read back a
context's ALPN list, so it is always set).

HTTP/2 (RFC 8441, WebSockets over an extended CONNECT stream): a TLS connection
whose ALPN selected ``h2``, or (``ServerConfig.h2c``) a ``ws://`` connection that
starts with the HTTP/2 preface (prior knowledge, RFC 9113 §3.3), is handed to
:class:`.http2.H2ServerConnection` (sans-I/O; ``h2`` is imported then, not
before); this shell only moves its bytes, with the same idle and write deadlines.
A client that selects ``http/1.1`` (or offers no ALPN) gets the HTTP/1.1 server
above, unchanged.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import email.utils
import logging
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from typing import Any

from websockets.frames import CloseCode
from websockets.protocol import SEND_EOF, Protocol, Side, State

from .api import WEBSOCKET_SCHEMES, ApiDefinition, default_api
from .certs import harden_server_context
from .echo import Echo as _Echo
from .faults import Fault, resolve as resolve_fault
from .http import (
    Accept,
    HttpError,
    HttpResponse,
    Request,
    check_incomplete_head,
    error_response,
    find_head_end,
)

__all__ = ["ServerConfig", "ReferenceServer", "serve"]

logger = logging.getLogger("pytest_wsgateway.reference_server")

_READ_SIZE = 65536
#: What the HTTP/1.1 head reader finds when an h2c client starts with the preface (RFC 9113 §3.4).
H2_PREFACE_HEAD = b"PRI * HTTP/2.0\r\n\r\n"


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 0
    #: ws:// port when both ws and wss listeners run (``port`` is then wss).
    plain_port: int = 0
    api: ApiDefinition = dataclasses.field(default_factory=default_api)
    #: None = the API's ws/wss schemes; ("ws", "wss") forces both.
    schemes: tuple[str, ...] | None = None
    ssl_context: ssl.SSLContext | None = None
    subprotocols: tuple[str, ...] = ()
    permessage_deflate: bool = False
    open_timeout: float = 10.0
    close_timeout: float = 5.0
    #: An open WebSocket with no incoming data for this long is closed (1001).
    idle_timeout: float = 300.0
    max_line: int = 8192
    max_headers: int = 128
    max_connections: int = 1024
    #: Larger messages are refused with 1009 (Message Too Big). 16 MiB: the top of the suite's size
    #: ladder, so the embedded server and the gateways' backend carry every rung.
    max_message_size: int = 16 << 20
    #: The wss listener offers ALPN ``h2`` (then ``http/1.1``) and speaks RFC 8441 over it.
    http2: bool = True
    #: The ws listener also speaks HTTP/2 with prior knowledge (h2c, RFC 9113 §3.3): a connection
    #: that starts with the HTTP/2 connection preface.
    h2c: bool = False
    #: A fault profile (a name from :mod:`.faults` or a :class:`~.faults.Fault`): the server
    #: made wrong in one named way, for testing the suite. None = correct (:data:`.faults.STRICT`).
    #: A ``Fault`` with only ``respond`` set rewrites every handshake response (the 101 or an
    #: error) before it is written, and changes nothing else.
    fault: str | Fault | None = None

    def listener_schemes(self) -> tuple[str, ...]:
        """The schemes to serve, validated (wss first when both run)."""
        schemes = self.schemes if self.schemes is not None else self.api.websocket_schemes
        schemes = tuple(dict.fromkeys(scheme.lower() for scheme in schemes))
        if not schemes:
            raise ValueError("no scheme to serve: need ws and/or wss")
        for scheme in schemes:
            if scheme not in WEBSOCKET_SCHEMES:
                raise ValueError(f"unknown scheme {scheme!r}; expected ws or wss")
        if "wss" in schemes and self.ssl_context is None:
            raise ValueError(
                "serving wss:// needs ssl_context (see reference_server.certs), "
                "or serve plain ws:// with schemes=('ws',)"
            )
        return tuple(sorted(schemes, key=lambda s: s != "wss"))

    def port_for(self, scheme: str, schemes: tuple[str, ...]) -> int:
        if len(schemes) > 1 and scheme == "ws":
            return self.plain_port
        return self.port


def _format_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _bind(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    last_error: OSError | None = None
    for family, _type, _proto, _canon, sockaddr in infos:
        try:
            sock = socket.create_server(sockaddr[:2], family=family, backlog=512)
        except OSError as exc:
            last_error = exc
            continue
        sock.setblocking(False)
        return sock
    raise OSError(f"cannot bind {host}:{port}: {last_error}")


class ReferenceServer:
    """A correct RFC 6455 echo server on its own thread and event loop.

    ``start()`` binds every listener synchronously (port 0 picks a free port,
    and the bound socket itself is served: no free-port race), starts one
    background thread, and returns once it is serving. ``stop()`` is bounded.
    """

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config if config is not None else ServerConfig()
        self._schemes = self.config.listener_schemes()
        self._fault = resolve_fault(self.config.fault)
        if "wss" in self._schemes:
            assert self.config.ssl_context is not None
            alpn = ("h2", "http/1.1") if self.config.http2 else ("http/1.1",)
            harden_server_context(self.config.ssl_context, alpn)
        self._sockets: dict[str, socket.socket] = {}
        self._addresses: dict[str, tuple[str, int]] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._active = 0
        #: WebSocket opening handshakes received so far, by protocol: ``"http/1.1"`` (a request head
        #: with an ``Upgrade`` field) and ``"h2"`` (a request with ``:protocol``): which one a client
        #: (e.g. Chromium) used, whatever the answer.
        self.handshakes: collections.Counter[str] = collections.Counter()
        #: WebSockets accepted so far, by protocol: ``"http/1.1"`` (a 101) and ``"h2"`` (an extended
        #: CONNECT answered 200 with the stream left open).
        self.websockets: collections.Counter[str] = collections.Counter()

    # -- addresses --------------------------------------------------------

    @property
    def schemes(self) -> tuple[str, ...]:
        return self._schemes

    @property
    def routes(self) -> tuple[str, ...]:
        return self.config.api.routes

    def address(self, scheme: str) -> tuple[str, int]:
        """(host, port) of the ``scheme`` listener (after start/bind)."""
        try:
            return self._addresses[scheme]
        except KeyError:
            raise KeyError(f"no {scheme} listener (serving {self._schemes})") from None

    @property
    def urls(self) -> dict[str, str]:
        """scheme -> URL of the first declared route, e.g. ``wss://127.0.0.1:40123/websocket-test``."""
        route = self.routes[0]
        return {
            scheme: f"{scheme}://{_format_host(host)}:{port}{route}"
            for scheme, (host, port) in self._addresses.items()
        }

    @property
    def url(self) -> str:
        """URL of the first listener (wss if served)."""
        return self.urls[self._schemes[0]]

    # -- lifecycle --------------------------------------------------------

    def bind(self) -> ReferenceServer:
        """Bind every listener socket now (idempotent)."""
        if self._sockets:
            return self
        try:
            for scheme in self._schemes:
                sock = _bind(self.config.host, self.config.port_for(scheme, self._schemes))
                self._sockets[scheme] = sock
                port = sock.getsockname()[1]
                self._addresses[scheme] = (self.config.host, port)
        except BaseException:
            self._close_sockets()
            raise
        return self

    def _close_sockets(self) -> None:
        for sock in self._sockets.values():
            try:
                sock.close()
            except OSError:
                pass

    def start(self, timeout: float = 30.0) -> ReferenceServer:
        """Bind, start the serving thread, return when serving."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        self.bind()
        self._ready.clear()
        self._thread = threading.Thread(
            target=self._thread_main, name="wsgateway-reference-server", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError("reference server did not start in time")
        if self._start_error is not None:
            error = self._start_error
            self.stop()
            raise RuntimeError(f"reference server failed to start: {error}") from error
        return self

    def _thread_main(self) -> None:
        try:
            asyncio.run(self.run())
        except BaseException as exc:  # pragma: no cover - logged, surfaced by start()
            self._start_error = self._start_error or exc
            logger.exception("reference server thread crashed")
        finally:
            self._ready.set()

    def stop(self, timeout: float | None = None) -> None:
        """Close listeners and connections, stop the loop, join the thread (bounded)."""
        timeout = timeout if timeout is not None else self.config.close_timeout + 5.0
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("reference server thread did not stop within %.1fs", timeout)
            self._thread = None
        self._close_sockets()

    def __enter__(self) -> ReferenceServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- serving (on the server's loop) ------------------------------------

    async def run(
        self,
        stop: asyncio.Event | None = None,
        ready: Callable[[ReferenceServer], None] | None = None,
    ) -> None:
        """Serve on the running loop until ``stop`` is set (or ``self.stop()``)."""
        self.bind()
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_quiet_exception_handler)
        self._loop = loop
        self._stop_event = stop if stop is not None else asyncio.Event()
        servers: list[asyncio.base_events.Server] = []
        try:
            try:
                for scheme, sock in self._sockets.items():
                    ssl_ctx = self.config.ssl_context if scheme == "wss" else None
                    kwargs: dict[str, Any] = {}
                    if ssl_ctx is not None:
                        kwargs["ssl_handshake_timeout"] = self.config.open_timeout
                    server = await asyncio.start_server(
                        self._client_connected,
                        sock=sock,
                        ssl=ssl_ctx,
                        limit=_READ_SIZE,
                        **kwargs,
                    )
                    servers.append(server)
            except BaseException as exc:
                self._start_error = exc
                raise
            finally:
                self._ready.set()
            if ready is not None:
                ready(self)
            await self._stop_event.wait()
        finally:
            for server in servers:
                server.close()
            tasks = [task for task in self._tasks if not task.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=self.config.close_timeout)
            for server in servers:
                try:
                    await asyncio.wait_for(server.wait_closed(), self.config.close_timeout)
                except (asyncio.TimeoutError, Exception):
                    pass

    async def _client_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        _set_nodelay(writer)
        counted = False
        try:
            if self._active >= self.config.max_connections:
                response = error_response(
                    503, "Too many connections; try again later.", (("Retry-After", "1"),)
                )
                await self._send_and_close(reader, writer, None, response)
                return
            self._active += 1
            counted = True
            await self._handle(reader, writer)
            writer.close()  # graceful: flushes what is buffered, then closes
        except asyncio.CancelledError:
            pass
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
            logger.debug("connection dropped: %r", exc)
        except Exception:
            logger.exception("connection failed")
        finally:
            if counted:
                self._active -= 1
            if not writer.is_closing():
                writer.transport.abort()
            if task is not None:
                self._tasks.discard(task)

    async def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        await asyncio.wait_for(writer.drain(), self.config.close_timeout)

    async def _send_and_close(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: Request | None,
        response: HttpResponse,
    ) -> None:
        """Send an error response, then close without resetting the connection."""
        response = self._fault.response(request, response)
        try:
            await self._write(writer, response.serialize())
            if writer.can_write_eof():
                # Half-close, then drain what the client still sends, so that
                # closing does not turn into a reset that eats the response.
                writer.write_eof()
                await self._discard_until_eof(reader, min(self.config.close_timeout, 2.0))
        except (OSError, asyncio.TimeoutError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _discard_until_eof(self, reader: asyncio.StreamReader, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                chunk = await asyncio.wait_for(reader.read(_READ_SIZE), remaining)
            except (asyncio.TimeoutError, OSError, ssl.SSLError):
                return
            if not chunk:
                return

    async def _read_head(
        self, reader: asyncio.StreamReader
    ) -> tuple[bytes, bytes] | HttpResponse | None:
        """(head, leftover) or an error response to send, or None if the client left."""
        config = self.config
        loop = asyncio.get_running_loop()
        deadline = loop.time() + config.open_timeout
        buffer = bytearray()
        while True:
            end = find_head_end(buffer)
            if end is not None:
                return bytes(buffer[:end]), bytes(buffer[end:])
            error = check_incomplete_head(
                buffer, max_line=config.max_line, max_headers=config.max_headers
            )
            if error is not None:
                return error.response
            remaining = deadline - loop.time()
            if remaining <= 0:
                return error_response(408, "Request head not received in time.")
            try:
                chunk = await asyncio.wait_for(reader.read(_READ_SIZE), remaining)
            except asyncio.TimeoutError:
                return error_response(408, "Request head not received in time.")
            except (OSError, ssl.SSLError):
                return None
            if not chunk:
                return None
            buffer += chunk

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        config = self.config
        tls = writer.get_extra_info("ssl_object")
        if tls is not None and tls.selected_alpn_protocol() == "h2":
            await self._h2_session(reader, writer, b"")
            return
        received = await self._read_head(reader)
        if received is None:
            return
        if isinstance(received, HttpResponse):
            await self._send_and_close(reader, writer, None, received)
            return
        head, leftover = received
        if config.h2c and tls is None and head == H2_PREFACE_HEAD:
            await self._h2_session(reader, writer, head + leftover)
            return
        fault = self._fault
        parsed = fault.parse(head, max_line=config.max_line, max_headers=config.max_headers)
        if isinstance(parsed, HttpError):
            await self._send_and_close(reader, writer, None, parsed.response)
            return
        if parsed.get("Upgrade") is not None:
            self.handshakes["http/1.1"] += 1
        decision = fault.validate(
            parsed,
            route_ok=config.api.matches,
            subprotocols=config.subprotocols,
            permessage_deflate=config.permessage_deflate and not fault.no_extensions,
        )
        if not isinstance(decision, Accept):
            await self._send_and_close(reader, writer, parsed, decision.response)
            return
        response = fault.response(parsed, decision.response)
        if fault.delay_101:
            await asyncio.sleep(fault.delay_101)
        await self._write(writer, response.serialize())
        self.websockets["http/1.1"] += 1
        if fault.close_after_101:
            return
        await self._websocket(reader, writer, decision, leftover)

    def _count_h2(self) -> None:
        self.websockets["h2"] += 1

    def _count_h2_handshake(self) -> None:
        self.handshakes["h2"] += 1

    async def _h2_session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: bytes) -> None:
        """HTTP/2 on this connection: :class:`.http2.H2ServerConnection` decides, this loop moves bytes."""
        from .http2 import PREFACE, H2ServerConnection

        config = self.config
        connection = H2ServerConnection(
            route_ok=config.api.matches, fault=self._fault, subprotocols=config.subprotocols,
            permessage_deflate=config.permessage_deflate and not self._fault.no_extensions,
            max_message_size=config.max_message_size, clock=lambda: email.utils.formatdate(usegmt=True), on_websocket=self._count_h2,
            on_handshake=self._count_h2_handshake,
            logger=logging.getLogger("pytest_wsgateway.reference_server.http2"),
        )
        if received and not PREFACE.startswith(received[: len(PREFACE)]):
            return  # "PRI * HTTP/2.0" then not the rest of the preface: not HTTP/2 after all
        try:
            if received:
                connection.receive_data(received)
            await self._write(writer, connection.data_to_send())
            while not connection.closed:
                closing = connection.closing
                try:
                    data = await asyncio.wait_for(
                        reader.read(_READ_SIZE), config.close_timeout if closing else config.idle_timeout)
                except asyncio.TimeoutError:
                    if closing:
                        return  # the peers did not finish closing: just close TCP
                    connection.shutdown("idle timeout")
                    break
                except (OSError, ssl.SSLError):
                    return
                if not data:
                    connection.receive_eof()
                    break
                connection.receive_data(data)
                outgoing = connection.data_to_send()
                if outgoing:
                    await self._write(writer, outgoing)
            outgoing = connection.data_to_send()
            if outgoing:
                await self._write(writer, outgoing)
        except asyncio.CancelledError:
            connection.shutdown("server shutting down")  # 1001 on every open WebSocket, then GOAWAY
            outgoing = connection.data_to_send()
            if outgoing:
                writer.write(outgoing)
            writer.close()
            raise

    async def _websocket(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        accept: Accept,
        leftover: bytes,
    ) -> None:
        config = self.config
        protocol = Protocol(
            Side.SERVER,
            state=State.OPEN,
            max_size=config.max_message_size,
            logger=logging.getLogger("pytest_wsgateway.reference_server.websocket"),
        )
        protocol.extensions = [self._fault.extension(extension) for extension in accept.extensions]
        protocol.subprotocol = accept.subprotocol
        echo = _Echo(protocol, self._fault)
        if self._fault.reset_under_backpressure:  # the fixed 64 KiB buffer of the faulty relay
            sock = writer.get_extra_info("socket")
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
            except (AttributeError, OSError):
                pass

        try:
            await self._websocket_loop(reader, writer, protocol, echo, leftover)
        except asyncio.CancelledError:
            # Server shutting down: say so (1001) before the connection goes.
            if protocol.state is State.OPEN:
                protocol.send_close(CloseCode.GOING_AWAY, "server shutting down")
                for chunk in protocol.data_to_send():
                    if chunk:
                        writer.write(chunk)
                writer.close()
            raise

    async def _websocket_loop(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        protocol: Protocol,
        echo: _Echo,
        leftover: bytes,
    ) -> None:
        config = self.config
        if leftover:
            protocol.receive_data(leftover)
            echo.process(protocol.events_received())
            if await self._flush(writer, protocol):
                return

        while protocol.state is not State.CLOSED:
            closing = protocol.close_expected()
            timeout = config.close_timeout if closing else self._fault.idle_limit(config.idle_timeout)
            try:
                data = await asyncio.wait_for(reader.read(_READ_SIZE), timeout)
            except asyncio.TimeoutError:
                if closing or self._fault.idle_cut:
                    return  # the peer did not finish closing, or (cuts-idle) quiet too long: just close TCP
                protocol.send_close(CloseCode.GOING_AWAY, "idle timeout")
                if await self._flush(writer, protocol):
                    return
                continue
            except (OSError, ssl.SSLError):
                return
            if data:
                protocol.receive_data(data)
                echo.process(protocol.events_received())
                if self._fault.reset_on_half_close and protocol.close_rcvd is not None and not echo.replied:
                    echo.replied = True  # resets-on-half-close: the reply waits a relay's round trip...
                    try:
                        more = await asyncio.wait_for(reader.read(_READ_SIZE), self._fault.reset_on_half_close)
                    except asyncio.TimeoutError:
                        more = None
                    if more == b"":  # ... and a FIN meanwhile ends both directions, abruptly
                        _reset(writer)
                        return
            else:
                protocol.receive_eof()
            if await self._flush(writer, protocol) or not data:
                return

    async def _flush(self, writer: asyncio.StreamWriter, protocol: Protocol) -> bool:
        """Write pending frames. True when the connection should now be closed."""
        done = False
        for chunk in self._fault.outgoing(protocol.data_to_send()):
            if chunk is SEND_EOF or chunk == b"":
                if writer.can_write_eof():
                    writer.write_eof()
                else:
                    done = True  # TLS: no half-close; close once drained
            else:
                writer.write(chunk)
        cap = self._fault.reset_under_backpressure
        if cap:  # resets-under-backpressure: no waiting for a slow reader, and a reset when the buffer is full
            if writer.transport.get_write_buffer_size() > cap:
                _reset(writer)
                return True
            return done
        await asyncio.wait_for(writer.drain(), self.config.close_timeout)
        return done


def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0), dropping what is unsent (fault profiles)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


def _set_nodelay(writer: asyncio.StreamWriter) -> None:
    """Disable Nagle on an accepted connection.

    asyncio only does this itself for sockets whose ``proto`` is IPPROTO_TCP, and sockets from
    ``socket.create_server`` have proto 0. Without it the TLS close_notify that follows a Close
    frame waits for the peer's delayed ACK (~40 ms per wss closing handshake).
    """
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


def _quiet_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    exc = context.get("exception")
    if isinstance(exc, (ConnectionError, ssl.SSLError, asyncio.TimeoutError, TimeoutError)):
        logger.debug("connection error: %s", context.get("message"), exc_info=exc)
        return
    loop.default_exception_handler(context)


async def serve(
    config: ServerConfig,
    *,
    stop: asyncio.Event | None = None,
    ready: Callable[[ReferenceServer], None] | None = None,
) -> None:
    """Serve ``config`` on the running loop until ``stop`` is set.

    ``ready(server)`` is called once every listener is serving (``server.urls``
    is then complete). Used by the CLI on the main thread.
    """
    server = ReferenceServer(config)
    try:
        await server.run(stop=stop, ready=ready)
    finally:
        server._close_sockets()
