"""The HTTP/2 transport: WebSockets over an extended CONNECT stream (RFC 8441), on the ``h2`` library.

``h2`` is a sans-I/O state machine; this module owns the socket, with a deadline on every read,
like :mod:`pytest_wsgateway.http1` (whose connect, TLS error mapping and after-101 tunnel it
reuses). ``wss://`` is TLS with ALPN ``h2``; ``ws://`` is HTTP/2 with prior knowledge (h2c,
RFC 9113 §3.3). The flow:

1. the connection preface; the server's first SETTINGS frame is recorded in ``Exchange.settings``
   (``h2`` never checks ``SETTINGS_ENABLE_CONNECT_PROTOCOL`` for a client: the checks do);
2. the case's field list (``request``: ``name: value`` lines, see
   :func:`pytest_wsgateway.cases.render_h2_request`) goes out as one HEADERS frame, unvalidated and
   unnormalised (a case may send a malformed request on purpose);
3. the answer: a final HEADERS (``Exchange.response`` reads ``HTTP/2 <status>``; ``response_head``
   the field list as received, names not lowercased), or RST_STREAM (``stream-reset``), GOAWAY
   (``h2``), EOF or the deadline;
4. after a 2xx that leaves the stream open, the case's steps run over the stream's DATA with the
   HTTP/1.1 transport's tunnel (RFC 8441 §5: "the DATA frames ... carry the WebSocket frames").

``h2`` is imported when the first exchange runs, never at plugin start-up.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import socket
import ssl
import time

from .exchange import Exchange, ExchangeError
from .handshake import MalformedMessage, h2_fields, h2_response, render_h2_fields
from .targets import Target

__all__ = ["Http2Transport", "exchange", "ssl_context_for"]

#: At most this many informational responses are kept before the final one.
MAX_INTERIM = 8
#: A response field list larger than this (in rendered bytes) ends the exchange.
MAX_FIELDS_BYTES = 65536

def ssl_context_for(target: Target) -> ssl.SSLContext:
    """A client context offering ``h2`` then ``http/1.1`` in ALPN (RFC 9113 §3.2), as a browser does:
    the server picks, and ``http/1.1`` means RFC 8441 is not offered. Cached like HTTP/1.1's."""
    from .http1 import ssl_context_for as context_for

    return context_for(target, alpn=("h2", "http/1.1"))


class _Closed(Exception):
    """The connection ended (EOF, or a connection error already recorded)."""


class _Stream:
    """One extended CONNECT stream: its record, the DATA not yet handed to its tunnel, how it ended."""

    def __init__(self, stream_id: int, result: Exchange) -> None:
        self.id, self.result = stream_id, result
        self.data = b""
        self.ended = False  # over: END_STREAM, RST_STREAM, GOAWAY or EOF
        self.end_stream = False  # the server ended it cleanly (END_STREAM: RFC 8441 §5, its "TCP FIN")

    def end(self) -> None:
        self.ended = self.end_stream = True
        if self.result.response is not None:  # after the answer, END_STREAM is the peer's close
            self.result.closed_by_peer = self.result.end_stream = True


class _Connection:
    """One HTTP/2 connection: the ``h2`` state machine fed from a socket read against deadlines.

    ``result`` is the connection's record (the first stream's); each stream has its own
    (:class:`_Stream`), the first one sharing it.
    """

    def __init__(self, sock: socket.socket, result: Exchange, timeout: float) -> None:
        import h2.config
        import h2.connection

        self.sock, self.result, self.timeout = sock, result, timeout
        config = h2.config.H2Configuration(client_side=True, header_encoding=None,
                                           validate_outbound_headers=False, normalize_outbound_headers=False,
                                           validate_inbound_headers=False, normalize_inbound_headers=False)
        self.h2 = h2.connection.H2Connection(config=config)
        self.streams: dict[int, _Stream] = {}
        self.events: list = []
        self.terminated = False  # EOF, GOAWAY or a connection error

    def open_stream(self, request: bytes, result: Exchange) -> _Stream:
        """Send ``request`` (field lines) as HEADERS on a new stream (raises OSError)."""
        fields = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in h2_fields(request)]
        stream = _Stream(self.h2.get_next_available_stream_id(), result)
        self.streams[stream.id] = stream
        self.h2.send_headers(stream.id, fields, end_stream=False)
        self.flush()
        return stream

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)

    def _terminate(self) -> None:
        self.terminated = True
        for stream in self.streams.values():
            stream.ended = True

    def read(self, deadline: float) -> None:
        """One read into the state machine (raises TimeoutError, OSError, or :class:`_Closed` at EOF)."""
        import h2.exceptions

        from .http1 import recv_before

        data = recv_before(self.sock, deadline)
        if not data:
            for stream in self.streams.values():
                stream.result.closed_by_peer = True
            self.result.closed_by_peer = True
            self._terminate()
            raise _Closed
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._terminate()
            error = ExchangeError("h2", f"the server broke HTTP/2: {' '.join(str(exc).split()) or type(exc).__name__}")
            for stream in [*self.streams.values()]:
                stream.result.error = stream.result.error or error
            self.result.error = self.result.error or error
            raise _Closed from None
        self._note(events)
        self.flush()

    def _note(self, events: list) -> None:
        import h2.events

        for event in events:
            stream = self.streams.get(getattr(event, "stream_id", None) or 0)
            if isinstance(event, h2.events.RemoteSettingsChanged) and self.result.settings is None:
                self.result.settings = {int(code): change.new_value for code, change in event.changed_settings.items()}
            elif isinstance(event, h2.events.DataReceived) and stream is not None:
                stream.data += event.data
                if event.flow_controlled_length:
                    self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                if event.stream_ended is not None:
                    stream.end()
            elif isinstance(event, h2.events.StreamEnded) and stream is not None:
                stream.end()
            elif isinstance(event, h2.events.StreamReset) and stream is not None:
                stream.ended = True
                stream.result.reset_code = int(event.error_code)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self._terminate()
                for each in self.streams.values():
                    if each.result.reset_code is None:
                        each.result.reset_code = int(event.error_code)
                    if each.result.response is None:
                        each.result.error = each.result.error or ExchangeError(
                            "h2", f"the server ended the connection (GOAWAY, {_code(event.error_code)})")
            self.events.append(event)


def _code(code: int) -> str:
    try:
        from h2.errors import ErrorCodes

        return ErrorCodes(code).name
    except ValueError:
        return f"error code {code:#x}"


class _StreamSocket:
    """A stream's DATA as the byte pipe the HTTP/1.1 tunnel reads and writes (``recv``/``sendall``)."""

    def __init__(self, connection: _Connection, stream: _Stream) -> None:
        self.connection, self.stream = connection, stream
        self.eof = False
        self.sock = self  # the tunnel writes through ``reader.sock``

    def settimeout(self, timeout: float | None) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        connection, stream = self.connection, self.stream
        if stream.ended:
            raise ConnectionResetError("the stream is closed")
        view = memoryview(data)
        while view:
            window = min(connection.h2.local_flow_control_window(stream.id), connection.h2.max_outbound_frame_size)
            if window <= 0:
                raise BrokenPipeError("the server's flow-control window is closed")
            try:
                connection.h2.send_data(stream.id, bytes(view[:window]))
            except Exception as exc:  # h2's ProtocolError family: the stream is closed on its side
                raise BrokenPipeError(f"the stream cannot carry data: {type(exc).__name__}") from None
            view = view[window:]
        connection.flush()

    def recv(self, deadline: float) -> bytes:
        connection, stream = self.connection, self.stream
        while not stream.data and not stream.ended:
            try:
                connection.read(deadline)
            except _Closed:
                break
        data, stream.data = stream.data, b""
        if not data:
            self.eof = True
            if stream.result.reset_code is not None and not stream.end_stream:
                raise ConnectionResetError(f"the server reset the stream ({_code(stream.result.reset_code)})")
        return data


#: The after-101 step that opens a second extended CONNECT on the same connection while the first
#: stream is open, and pings over it (envoy#38645): ``("second-stream", ping payload)``.
SECOND_STREAM = "second-stream"


def exchange(target: Target, request: bytes, *, timeout: float = 5.0, steps: tuple[tuple[str, bytes], ...] = (),
             context: ssl.SSLContext | None = None) -> Exchange:
    """Send the extended CONNECT ``request`` (field lines) to ``target`` over HTTP/2; run ``steps``
    over the stream when it is accepted. ``timeout`` bounds each network step.

    A ``("second-stream", payload)`` step opens a second stream with the same request on the same
    connection (the first one still open) and pings over it; what happened there is
    ``Exchange.second``.
    """
    from . import http1

    sock = http1.connect(target, timeout, (context or ssl_context_for(target)) if target.secure else None)
    result = Exchange(request=request, tls=http1._tls_info(sock), protocol="h2")
    try:
        if target.secure and result.tls is not None and result.tls.alpn != "h2":
            result.error = ExchangeError("not-h2", "HTTP/2 not offered: the server did not select h2 in ALPN "
                                                   f"(selected: {result.tls.alpn or 'none'})")
            return result
        connection = _Connection(sock, result, timeout)
        try:
            stream = _open(connection, request)
        except OSError as exc:
            result.error = result.error or http1._os_error(exc)
            return result
        if stream is not None and result.upgraded:
            for action, payload in steps:
                if action == SECOND_STREAM:
                    _second_stream(connection, request, payload)
            reader = _StreamSocket(connection, stream)
            http1._Tunnel(reader, result, timeout).run(tuple(step for step in steps if step[0] != SECOND_STREAM))
            http1._say_goodbye(reader, result)
        _leave(connection)
        return result
    finally:
        sock.close()


def _open(connection: _Connection, request: bytes) -> _Stream | None:
    """Preface and SETTINGS, then the first stream and its answer (None when it never got sent)."""
    result, timeout = connection.result, connection.timeout
    connection.h2.initiate_connection()
    try:
        connection.flush()
    except OSError as exc:
        result.error = http1_error(exc, "sending the connection preface failed: ")
        return None
    deadline = time.monotonic() + timeout
    try:
        while result.settings is None:
            connection.read(deadline)
    except TimeoutError:
        result.error = ExchangeError("not-h2", f"no HTTP/2 SETTINGS from the server within {timeout:g} s")
        return None
    except _Closed:
        result.error = result.error or ExchangeError("not-h2", "the server closed the connection before its SETTINGS")
        return None
    try:
        stream = connection.open_stream(request, result)
    except OSError as exc:
        result.error = http1_error(exc, "sending the request failed: ")
        return None
    _await_answer(connection, stream)
    return stream


def _await_answer(connection: _Connection, stream: _Stream) -> None:
    """Read until ``stream``'s final response, a reset, the connection's end or the deadline."""
    import h2.events

    result, timeout = stream.result, connection.timeout
    deadline = time.monotonic() + timeout
    seen = 0
    try:
        while True:
            for event in connection.events[seen:]:
                seen += 1
                if getattr(event, "stream_id", None) != stream.id:
                    continue
                if isinstance(event, h2.events.InformationalResponseReceived):
                    if len(result.interim) < MAX_INTERIM:
                        result.interim.append(_rendered(event.headers))
                elif isinstance(event, h2.events.ResponseReceived):
                    _answer(result, event.headers, event.stream_ended is not None)
                    result.early, stream.data = stream.data, b""
                    return
            if stream.ended:
                break
            connection.read(deadline)
    except TimeoutError:
        result.error = ExchangeError("timeout", f"no response to the extended CONNECT within {timeout:g} s")
        return
    except _Closed:
        pass
    if result.reset_code is not None and result.error is None:
        result.error = ExchangeError("stream-reset",
                                     f"the server reset the stream (RST_STREAM, {_code(result.reset_code)})")
    elif result.error is None:
        result.error = ExchangeError("closed", "the target closed the connection without a response")


def _second_stream(connection: _Connection, request: bytes, payload: bytes) -> None:
    """A second extended CONNECT while the first stream is open, and a ping over it (``Exchange.second``)."""
    from . import http1

    second = connection.result.second = Exchange(request=request, tls=connection.result.tls, protocol="h2",
                                                 settings=connection.result.settings)
    try:
        stream = connection.open_stream(request, second)
    except OSError as exc:
        second.error = http1._os_error(exc, "sending the second request failed: ")
        return
    except Exception as exc:  # h2 refuses a new stream (e.g. MAX_CONCURRENT_STREAMS, or after GOAWAY)
        second.error = ExchangeError("h2", f"no second stream: {type(exc).__name__}: {' '.join(str(exc).split())}")
        return
    _await_answer(connection, stream)
    if second.upgraded:
        http1._Tunnel(_StreamSocket(connection, stream), second, connection.timeout).run((("ping", payload),))


def http1_error(exc: OSError, before: str) -> ExchangeError:
    from . import http1

    return http1._os_error(exc, before)


def _rendered(headers) -> bytes:
    return render_h2_fields((name.decode("latin-1"), value.decode("latin-1")) for name, value in headers)


def _answer(result: Exchange, headers, ended: bool) -> None:
    head = _rendered(headers)
    result.response_head = head[:MAX_FIELDS_BYTES]
    result.stream_ended = result.stream_ended or ended
    if len(head) > MAX_FIELDS_BYTES:
        result.error = ExchangeError("oversized", f"the response fields exceed {MAX_FIELDS_BYTES} bytes")
        return
    try:
        result.response = h2_response(h2_fields(head))
    except MalformedMessage as exc:
        result.error = ExchangeError("not-http", f"the HTTP/2 response is malformed: {exc}")


def _leave(connection: _Connection) -> None:
    """End the streams and the connection politely (END_STREAM, GOAWAY), without waiting."""
    try:
        for stream in connection.streams.values():
            if not stream.ended:
                connection.h2.end_stream(stream.id)
        connection.h2.close_connection()
        connection.sock.settimeout(0.5)
        connection.flush()
    except Exception:  # noqa: BLE001 -- best effort on the way out (the state machine or the socket)
        pass


class Http2Transport:
    """WebSockets over HTTP/2 (RFC 8441): the :class:`~pytest_wsgateway.transport.Transport` named ``h2``."""

    name = "h2"

    def exchange(self, target: Target, request: bytes, *, steps: tuple[tuple[str, bytes], ...] = (),
                 timeout: float = 5.0) -> Exchange:
        return exchange(target, request, timeout=timeout, steps=steps)
