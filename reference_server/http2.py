"""Sans-I/O WebSockets over HTTP/2 (RFC 8441) for the reference server: the extended CONNECT
decision and one HTTP/2 connection carrying WebSocket streams.

Bytes in, bytes out, like :mod:`.http`: nothing here touches a socket, a clock or a thread (the
server shell, :mod:`.server`, reads and writes, and passes the ``date``). The ``h2`` library
(python-hyper's sans-I/O HTTP/2 state machine) is imported when a connection is made, never
when this module is imported, so the plugin's start-up does not pay for it.

1. :func:`validate_extended_connect` decides one request's field list (pure, no ``h2``):
   :class:`H2Accept` (``:status 200``, the stream stays open) or :class:`H2Reject` (an error
   response that ends the stream, or ``reset``: a stream error, RST_STREAM). Precedence, first
   match wins:

   * malformed (RFC 9113 §8.1.1: "MUST be treated as a stream error (Section 5.4.2) of type
     PROTOCOL_ERROR") -> RST_STREAM PROTOCOL_ERROR: a field name that is not lowercase or not a
     token (§8.2.1), a pseudo-header field that is unknown, repeated or after a regular field
     (§8.3), a connection-specific field (``connection``, ``upgrade``, ``keep-alive``,
     ``proxy-connection``, ``transfer-encoding``, a ``te`` other than ``trailers``; §8.2.2), no
     ``:method``; a ``:protocol`` on a method other than CONNECT; an extended CONNECT without
     ``:scheme``, ``:path`` (RFC 8441 §4: "MUST also be included") or ``:authority``
     (RFC 9113 §8.5); a CONNECT without ``:protocol`` that has ``:scheme`` or ``:path``, or no
     ``:authority`` (§8.5);
   * a method other than CONNECT -> 405 with ``allow: CONNECT``;
   * a plain CONNECT (no ``:protocol``) -> 501: this server is no proxy;
   * END_STREAM on the request's HEADERS -> 400 (the tunnel would be closed before it opens);
   * a ``:protocol`` other than ``websocket`` -> 501 (RFC 9110 §15.6.2: the server "does not
     support the functionality required");
   * a ``:path`` that is not a declared route -> 404;
   * ``sec-websocket-version`` missing, repeated or not ``13`` -> 400 with
     ``sec-websocket-version: 13`` (RFC 6455 §4.4; not 426, whose ``Upgrade`` field is
     connection-specific and so not allowed in HTTP/2, RFC 9113 §8.2.2);
   * otherwise the subprotocol and permessage-deflate are negotiated exactly as over HTTP/1.1
     (:func:`.http.validate_upgrade`: the client's order wins; a malformed extension offer is
     a 400) and the answer is ``:status 200`` with ``date`` (RFC 9110 §6.6.1: an origin server
     with a clock sends it on a 2xx), and ``sec-websocket-protocol`` /
     ``sec-websocket-extensions`` when negotiated. No ``sec-websocket-accept``: RFC 8441 §5 does
     not use the key.

   Field names are lowercase in every response (RFC 9113 §8.2.1).

2. :class:`H2ServerConnection` is the connection: ``h2`` configured as a server that advertises
   ``SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`` in its first SETTINGS (``local_settings`` replaced
   before ``initiate_connection``: setting it on the default object does not reach that frame),
   with ``h2``'s own header validation off in both directions -- it would turn a malformed
   request into a *connection* error, not the per-stream refusal RFC 9113 §8.1.1 asks for --
   so :func:`validate_extended_connect` does it per stream. Each accepted stream gets its own
   websockets :class:`~websockets.protocol.Protocol` and :class:`.echo.Echo`: DATA in, frames
   echoed back as DATA (within the peer's flow-control window, the rest queued until a
   WINDOW_UPDATE -- at most ``max_pending`` bytes, else the stream is reset); the WebSocket's
   end of the byte stream (websockets' EOF) is END_STREAM (RFC 8441 §5: END_STREAM plays the
   TCP FIN), a peer's END_STREAM is its EOF.

A fault profile (:mod:`.faults`) changes this in one named way through its ``h2_*`` fields
(``h2_advertise``, ``h2_ignores``, ``h2_respond``, ``h2_end_stream``, ``h2_drop_opcodes``)
and its frame seams (``outgoing``), which are the same as over HTTP/1.1.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Collection, Sequence
from typing import Any

from .http import SUPPORTED_VERSION, Reject, _negotiate_permessage_deflate, split_list

__all__ = ["H2Response", "H2Accept", "H2Reject", "validate_extended_connect", "H2ServerConnection",
           "PREFACE", "H2_RULES", "PROTOCOL_ERROR"]

#: The client connection preface (RFC 9113 §3.4); h2c with prior knowledge starts with it.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: RFC 9113 §7 error codes used here.
NO_ERROR, PROTOCOL_ERROR, REFUSED_STREAM, ENHANCE_YOUR_CALM = 0x0, 0x1, 0x7, 0xB
#: Request rules a fault profile may ignore over HTTP/2 (``Fault.h2_ignores``).
H2_RULES = ("protocol", "path", "version")
#: SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3) and SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 §6.5.2).
ENABLE_CONNECT_PROTOCOL, MAX_CONCURRENT_STREAMS = 0x8, 0x3

_PSEUDO = (":method", ":scheme", ":path", ":authority", ":protocol")
_CONNECTION_SPECIFIC = ("connection", "upgrade", "keep-alive", "proxy-connection", "transfer-encoding")
_NAME_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+")
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

Fields = Sequence[tuple[str, str]]


@dataclasses.dataclass(frozen=True)
class H2Response:
    """An HTTP/2 response (field list and body), or a stream error (``reset``: its error code)."""

    status: int = 0
    fields: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    reset: int | None = None

    def header_list(self) -> list[tuple[str, str]]:
        """``:status`` then the fields, as sent."""
        return [(":status", str(self.status)), *self.fields]


@dataclasses.dataclass(frozen=True)
class H2Accept:
    """A valid extended CONNECT: send ``response`` (200, the stream left open), then speak WebSocket."""

    response: H2Response
    subprotocol: str | None = None
    extensions: tuple[Any, ...] = ()


@dataclasses.dataclass(frozen=True)
class H2Reject:
    """An invalid request: send ``response`` and end the stream (or reset it)."""

    detail: str
    response: H2Response


def _malformed(detail: str) -> H2Reject:
    return H2Reject(detail, H2Response(reset=PROTOCOL_ERROR))


def _error(status: int, detail: str, extra: Fields = ()) -> H2Reject:
    body = (detail.rstrip("\n") + "\n").encode("utf-8")
    fields = (*extra, ("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(body))))
    return H2Reject(detail, H2Response(status, tuple(fields), body))


def _structure(fields: Fields) -> str | None:
    """Why the field list is malformed as an HTTP/2 request (RFC 9113 §8.1.1, §8.2, §8.3), or None."""
    seen: set[str] = set()
    regular = False
    for name, value in fields:
        if name.startswith(":"):
            if regular:
                return f"pseudo-header field {name} after a regular field (RFC 9113 §8.3)"
            if name not in _PSEUDO:
                return f"unknown pseudo-header field {name} (RFC 9113 §8.3)"
            if name in seen:
                return f"pseudo-header field {name} twice (RFC 9113 §8.3.1)"
            seen.add(name)
            continue
        regular = True
        if not _NAME_RE.fullmatch(name):
            return "a field name that is not a lowercase token (RFC 9113 §8.2.1)"
        if name in _CONNECTION_SPECIFIC or (name == "te" and value.strip().lower() != "trailers"):
            return f"connection-specific field {name} (RFC 9113 §8.2.2)"
    return None


def validate_extended_connect(
    fields: Fields,
    *,
    route_ok: Callable[[str], bool] | Collection[str],
    subprotocols: Sequence[str] = (),
    permessage_deflate: bool = False,
    ended: bool = False,
    date: str | None = None,
    ignores: Collection[str] = (),
) -> H2Accept | H2Reject:
    """Decide one request (its field list, names as received): :class:`H2Accept` or :class:`H2Reject`.

    ``ended``: the request's HEADERS carried END_STREAM. ``date``: the ``date`` field of a 200
    (the shell's clock). ``ignores``: rules a fault profile does not check (:data:`H2_RULES`).
    """
    problem = _structure(fields)
    if problem is not None:
        return _malformed(problem)
    pseudo = {name: value for name, value in fields if name.startswith(":")}
    method, protocol = pseudo.get(":method"), pseudo.get(":protocol")
    if method is None:
        return _malformed("no :method (RFC 9113 §8.3.1)")
    if protocol is not None and method != "CONNECT":
        return _malformed(":protocol on a request that is not CONNECT (RFC 8441 §4)")
    if protocol is None:
        if method == "CONNECT":
            if ":scheme" in pseudo or ":path" in pseudo or ":authority" not in pseudo:
                return _malformed("a CONNECT has :authority and no :scheme or :path (RFC 9113 §8.5)")
            return _error(501, "This server is no CONNECT proxy; a WebSocket is an extended CONNECT "
                               "with :protocol websocket (RFC 8441).")
        if ":scheme" not in pseudo or ":path" not in pseudo:
            return _malformed("a request without :scheme or :path (RFC 9113 §8.3.1)")
        return _error(405, f"Method {method} not allowed; a WebSocket over HTTP/2 is an extended CONNECT "
                           "(RFC 8441).", (("allow", "CONNECT"),))
    missing = [name for name in (":scheme", ":path", ":authority") if name not in pseudo]
    if "path" in ignores:
        missing = [name for name in missing if name == ":authority"]
    if missing:
        return _malformed(f"an extended CONNECT without {' and '.join(missing)} (RFC 8441 §4, RFC 9113 §8.5)")
    if ended:
        return _error(400, "END_STREAM on an extended CONNECT: the tunnel is closed before it opens.")
    if protocol.lower() != "websocket" and "protocol" not in ignores:
        return _error(501, f"Unsupported :protocol {protocol!r}; this server speaks websocket.")
    path = pseudo.get(":path")
    if path is not None:
        path = path.split("?", 1)[0]
        ok = route_ok(path) if callable(route_ok) else path in route_ok
        if not ok:
            return _error(404, f"No WebSocket route at {path}.")

    regular = [(name, value) for name, value in fields if not name.startswith(":")]

    def get_all(name: str) -> list[str]:
        return [value for key, value in regular if key == name]

    versions = get_all("sec-websocket-version")
    if "version" not in ignores and (len(versions) != 1 or versions[0].strip() != SUPPORTED_VERSION):
        shown = "missing" if not versions else repr(", ".join(versions))
        return _error(400, f"Unsupported sec-websocket-version ({shown}); use 13.",
                      (("sec-websocket-version", SUPPORTED_VERSION),))

    subprotocol: str | None = None
    if subprotocols:
        for offer in split_list(get_all("sec-websocket-protocol")):
            if _TOKEN_RE.fullmatch(offer) and offer in subprotocols:
                subprotocol = offer
                break
    extensions_header: str | None = None
    extensions: tuple[Any, ...] = ()
    offers = get_all("sec-websocket-extensions")
    if permessage_deflate and offers:
        negotiated = _negotiate_permessage_deflate(offers)
        if isinstance(negotiated, Reject):
            return _error(400, negotiated.detail)
        extensions_header, extensions = negotiated

    answer: list[tuple[str, str]] = []
    if date is not None:
        answer.append(("date", date))
    if subprotocol is not None:
        answer.append(("sec-websocket-protocol", subprotocol))
    if extensions_header is not None:
        answer.append(("sec-websocket-extensions", extensions_header))
    return H2Accept(H2Response(200, tuple(answer)), subprotocol, extensions)


# ---------------------------------------------------------------------------
# The connection
# ---------------------------------------------------------------------------


class _Tunnel:
    """One accepted stream: its WebSocket protocol, its echo, the bytes waiting for flow control."""

    def __init__(self, protocol: Any, echo: Any) -> None:
        self.protocol, self.echo = protocol, echo
        self.pending = b""
        self.eof = False  # the WebSocket ended its side: END_STREAM once ``pending`` is out
        self.ended = False  # END_STREAM sent (or the stream reset)


class H2ServerConnection:
    """One HTTP/2 connection of the reference server (sans-I/O): feed it bytes with
    :meth:`receive_data`, write what :meth:`data_to_send` returns.

    ``route_ok``, ``subprotocols``, ``permessage_deflate``, ``max_message_size`` as in
    :class:`.server.ServerConfig`; ``fault`` a :class:`.faults.Fault` (its ``h2_*`` fields);
    ``clock()`` the ``date`` of a 200 (an IMF-fixdate string), or None for no date;
    ``on_handshake()`` is called for each request with ``:protocol``, ``on_websocket()`` for each stream
    that becomes a WebSocket.
    """

    def __init__(
        self,
        *,
        route_ok: Callable[[str], bool] | Collection[str],
        fault: Any,
        subprotocols: Sequence[str] = (),
        permessage_deflate: bool = False,
        max_message_size: int = 1 << 20,
        max_streams: int = 100,
        clock: Callable[[], str] | None = None,
        logger: logging.Logger | None = None,
        on_websocket: Callable[[], None] | None = None,
        on_handshake: Callable[[], None] | None = None,
    ) -> None:
        import h2.config
        import h2.connection
        import h2.settings

        self.route_ok, self.fault, self.subprotocols = route_ok, fault, tuple(subprotocols)
        self.permessage_deflate, self.max_message_size = permessage_deflate, max_message_size
        #: Echoed bytes a stream may hold while the peer's flow-control window is closed (then the
        #: stream is reset with ENHANCE_YOUR_CALM): memory stays bounded.
        self.max_pending = 4 * max_message_size + 65536
        self.clock, self.logger = clock, logger or logging.getLogger("pytest_wsgateway.reference_server.http2")
        self.on_websocket, self.on_handshake = on_websocket, on_handshake
        config = h2.config.H2Configuration(
            client_side=False, header_encoding=None,
            validate_inbound_headers=False, normalize_inbound_headers=False,
            validate_outbound_headers=False, normalize_outbound_headers=False,
        )
        self.h2 = h2.connection.H2Connection(config=config)
        initial = {MAX_CONCURRENT_STREAMS: max_streams}
        if fault.h2_advertise:
            initial[ENABLE_CONNECT_PROTOCOL] = 1
        self.h2.local_settings = h2.settings.Settings(client=False, initial_values=initial)
        self.h2.initiate_connection()
        self.tunnels: dict[int, _Tunnel] = {}
        #: The connection is over (the peer's GOAWAY, a connection error, EOF): close the socket
        #: once :meth:`data_to_send` is written.
        self.closed = False

    # -- bytes in, bytes out ----------------------------------------------------------------

    def data_to_send(self) -> bytes:
        return self.h2.data_to_send()

    def receive_data(self, data: bytes) -> None:
        import h2.exceptions

        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:  # h2 has queued a GOAWAY (PROTOCOL_ERROR etc.)
            self.logger.debug("HTTP/2 connection error: %s", exc)
            self.closed = True
            return
        for event in events:
            self._event(event)

    def receive_eof(self) -> None:
        """The peer closed the connection: every WebSocket sees its EOF."""
        for tunnel in self.tunnels.values():
            tunnel.protocol.receive_eof()
        self.tunnels.clear()
        self.closed = True

    def shutdown(self, reason: str) -> None:
        """Going away (idle, server stopping): close each open WebSocket with 1001, then GOAWAY."""
        from websockets.frames import CloseCode
        from websockets.protocol import State

        for stream_id, tunnel in list(self.tunnels.items()):
            if tunnel.protocol.state is State.OPEN:
                tunnel.protocol.send_close(CloseCode.GOING_AWAY, reason)
                self._pump(stream_id)
        try:
            self.h2.close_connection()
        except Exception:  # noqa: BLE001 -- already closed on h2's side
            pass
        self.closed = True

    @property
    def closing(self) -> bool:
        """Every WebSocket on the connection is in its closing handshake (or there is none open)."""
        return bool(self.tunnels) and all(t.protocol.close_expected() for t in self.tunnels.values())

    # -- events ----------------------------------------------------------------------------

    def _event(self, event: Any) -> None:
        import h2.events

        if isinstance(event, h2.events.RequestReceived):
            self._request(event.stream_id, event.headers, event.stream_ended is not None)
        elif isinstance(event, h2.events.DataReceived):
            if event.flow_controlled_length:
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            tunnel = self.tunnels.get(event.stream_id)
            if tunnel is not None:
                tunnel.protocol.receive_data(event.data)
                tunnel.echo.process(tunnel.protocol.events_received())
                self._pump(event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):  # (also after a DataReceived with END_STREAM)
            tunnel = self.tunnels.get(event.stream_id)
            if tunnel is not None:  # the peer's END_STREAM is the WebSocket's EOF
                tunnel.protocol.receive_eof()
                tunnel.echo.process(tunnel.protocol.events_received())
                self._pump(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            self.tunnels.pop(event.stream_id, None)
        elif isinstance(event, h2.events.WindowUpdated):
            for stream_id in [event.stream_id] if event.stream_id else list(self.tunnels):
                self._pump(stream_id)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.tunnels.clear()
            self.closed = True

    def _request(self, stream_id: int, headers: Any, ended: bool) -> None:
        fields = [(_text(name), _text(value)) for name, value in headers]
        if self.on_handshake is not None and any(name == ":protocol" for name, _ in fields):
            self.on_handshake()
        fault = self.fault
        decision = validate_extended_connect(
            fields, route_ok=self.route_ok, subprotocols=self.subprotocols,
            permessage_deflate=self.permessage_deflate, ended=ended,
            date=self.clock() if self.clock is not None else None, ignores=fault.h2_ignores,
        )
        response = fault.h2_response(decision.response)
        if response.reset is not None:
            self.h2.reset_stream(stream_id, response.reset)
            return
        header_list = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.header_list()]
        if isinstance(decision, H2Reject):
            self.h2.send_headers(stream_id, header_list, end_stream=not response.body)
            if response.body:
                self.h2.send_data(stream_id, response.body, end_stream=True)
            return
        informational = 100 <= response.status < 200
        end_stream = fault.h2_end_stream and not informational
        self.h2.send_headers(stream_id, header_list, end_stream=end_stream)
        if end_stream:
            return
        self.tunnels[stream_id] = self._tunnel(decision)
        if self.on_websocket is not None:
            self.on_websocket()

    def _tunnel(self, accept: H2Accept) -> _Tunnel:
        from websockets.protocol import Protocol, Side, State

        from .echo import Echo

        protocol = Protocol(Side.SERVER, state=State.OPEN, max_size=self.max_message_size,
                            logger=logging.getLogger("pytest_wsgateway.reference_server.websocket"))
        protocol.extensions = list(accept.extensions)
        protocol.subprotocol = accept.subprotocol
        return _Tunnel(protocol, Echo(protocol, self.fault))

    def _pump(self, stream_id: int) -> None:
        """Move the WebSocket's outgoing frames onto the stream, as far as flow control allows."""
        tunnel = self.tunnels.get(stream_id)
        if tunnel is None:
            return
        fault = self.fault
        for chunk in fault.h2_outgoing(fault.outgoing(tunnel.protocol.data_to_send())):
            if chunk:
                tunnel.pending += chunk
            else:  # websockets' SEND_EOF: the WebSocket is done with the byte stream
                tunnel.eof = True
        if len(tunnel.pending) > self.max_pending:  # a peer that sends but never opens its window
            self.logger.debug("stream %d: %d bytes wait for the peer's window; reset", stream_id, len(tunnel.pending))
            self.tunnels.pop(stream_id, None)
            self.h2.reset_stream(stream_id, ENHANCE_YOUR_CALM)
            return
        try:
            while tunnel.pending:
                window = min(self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size)
                if window <= 0:
                    return  # the rest goes on the peer's WINDOW_UPDATE
                chunk, tunnel.pending = tunnel.pending[:window], tunnel.pending[window:]
                self.h2.send_data(stream_id, chunk)
            if tunnel.eof and not tunnel.ended:
                tunnel.ended = True
                self.h2.end_stream(stream_id)
        except Exception as exc:  # noqa: BLE001 -- h2's StreamClosedError & co.: the peer reset or ended it
            self.logger.debug("stream %d cannot carry data: %r", stream_id, exc)
            self.tunnels.pop(stream_id, None)
            return
        if tunnel.ended:
            self.tunnels.pop(stream_id, None)


def _text(value: bytes | str) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value

