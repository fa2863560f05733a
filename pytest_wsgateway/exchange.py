"""The exchange record, sans-I/O: what happened on one connection, as plain data.

A transport (:mod:`pytest_wsgateway.transport`) fills it in; the checks
(:mod:`pytest_wsgateway.checks`) read it. Nothing here opens a socket, so the pure layer
(handshake, frames, cases, checks, this record) can be imported and tested without the network.

Trouble is typed: an :class:`ExchangeError` has a ``kind`` (one of :data:`ERROR_KINDS`) and a
one-line ``message`` (what a failure shows). Trouble reaching the target at all (DNS, TCP, TLS) is
raised by the transport as :class:`ConnectError`, carrying the same kind of record.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import frames as wsframes
from .handshake import Response

#: What an :class:`ExchangeError` can be about.
#:
#: * before the request: ``resolve`` (DNS), ``connect`` (TCP refused or unreachable),
#:   ``connect-timeout``, ``ca-file`` (the CA file cannot be loaded), ``tls-certificate``
#:   (verification failed), ``tls-timeout``, ``tls`` (any other TLS handshake failure);
#: * after it: ``send`` (writing failed), ``closed`` (EOF before the answer), ``reset``,
#:   ``timeout`` (no answer within the step's deadline), ``oversized`` (the answer exceeds a cap),
#:   ``not-http`` (the response head does not parse), ``not-frames`` (bytes after the 101 are
#:   not RFC 6455 frames), ``io`` (any other socket error), ``altered`` (a large message came back
#:   different, :class:`SizedEcho`);
#: * HTTP/2 (:mod:`pytest_wsgateway.http2`): ``not-h2`` (the server did not select ``h2`` in ALPN,
#:   or its first frame is not SETTINGS), ``stream-reset`` (RST_STREAM on the request's stream),
#:   ``h2`` (a connection error: GOAWAY, or frames the ``h2`` state machine refuses).
ERROR_KINDS = ("resolve", "connect", "connect-timeout", "ca-file", "tls-certificate", "tls-timeout", "tls",
               "send", "closed", "reset", "timeout", "oversized", "not-http", "not-frames", "io", "altered",
               "not-h2", "stream-reset", "h2")


@dataclass(frozen=True)
class ExchangeError:
    """One thing that went wrong: ``kind`` (see :data:`ERROR_KINDS`) and a one-line ``message``."""

    kind: str
    message: str

    def __str__(self) -> str:
        return self.message


class ConnectError(Exception):
    """The target could not be reached (DNS, TCP, TLS): ``str(exc)`` is one readable line.

    ``exc.error`` is the typed :class:`ExchangeError`.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.error = ExchangeError(kind, message)


@dataclass(frozen=True)
class TlsInfo:
    """The TLS facts of a ``wss://`` connection (RFC 6455 §4.1 step 5)."""

    version: str | None
    alpn: str | None
    cipher: str | None
    server_hostname: str | None
    verified: bool


#: How a large message fared (:class:`SizedEcho`): ``intact`` (the same bytes came back), ``limit``
#: (a close frame with 1009 Message Too Big or 1001 Going Away instead: a limit enforced cleanly),
#: ``closed`` (a close frame with another code), ``altered`` (other bytes, another kind, a cut or
#: an interleaved message came back), ``silent`` (nothing within the timeout: it vanished),
#: ``eof`` (TCP closed without a close frame), ``reset``, ``error`` (another socket error).
SIZED_OUTCOMES = ("intact", "limit", "closed", "altered", "silent", "eof", "reset", "error")
#: Close codes that announce a size limit (RFC 6455 §7.4.1: 1009 "a message that is too big for it
#: to process"; 1001 "going away", which Kong sends the peer of an oversized message).
LIMIT_CODES = (1009, 1001)


@dataclass
class SizedEcho:
    """One large message sent after the 101 and what came back (the size ladder, backpressure).

    ``kind`` text or binary, ``size`` its bytes, ``fragments`` the frames it was sent in;
    ``count`` messages of that size were sent (1 but for the backpressure flood) and ``intact``
    of them came back whole, in order. ``outcome`` is one of :data:`SIZED_OUTCOMES` with
    ``detail`` in words; ``close_code`` and ``close_reason`` those of a close frame that ended it.
    ``stalled`` says the client's writes blocked (TCP backpressure) before it read.
    """

    kind: str
    size: int
    fragments: int = 1
    outcome: str = "silent"
    detail: str = ""
    close_code: int | None = None
    close_reason: str = ""
    seconds: float = 0.0
    count: int = 1
    intact: int = 0
    stalled: bool = False

    def describe(self) -> str:
        what = f"{self.kind} message of {self.size:,} bytes" if self.count == 1 else (
            f"{self.count} {self.kind} messages of {self.size:,} bytes")
        framing = "" if self.fragments == 1 else f" in {self.fragments} fragments"
        return f"{what}{framing}: {self.outcome}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class Exchange:
    """What happened on one connection: the bytes both ways and what went wrong, if anything.

    ``request`` is the request as sent; ``response_head`` the raw head bytes (or whatever arrived
    before the error) and ``response`` its parse; ``early`` the bytes that arrived after the head
    in the same reads (RFC 6455 frames, for a 101). ``frames`` are the frames read back after the
    101, in order, and ``sent`` the frames the client sent after the 101 (described for the
    transcript). ``error`` is trouble getting the response head, ``frame_error`` trouble after the
    101; ``closed_by_peer`` says the target closed the TCP connection.
    """

    request: bytes
    response_head: bytes = b""
    response: Response | None = None
    early: bytes = b""
    error: ExchangeError | None = None
    tls: TlsInfo | None = None
    frames: list[wsframes.Frame] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    frame_error: ExchangeError | None = None
    closed_by_peer: bool = False
    #: Informational (1xx, not 101) response heads that came before the final one (RFC 9110 §15.2).
    interim: list[bytes] = field(default_factory=list)
    #: The first bytes after the 101 as they arrived (bounded), for the transcript.
    after_101: bytes = b""
    #: Frames received but not kept (beyond the transport's cap), and their payload bytes.
    frames_dropped: int = 0
    bytes_dropped: int = 0
    #: HTTP/2 (RFC 8441): ``protocol`` is ``"h2"`` for an extended CONNECT (then ``request`` and
    #: ``response_head`` are the header lists as ``name: value`` lines, pseudo-header fields first,
    #: and ``response`` reads ``HTTP/2 <status>`` with the regular fields); ``settings`` the
    #: server's first SETTINGS frame (identifier -> value; None when none arrived);
    #: ``stream_ended`` whether the response itself ended the stream (END_STREAM on its HEADERS:
    #: no tunnel; a later END_STREAM is the peer's close, ``closed_by_peer``); ``end_stream`` whether
    #: such a later END_STREAM came (the stream's orderly close, RFC 8441 §5 -- ``closed_by_peer`` alone
    #: may be the whole connection dropped); ``reset_code`` the error code of an RST_STREAM on it (or
    #: of a GOAWAY), else None.
    protocol: str = "http/1.1"
    settings: dict[int, int] | None = None
    stream_ended: bool = False
    end_stream: bool = False
    reset_code: int | None = None
    #: HTTP/2: a second extended CONNECT on the same connection while the first stream was open
    #: (the ``second-stream`` step), recorded like the first.
    second: Exchange | None = None
    #: The ``idle`` step (the ``tunnel-idle`` case): the quiet time asked for (seconds), and when the
    #: connection ended during it, after how many seconds of quiet (``idle_cut``) and how
    #: (``idle_cut_how``: "closed", "reset", "close frame 1001"...); None when it stayed open.
    idle_declared: float | None = None
    idle_cut: float | None = None
    idle_cut_how: str = ""
    #: Large messages (the ``sized`` and ``flood`` steps): what happened to each, in order; their
    #: data frames are compared as they arrive and not kept in ``frames`` (control frames are).
    sized: list[SizedEcho] = field(default_factory=list)
    #: ``half-close``: the client shut its sending side (TCP FIN) after its close frame.
    half_closed: bool = False

    def size_result(self) -> tuple[int | None, SizedEcho | None]:
        """The size ladder's result on this connection: the largest message that came back intact
        before the first one that did not (None when no rung came back), and that first one (None
        when every rung came back). Backpressure floods (``count`` > 1) are not rungs."""
        largest, first = None, None
        for record in self.sized:
            if record.count != 1:
                continue
            if record.outcome != "intact":
                first = record
                break
            largest = record.size if largest is None else max(largest, record.size)
        return largest, first

    @property
    def upgraded(self) -> bool:
        """Whether the target accepted the WebSocket: 101 Switching Protocols, or over HTTP/2 a
        2xx to the extended CONNECT that leaves the stream open (RFC 8441 §5)."""
        if self.response is None:
            return False
        if self.protocol == "h2":
            return 200 <= self.response.status < 300 and not self.stream_ended
        return self.response.status == 101
