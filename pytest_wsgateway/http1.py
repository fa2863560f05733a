"""The HTTP/1.1 transport (RFC 6455 §4 over TCP, TLS for ``wss``): the only code that opens sockets.

Connect (TCP, TLS with SNI and ALPN ``http/1.1``), send the request, read the response head,
then run the case's after-101 steps. Every read runs against a deadline, so a target that never
answers, trickles bytes or sends an endless head ends the exchange within ``timeout`` seconds per
step. Trouble reaching the target (DNS, TCP connect, TLS handshake) raises
:class:`~pytest_wsgateway.exchange.ConnectError` with one readable line; trouble after the
request is sent is recorded in the :class:`~pytest_wsgateway.exchange.Exchange` (a typed
:class:`~pytest_wsgateway.exchange.ExchangeError`) for the checks to judge, because "the gateway
reset the connection" is a legitimate answer to a malformed request.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import itertools
import os
import select
import socket
import ssl
import time

from . import frames as wsframes
from .exchange import LIMIT_CODES, ConnectError, Exchange, ExchangeError, SizedEcho, TlsInfo
from .handshake import MAX_HEAD_BYTES, MalformedMessage, head_end, parse_response_head
from .targets import Target

__all__ = ["Http1Transport", "ConnectError", "connect", "exchange", "ssl_context_for", "MAX_TUNNEL_BYTES"]


_CONTEXTS: dict[tuple, ssl.SSLContext] = {}


def ssl_context_for(target: Target, alpn: tuple[str, ...] = ("http/1.1",)) -> ssl.SSLContext:
    """A client context: the given CA file (or the system store), host-name checking, ``alpn``
    offered in that order (HTTP/1.1 alone here; :func:`pytest_wsgateway.http2.ssl_context_for`
    offers ``h2`` first).

    With ``target.insecure`` certificate and host-name checks are off, like ``websocat --insecure``.
    Contexts are cached per (CA file and its mtime/size, insecure, ALPN): building one loads the trust
    store (~5-50 ms), which would otherwise be paid on every wss:// case. No session is reused, so
    every connection still makes a full TLS handshake and verifies the certificate.
    """
    try:
        stat = os.stat(target.ca_file) if target.ca_file else None
    except OSError:
        return _new_ssl_context(target, alpn)  # raises the usual one-line ConnectError
    key = (target.ca_file, stat and (stat.st_mtime_ns, stat.st_size), target.insecure, alpn)
    context = _CONTEXTS.get(key)
    if context is None:
        context = _CONTEXTS[key] = _new_ssl_context(target, alpn)
    return context


def _new_ssl_context(target: Target, alpn: tuple[str, ...]) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=target.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConnectError("ca-file", f"cannot load the CA file {target.ca_file}: {exc}") from None
    if target.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(list(alpn))
    return context


def connect(target: Target, timeout: float, context: ssl.SSLContext | None = None) -> socket.socket:
    """Open a TCP (and for wss, TLS) connection; raise :class:`ConnectError` with one line."""
    where = f"{target.host}:{target.port}"
    try:
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
    except socket.gaierror as exc:
        raise ConnectError("resolve", f"cannot resolve host {target.host!r}: {exc.strerror}") from None
    except TimeoutError:
        raise ConnectError("connect-timeout", f"no TCP connection to {where} within {timeout:g} s") from None
    except OSError as exc:
        raise ConnectError("connect", f"cannot connect to {where}: {exc.strerror or exc}") from None
    try:
        # Small writes go out at once: without this, a TLS 1.3 request written right after the
        # client Finished waits for the server's delayed ACK (~40 ms) when the server sends no
        # session tickets.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass
    if not target.secure:
        return sock
    context = context or ssl_context_for(target)
    try:
        sock.settimeout(timeout)
        return context.wrap_socket(sock, server_hostname=target.host)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise ConnectError("tls-certificate", f"TLS certificate of {where} rejected: {exc.verify_message}") from None
    except TimeoutError:  # before OSError: TimeoutError is one
        sock.close()
        raise ConnectError("tls-timeout", f"TLS handshake with {where} did not finish within {timeout:g} s") from None
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc) or type(exc).__name__
        raise ConnectError("tls", f"TLS handshake with {where} failed: {_one_line(str(reason))}") from None


def _tls_info(sock: socket.socket) -> TlsInfo | None:
    if not isinstance(sock, ssl.SSLSocket):
        return None
    cipher = sock.cipher()
    return TlsInfo(
        version=sock.version(),
        alpn=sock.selected_alpn_protocol(),
        cipher=cipher[0] if cipher else None,
        server_hostname=sock.server_hostname,
        verified=sock.context.verify_mode == ssl.CERT_REQUIRED,
    )


def recv_before(sock: socket.socket, deadline: float) -> bytes:
    """One read of at most 64 KiB, waiting at most until ``deadline`` (``time.monotonic()``);
    raises TimeoutError or OSError; ``b""`` is EOF. Every read of the transports goes through here."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    sock.settimeout(remaining)
    return sock.recv(65536)


class _Reader:
    """Reads from a socket against deadlines; remembers EOF and errors instead of raising."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.eof = False

    def recv(self, deadline: float) -> bytes:
        """One read, waiting at most until ``deadline``; raises TimeoutError or OSError."""
        data = recv_before(self.sock, deadline)
        if not data:
            self.eof = True
        return data


def _os_error(exc: OSError, before: str = "") -> ExchangeError:
    """The typed error for a socket error, its message prefixed with ``before``."""
    if isinstance(exc, ConnectionResetError):
        kind, text = "reset", "connection reset by the target"
    elif isinstance(exc, ssl.SSLError):
        kind, text = "tls", f"TLS error: {_one_line(str(exc.reason or exc))}"
    else:
        kind, text = "io", _one_line(exc.strerror or str(exc) or type(exc).__name__)
    return ExchangeError(kind, before + text)


def _one_line(text: str) -> str:
    """Errors are reported in one line (an OpenSSL message may carry newlines)."""
    return " ".join(text.split())


#: After the 101, at most this many bytes are read per exchange: a target that floods frames
#: without ever answering costs bounded memory, not whatever loopback can push within the
#: step's timeout (hundreds of MB).
MAX_TUNNEL_BYTES = 4 << 20


#: At most this many informational (1xx, not 101) responses are read before the final one.
MAX_INTERIM = 8
#: The first bytes after the 101 are kept as they arrived, for the transcript.
KEPT_AFTER_101 = 4096
#: At most this many frames are kept per exchange (plus up to :data:`KEPT_CONTROL` control frames
#: after that): a flood of tiny frames costs bounded memory; the rest are only counted.
KEPT_FRAMES = 1000
KEPT_CONTROL = 64
#: A step waits through at most this many frames without its answer (a flood of tiny frames would
#: otherwise cost seconds of decoding per step before the byte cap ends it).
MAX_TUNNEL_FRAMES = 100_000


def exchange(
    target: Target,
    request: bytes,
    *,
    timeout: float = 5.0,
    steps: tuple[tuple[str, bytes | wsframes.Burst], ...] = (),
    context: ssl.SSLContext | None = None,
) -> Exchange:
    """Send ``request`` to ``target``, read the response head, then run ``steps`` after a 101.

    ``timeout`` bounds each network step (connect, TLS, the response head, each after-101 step).
    Informational responses before the final one (``100 Continue``…, RFC 9110 §15.2) are kept in
    ``Exchange.interim``. Steps are ``("ping", payload)``, ``("close", payload)``,
    ``("text", data)``, ``("binary", data)`` and ``("deflate-text", data)`` (compressed when the 101
    accepted permessage-deflate, RFC 7692); each sends one masked frame and reads until its answer
    (a pong with the same payload, the same message back), a Close frame, EOF or the deadline.
    ``("fragments", burst)`` and ``("pings", burst)`` send a :class:`~pytest_wsgateway.frames.Burst`
    frame after frame, then read until every ping has its pong and its message came back.
    Server pings met on the way are answered (RFC 6455 §5.5.2); unsolicited frames are kept.
    """
    sock = connect(target, timeout, context)
    result = Exchange(request=request, tls=_tls_info(sock))
    try:
        reader = _Reader(sock)
        try:
            sock.settimeout(timeout)
            sock.sendall(request)
        except OSError as exc:
            result.error = _os_error(exc, "sending the request failed: ")
            return result
        _read_head(reader, result, time.monotonic() + timeout, timeout)
        if result.response is not None and result.response.status == 101:
            _Tunnel(reader, result, timeout, idle=target.idle).run(steps)
            _say_goodbye(sock, result)
        return result
    finally:
        sock.close()


def _read_head(reader: _Reader, result: Exchange, deadline: float, timeout: float) -> None:
    """Read the final response head (after up to :data:`MAX_INTERIM` 1xx heads) into ``result``."""
    buffer = b""
    try:
        while True:
            while (end := head_end(buffer)) < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    result.error = ExchangeError("oversized",
                                                 f"the response head exceeds {MAX_HEAD_BYTES} bytes without ending")
                    result.response_head = buffer[:MAX_HEAD_BYTES]
                    return
                data = reader.recv(deadline)
                if not data:
                    result.error = ExchangeError("closed", (
                        "the target closed the connection without a response"
                        if not buffer
                        else "the target closed the connection in the middle of the response head"
                    ))
                    result.closed_by_peer = True
                    result.response_head = buffer
                    return
                buffer += data
            head, buffer = buffer[:end], buffer[end:]
            if not _interim(head) or len(result.interim) >= MAX_INTERIM:
                break
            result.interim.append(head)
    except TimeoutError:
        result.error = ExchangeError(
            "timeout", f"no complete response head within {timeout:g} s ({len(buffer)} bytes received)")
        result.response_head = buffer
        return
    except OSError as exc:
        result.error = _os_error(exc)
        result.response_head = buffer
        return
    result.response_head, result.early = head, buffer
    try:
        result.response = parse_response_head(head)
    except MalformedMessage as exc:
        result.error = ExchangeError("not-http", f"the response is not HTTP: {exc}")


def _interim(head: bytes) -> bool:
    """Whether ``head`` is an informational response other than 101 (RFC 9110 §15.2)."""
    try:
        status = parse_response_head(head).status
    except (MalformedMessage, ValueError):
        return False
    return 100 <= status < 200 and status != 101


_OPCODES = {"ping": wsframes.PING, "close": wsframes.CLOSE, "text": wsframes.TEXT, "binary": wsframes.BINARY,
            "deflate-text": wsframes.TEXT}


#: Steps whose payload is a :class:`~pytest_wsgateway.frames.Burst` (told by name, not by class: a
#: catalogue loaded before a module reload still runs).
_BURSTS = frozenset({"fragments", "pings", "deflate-fragments"})
#: A large message (a ladder rung, a flood) is read back with one timeout per read and at most this
#: many timeouts in all (a flood: after its pause), so a target that trickles its echo still ends.
LARGE_STEP_TIMEOUTS = 3
#: Steps with their own send-and-read loop (:meth:`_Tunnel._sized`, ``_flood``, ``_half_close``).
_STREAMED = frozenset({"sized", "flood", "half-close"})
#: How a wait names its step in messages ("no answer to the text frame within 5 s").
_STEP_NAMES = {"ping": "ping frame", "close": "close frame", "text": "text frame", "binary": "binary frame",
               "deflate-text": "text frame", "fragments": "fragmented message", "pings": "pings",
               "deflate-fragments": "fragmented compressed message", "idle": "ping after the quiet time"}


class _Tunnel:
    """The after-101 steps on one connection: send, then read until the step is answered."""

    def __init__(self, reader: _Reader, result: Exchange, timeout: float, idle: float | None = None) -> None:
        self.reader, self.result, self.timeout = reader, result, timeout
        self.idle = idle or 0.0
        self.deflate = wsframes.negotiated_deflate(result.response.get_all("Sec-WebSocket-Extensions"))
        #: One compressor per connection: its context carries over between messages unless the
        #: server asked for client_no_context_takeover (RFC 7692 §7.1.1.2).
        self.compressor = wsframes.Compressor(self.deflate) if self.deflate is not None else None
        self.pending = b""
        self.received = 0
        self.frame_count = 0
        self.answered_pings = 0

    def run(self, steps: tuple[tuple[str, bytes | wsframes.Burst], ...]) -> None:
        result = self.result
        if not self._take(result.early, "the bytes after the 101 are not frames"):
            return
        for action, payload in steps:
            if self._closed():
                return
            if action in _STREAMED:  # large messages: compared as they arrive, never held whole
                if not getattr(self, "_" + action.replace("-", "_"))(payload):
                    return
                continue
            if action == "idle":
                if not self._quiet():
                    return
                action, payload = "ping", wsframes.IDLE_PING
            before = self._echoes(action, payload)
            if not self._send(action, payload):
                return
            if not self._wait(action, payload, before):
                return
        if self._closed():
            _await_eof(self.reader, result, time.monotonic() + self.timeout)

    def _closed(self) -> bool:
        return any(f.opcode == wsframes.CLOSE for f in self.result.frames)

    def _quiet(self) -> bool:
        """The ``idle`` step: send nothing for :attr:`idle` seconds, reading whatever comes (server
        pings are answered: that is the server's keepalive, not the client's). False when the
        connection ends meanwhile; ``result.idle_cut`` then says after how many seconds of quiet
        (counted from the last frame the client sent) and ``idle_cut_how`` how."""
        result = self.result
        result.idle_declared = self.idle
        started = time.monotonic()
        deadline = started + self.idle
        while True:
            try:
                data = self.reader.recv(deadline)
            except TimeoutError:
                return True
            except OSError as exc:
                how = _os_error(exc)
                result.idle_cut, result.idle_cut_how = time.monotonic() - started, how.kind
                result.frame_error = ExchangeError(how.kind, f"{how.message} after {result.idle_cut:.1f} s of quiet")
                return False
            if not data:
                result.idle_cut, result.idle_cut_how = time.monotonic() - started, "closed"
                result.closed_by_peer = True
                result.frame_error = ExchangeError(
                    "closed", f"the target closed the connection after {result.idle_cut:.1f} s of quiet")
                return False
            if not self._take(data, "a frame during the quiet time is not a valid frame"):
                return False
            if self._closed():
                close = next(f for f in result.frames if f.opcode == wsframes.CLOSE)
                code = int.from_bytes(close.payload[:2], "big") if len(close.payload) >= 2 else None
                result.idle_cut = time.monotonic() - started
                result.idle_cut_how = f"close frame {code}" if code is not None else "close frame"
                _await_eof(self.reader, result, time.monotonic() + self.timeout)
                return False

    def _take(self, data: bytes, what: str) -> bool:
        """Decode ``data`` into frames (answering server pings); False once the bytes are not frames."""
        result = self.result
        if len(result.after_101) < KEPT_AFTER_101:
            result.after_101 += data[: KEPT_AFTER_101 - len(result.after_101)]
        self.received += len(data)
        try:
            frames, self.pending = wsframes.decode(self.pending + data)
        except wsframes.FrameError as exc:
            result.frame_error = ExchangeError("not-frames", f"{what}: {exc}")
            return False
        self.frame_count += len(frames)
        for frame in frames:
            if len(result.frames) < KEPT_FRAMES or (frame.opcode >= wsframes.CLOSE
                                                    and len(result.frames) < KEPT_FRAMES + KEPT_CONTROL):
                result.frames.append(frame)
            else:
                result.frames_dropped += 1
                result.bytes_dropped += len(frame.payload)
        for frame in frames:
            if frame.opcode == wsframes.PING and not self._closed() and self.answered_pings < 16:
                self.answered_pings += 1
                self._write(wsframes.encode(wsframes.PONG, frame.payload),
                            f"pong frame ({len(frame.payload)} bytes, answering a server ping)")
        return True

    def _write(self, data: bytes, described: str) -> bool:
        try:
            self.reader.sock.settimeout(self.timeout)
            self.reader.sock.sendall(data)
        except OSError as exc:
            self.result.frame_error = _os_error(exc, f"sending a {described.split(' (')[0]} failed: ")
            return False
        self.result.sent.append(described)
        return True

    def _send(self, action: str, payload: bytes | wsframes.Burst) -> bool:
        if action in _BURSTS:  # fragments, pings in a row: one frame after the other
            return all(self._write(frame, described) for frame, described in payload.encoded(self.compressor))
        if action == "deflate-text" and self.compressor is not None:
            frame = wsframes.encode_message(wsframes.TEXT, self.compressor.message(payload), compressed=True)
            return self._write(frame, f"compressed text frame ({len(payload)} bytes before compression)")
        kind = "text" if action == "deflate-text" else action
        return self._write(wsframes.encode(_OPCODES[action], payload), f"{kind} frame ({len(payload)} bytes)")

    # -- large messages (the size ladder, backpressure) and the half-close -------------------------

    def _stream(self) -> wsframes.FrameStream:
        """The incremental decoder the streamed steps share (it starts with any partial frame left)."""
        stream = getattr(self, "stream", None)
        if stream is None:
            stream = self.stream = wsframes.FrameStream()
            stream.buffer, self.pending = self.pending, b""
        return stream

    def _keep(self, frame: wsframes.Frame) -> None:
        if len(self.result.frames) < KEPT_FRAMES + KEPT_CONTROL:
            self.result.frames.append(frame)
        else:
            self.result.frames_dropped += 1
            self.result.bytes_dropped += len(frame.payload)

    def _feed(self, data: bytes, matchers: list[wsframes.EchoMatcher], record: SizedEcho, answer_pings: bool) -> bool:
        """Decode ``data`` into the matchers in turn; False once the step is over (a close frame,
        bytes that are not frames, an echo that differs), with ``record`` saying why."""
        self.received += len(data)
        try:
            events = self._stream().feed(data)
        except wsframes.FrameError as exc:
            self.result.frame_error = ExchangeError("not-frames", f"the echo of the {record.kind} message is not "
                                                                  f"valid frames: {exc}")
            record.outcome, record.detail = "altered", f"not valid frames: {exc}"
            return False
        for event in events:
            if event[0] == "control":
                frame = event[1]
                self._keep(frame)
                if frame.opcode == wsframes.CLOSE:
                    code = int.from_bytes(frame.payload[:2], "big") if len(frame.payload) >= 2 else None
                    record.close_code = code
                    record.close_reason = frame.payload[2:125].decode("utf-8", "replace")
                    record.outcome = "limit" if code in LIMIT_CODES else "closed"
                    record.detail = (f"close frame {code if code is not None else 'without a status code'}"
                                     + (f" {record.close_reason!r}" if record.close_reason else ""))
                    return False
                if frame.opcode == wsframes.PING and answer_pings and self.answered_pings < 16:
                    self.answered_pings += 1
                    self._write(wsframes.encode(wsframes.PONG, frame.payload),
                                f"pong frame ({len(frame.payload)} bytes, answering a server ping)")
                continue
            self.frame_count += event[0] == "start"
            if record.intact >= len(matchers):
                continue  # a message after the echoes: not this step's business
            matcher = matchers[record.intact]
            if event[0] == "start":
                matcher.start(event[1], event[2], event[3])
            elif event[0] == "data":
                matcher.data(event[1])
            else:
                matcher.end()
            if matcher.problem is not None:
                record.outcome, record.detail = "altered", matcher.problem
                self.result.frame_error = ExchangeError("altered", f"the echo of the {record.kind} message of "
                                                                   f"{record.size:,} bytes differs: {matcher.problem}")
                return False
            if matcher.done:
                record.intact += 1
        if self.frame_count > MAX_TUNNEL_FRAMES + len(matchers):
            record.outcome, record.detail = "error", f"more than {MAX_TUNNEL_FRAMES:,} frames"
            self.result.frame_error = ExchangeError("oversized", f"more than {MAX_TUNNEL_FRAMES:,} frames after the 101")
            return False
        return True

    def _lost(self, record: SizedEcho, exc: BaseException | None, waited: float | None) -> None:
        """``record``'s message did not come back: why, in the record and as the frame error."""
        got = f"{record.intact} of {record.count} came back" if record.count > 1 else "it did not come back"
        if exc is None:
            self.result.closed_by_peer = True
            record.outcome, kind, text = "eof", "closed", "the target closed the connection without a close frame"
        elif isinstance(exc, TimeoutError):
            record.outcome, kind, text = "silent", "timeout", (
                f"nothing more within {waited:g} s" if waited is not None else
                f"not complete within {LARGE_STEP_TIMEOUTS} x {self.timeout:g} s")
        elif isinstance(exc, ConnectionResetError):
            record.outcome, kind, text = "reset", "reset", "connection reset by the target"
        else:
            error = _os_error(exc) if isinstance(exc, OSError) else ExchangeError("io", str(exc))
            record.outcome, kind, text = "error", error.kind, error.message
        record.detail = f"{text}; {got}"
        self.result.frame_error = ExchangeError(kind, f"{text} ({record.describe().split(':')[0]}: {got})")

    def _sized(self, spec: wsframes.Sized) -> bool:
        """One rung of the ladder: write the message (at most :data:`~pytest_wsgateway.frames.CHUNK`
        bytes at a time, against a deadline), then compare what comes back as it arrives."""
        result, sock = self.result, self.reader.sock
        record = SizedEcho(spec.kind, spec.size, spec.fragments)
        result.sized.append(record)
        result.sent.append(spec.describe())
        started = time.monotonic()
        deadline = started + self.timeout
        try:
            for piece in wsframes.streamed(spec.opcode, 0, spec.fragment_sizes()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                sock.sendall(piece)
        except OSError:
            pass  # the target may have stopped reading to close: what it sent says why
        matchers = [wsframes.EchoMatcher(spec.opcode, spec.size)]
        cap = time.monotonic() + LARGE_STEP_TIMEOUTS * self.timeout
        try:
            while record.intact < 1:
                data = self.reader.recv(min(cap, time.monotonic() + self.timeout))
                if not data:
                    self._lost(record, None, self.timeout)
                    return False
                if not self._feed(data, matchers, record, answer_pings=True):
                    return False
        except OSError as exc:  # TimeoutError included
            self._lost(record, exc, self.timeout if time.monotonic() < cap else None)
            return False
        finally:
            record.seconds = round(time.monotonic() - started, 3)
        record.outcome = "intact"
        return True

    def _flood(self, spec: wsframes.Flood) -> bool:
        """Backpressure: write ``spec.count`` messages without reading (until TCP stops taking
        them), do not read for ``spec.pause`` seconds, then read them all back while writing the
        rest; everything within the timeout. Server pings are not answered meanwhile (a pong
        cannot cut into a frame being written)."""
        result, sock = self.result, self.reader.sock
        record = SizedEcho("binary", spec.size, 1, count=spec.count)
        result.sized.append(record)
        result.sent.append(spec.describe())
        try:  # a slow reader: a small receive window, so the target has to hold back or buffer
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        except OSError:
            pass
        started = time.monotonic()
        deadline = started + spec.pause + LARGE_STEP_TIMEOUTS * self.timeout
        pieces = itertools.chain.from_iterable(
            wsframes.streamed(wsframes.BINARY, index * spec.size, [spec.size]) for index in range(spec.count))
        matchers = [wsframes.EchoMatcher(wsframes.BINARY, spec.size, index * spec.size) for index in range(spec.count)]
        pending, writing, blocked = b"", True, (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError)
        sock.settimeout(0)
        try:
            while writing and time.monotonic() < deadline:  # write without reading
                pending = pending or next(pieces, b"")
                if not pending:
                    writing = False
                    break
                try:
                    pending = pending[sock.send(pending):]
                except blocked:
                    if not select.select([], [sock], [], max(0.0, min(0.25, deadline - time.monotonic())))[1]:
                        record.stalled = True  # TCP backpressure: the target stopped taking bytes
                        break
            if spec.pause:
                time.sleep(max(0.0, min(spec.pause, deadline - time.monotonic())))
            idle = time.monotonic() + self.timeout
            while record.intact < spec.count:  # read it all back, finishing the writes
                remaining = min(deadline, idle) - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                buffered = isinstance(sock, ssl.SSLSocket) and sock.pending()
                readable, writable, _ = ([sock], [], []) if buffered else select.select(
                    [sock], [sock] if writing else [], [], remaining)
                if readable:
                    try:
                        data = sock.recv(65536)
                    except blocked:
                        data = None
                    if data == b"":
                        self._lost(record, None, self.timeout)
                        return False
                    if data and not self._feed(data, matchers, record, answer_pings=False):
                        return False
                    if data:
                        idle = time.monotonic() + self.timeout  # progress: each read waits one timeout
                if writable and writing:
                    pending = pending or next(pieces, b"")
                    if not pending:
                        writing = False
                        continue
                    try:
                        pending = pending[sock.send(pending):]
                        idle = time.monotonic() + self.timeout  # progress the other way counts too
                    except blocked:
                        pass
        except OSError as exc:  # TimeoutError, a reset
            self._lost(record, exc, self.timeout if time.monotonic() < deadline else None)
            return False
        finally:
            record.seconds = round(time.monotonic() - started, 3)
            sock.settimeout(self.timeout)
        record.outcome = "intact"
        return True

    def _half_close(self, payload: bytes) -> bool:
        """A close frame, then a TCP half-close (shutdown of the client's sending side only: on a
        TLS connection the socket's, below TLS, so the client can still read), then wait for the
        close reply."""
        if not self._write(wsframes.encode(wsframes.CLOSE, payload), f"close frame ({len(payload)} bytes)"):
            return False
        try:
            socket.socket.shutdown(self.reader.sock, socket.SHUT_WR)
        except OSError as exc:
            self.result.frame_error = _os_error(exc, "the TCP half-close failed: ")
            return False
        self.result.half_closed = True
        self.result.sent.append("TCP half-close (FIN: the client sends nothing more, and goes on reading)")
        return self._wait("close", payload)

    def _echoes(self, action: str, payload: bytes | wsframes.Burst) -> int:
        """How many messages equal to the step's message have come back so far (a step that
        sends a message already sent is answered by a new echo, not by the earlier one)."""
        if action in _BURSTS:
            wanted = payload.message
        elif action in ("text", "binary", "deflate-text"):
            wanted = (wsframes.BINARY if action == "binary" else wsframes.TEXT, payload)
        else:
            return 0
        if wanted is None:
            return 0
        return sum((m.opcode, m.payload) == wanted for m in wsframes.messages(self.result.frames, self.deflate))

    def _answered(self, action: str, payload: bytes | wsframes.Burst, before: int = 0) -> bool:
        """Whether the frames so far answer the step: a Close ends every wait."""
        frames = self.result.frames
        if self._closed():
            return True
        if action in _BURSTS:
            pongs = [f.payload for f in frames if f.opcode == wsframes.PONG]
            if any(pongs.count(ping) < payload.pings.count(ping) for ping in set(payload.pings)):
                return False
            return payload.message is None or self._echoes(action, payload) > before
        if action == "ping":
            return any(f.opcode == wsframes.PONG and f.payload == payload for f in frames)
        if action in ("text", "binary", "deflate-text"):
            return self._echoes(action, payload) > before
        return False

    def _wait(self, action: str, payload: bytes | wsframes.Burst, before: int = 0) -> bool:
        result, name = self.result, _STEP_NAMES.get(action, action)
        deadline = time.monotonic() + self.timeout
        started, counted = self.received, self.frame_count
        while not self._answered(action, payload, before):
            try:
                data = self.reader.recv(deadline)
            except TimeoutError:
                result.frame_error = ExchangeError("timeout", f"no answer to the {name} within {self.timeout:g} s")
                return False
            except OSError as exc:
                result.frame_error = _os_error(exc, f"reading after the {name} failed: ")
                return False
            if not data:
                result.closed_by_peer = True
                result.frame_error = ExchangeError(
                    "closed", f"the target closed the connection without answering the {name}")
                return False
            if not self._take(data, f"the answer to the {name} is not a valid frame"):
                return False
            if self.received - started > MAX_TUNNEL_BYTES and not self._answered(action, payload, before):
                result.frame_error = ExchangeError("oversized", (
                    f"more than {MAX_TUNNEL_BYTES} bytes after the 101 without an answer to the {name}"
                ))
                return False
            if self.frame_count - counted > MAX_TUNNEL_FRAMES and not self._answered(action, payload, before):
                result.frame_error = ExchangeError("oversized", (
                    f"more than {MAX_TUNNEL_FRAMES:,} frames after the 101 without an answer to the {name}"
                ))
                return False
        return True


def _say_goodbye(sock: socket.socket, result: Exchange) -> None:
    """Leave an open tunnel politely: a Close frame (1000) unless one was exchanged already."""
    if not any(frame.opcode == wsframes.CLOSE for frame in result.frames) and not result.closed_by_peer:
        try:
            sock.settimeout(0.5)
            sock.sendall(wsframes.encode(wsframes.CLOSE, wsframes.close_payload(1000)))
        except OSError:
            pass


def _await_eof(reader: _Reader, result: Exchange, deadline: float) -> None:
    """After the closing handshake, note whether the server closes the TCP connection (RFC 6455 §7.1.1)."""
    try:
        while reader.recv(deadline):
            pass
        result.closed_by_peer = True
    except (TimeoutError, OSError):
        pass


class Http1Transport:
    """RFC 6455 §4 over HTTP/1.1: the :class:`~pytest_wsgateway.transport.Transport` for ``ws``/``wss``."""

    name = "http/1.1"

    def exchange(self, target: Target, request: bytes, *, steps: tuple[tuple[str, bytes | wsframes.Burst], ...] = (),
                 timeout: float = 5.0) -> Exchange:
        return exchange(target, request, timeout=timeout, steps=steps)
