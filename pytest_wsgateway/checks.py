"""Verdict logic, sans-I/O: (request bytes, what came back) -> findings.

Each check is a small pure function registered under the name the case catalogue uses in
``expect:``. It reads the request that was sent (to know the key, the offered subprotocols and
extensions) and the :class:`~pytest_wsgateway.exchange.Exchange`, and yields a :class:`Finding`
for each way the target fell short. No finding means the requirement holds. A check that judges
only the user's API definition says so (``@check(name, offline=True)``): a case made of such
checks needs no connection.

Pure: this module imports only the other sans-I/O modules (handshake, frames, the exchange
record, the API summary), never a transport.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from . import frames as wsframes
from .apidef import ApiInfo
from .exchange import Exchange
from .handshake import (MalformedMessage, Request, Response, accept_for, extension_elements, h2_fields, h2_response,
                        parse_h2_request, parse_request)


@dataclass(frozen=True)
class Finding:
    """One unmet requirement: what the RFC asks for, and what the target did instead."""

    requirement: str
    expected: str
    actual: str


@dataclass(frozen=True)
class Context:
    """What a check may know besides the two messages: the target and the user's settings."""

    scheme: str = "ws"
    path: str = "/"
    api: ApiInfo | None = None
    insecure: bool = False
    subprotocols: tuple[str, ...] = field(default_factory=tuple)
    #: ``--gateway-max-message``: the message size (bytes) the API must carry, or None (undeclared).
    max_message: int | None = None


Check = Callable[..., Iterator[Finding]]
CHECKS: dict[str, Check] = {}
#: Checks that judge only the API definition (declared with ``offline=True``).
OFFLINE: set[str] = set()
#: Checks that judge a refusal (declared with ``refusal=True``): they prove something only when the
#: same target upgrades the valid request (see :mod:`pytest_wsgateway.verdicts`).
REFUSAL: set[str] = set()


def check(name: str, *, offline: bool = False, refusal: bool = False) -> Callable[[Check], Check]:
    """Register a check under ``name``; ``offline`` = it needs no exchange, only the context;
    ``refusal`` = it judges how an invalid request is refused."""

    def register(function: Check) -> Check:
        CHECKS[name] = function
        if offline:
            OFFLINE.add(name)
        if refusal:
            REFUSAL.add(name)
        return function

    return register


def offline(names: Iterable[str]) -> bool:
    """Whether ``names`` are checks that are all offline, so a case made of them needs no connection."""
    names = list(names)
    return bool(names) and all(name in OFFLINE for name in names)


def evaluate(expect: tuple[tuple[str, dict], ...], request: bytes, exchange: Exchange, context: Context) -> list[Finding]:
    """Run each named check of a case and collect the findings, in catalogue order."""
    parsed = parse_h2_request(request) if request.startswith(b":") else parse_request(request)
    findings: list[Finding] = []
    for name, params in expect:
        findings.extend(CHECKS[name](parsed, exchange, context, **params))
    return findings


def status_text(exchange: Exchange) -> str:
    """How the target answered, in a few words: the status line, or what went wrong."""
    if exchange.protocol == "h2" and exchange.response is not None:
        ended = ", END_STREAM" if exchange.stream_ended else ""
        return f":status {exchange.response.status}{ended}"
    if exchange.response is not None:
        response = exchange.response
        return f"{response.version} {response.status} {response.reason}".rstrip()
    return str(exchange.error) if exchange.error else "no response"


def _header_text(response: Response, name: str) -> str:
    values = response.get_all(name)
    if not values:
        return f"no {name} header"
    return "; ".join(f"{name}: {_printable(value)}" for value in values)


def _printable(value: str) -> str:
    """``value`` with control characters escaped, so a stray NUL or CR shows in a message."""
    return value if value.isprintable() else value.encode("unicode_escape").decode("ascii")


# --- the 101 -------------------------------------------------------------------------------


@check("status_101")
def status_101(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 6455 §4.2.2 step 5.1: the server accepts with "a 101 response code"."""
    if exchange.response is None or exchange.response.status != 101:
        yield Finding("RFC 6455 §4.2.2: accept the handshake with 101 Switching Protocols",
                      "HTTP/1.1 101 Switching Protocols", status_text(exchange))


@check("no_interim_response")
def no_interim_response(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """WHATWG Fetch: "If response is a network error or its status is not 101, fail the WebSocket
    connection" -- a browser takes the first response it reads as the answer, so ``100 Continue``
    before the 101 fails it (Chromium: "Unexpected response code: 100"), although RFC 9110 §15.2
    has an HTTP client parse and skip such informational responses (the RFC cases do)."""
    if exchange.interim:
        first = exchange.interim[0].split(b"\r\n", 1)[0].decode("latin-1")
        yield Finding("WHATWG Fetch: the first response to a browser's handshake is the 101",
                      "HTTP/1.1 101 Switching Protocols as the first response",
                      f"{_printable(first)} before the final response ({len(exchange.interim)} informational)")


@check("status_line_http11")
def status_line_http11(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 9110 §15.2: a 1xx goes only to HTTP/1.1; RFC 6455 §4.2.2 shows "HTTP/1.1 101"."""
    response = exchange.response
    if response is not None and response.status == 101 and response.version != "HTTP/1.1":
        yield Finding("RFC 6455 §4.2.2: an HTTP/1.1 status line", "HTTP/1.1", response.version)


def _upgraded(exchange: Exchange) -> bool:
    """A 101 (HTTP/1.1), or an accepted extended CONNECT (HTTP/2, RFC 8441: a 2xx, stream open)."""
    return exchange.upgraded


@check("upgrade_websocket")
def upgrade_websocket(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 6455 §4.1: a 101 whose Upgrade is not "websocket" (case-insensitive) fails the connection."""
    if not _upgraded(exchange):
        return
    tokens = exchange.response.tokens("Upgrade")
    if [token.lower() for token in tokens] != ["websocket"]:
        yield Finding("RFC 6455 §4.2.2: Upgrade: websocket on the 101", "Upgrade: websocket",
                      _header_text(exchange.response, "Upgrade"))


@check("connection_upgrade")
def connection_upgrade(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 6455 §4.1: a 101 whose Connection lacks the "Upgrade" token fails the connection."""
    if _upgraded(exchange) and not exchange.response.has_token("Connection", "upgrade"):
        yield Finding("RFC 6455 §4.2.2: Connection: Upgrade on the 101", "Connection: Upgrade",
                      _header_text(exchange.response, "Connection"))


@check("accept_matches")
def accept_matches(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 6455 §4.2.2 step 5.4: Sec-WebSocket-Accept = base64(SHA-1(key + GUID)), once (§11.3.3)."""
    if not _upgraded(exchange):
        return
    key = request.get("Sec-WebSocket-Key") or ""
    expected = accept_for(key)
    values = exchange.response.get_all("Sec-WebSocket-Accept")
    if values != [expected]:
        actual = _header_text(exchange.response, "Sec-WebSocket-Accept")
        yield Finding("RFC 6455 §4.2.2: Sec-WebSocket-Accept derived from the key sent",
                      f"Sec-WebSocket-Accept: {expected} (for Sec-WebSocket-Key: {key})", actual)


@check("no_content_length")
def no_content_length(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 9110 §8.6: "A server MUST NOT send a Content-Length header field in any response with a
    status code of 1xx"."""
    if _upgraded(exchange) and exchange.response.get_all("Content-Length"):
        yield Finding("RFC 9110 §8.6: no Content-Length on a 1xx", "no Content-Length header",
                      _header_text(exchange.response, "Content-Length"))


@check("no_transfer_encoding")
def no_transfer_encoding(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 9112 §6.1: "A server MUST NOT send a Transfer-Encoding header field in any response with
    a status code of 1xx"."""
    if _upgraded(exchange) and exchange.response.get_all("Transfer-Encoding"):
        yield Finding("RFC 9112 §6.1: no Transfer-Encoding on a 1xx", "no Transfer-Encoding header",
                      _header_text(exchange.response, "Transfer-Encoding"))


@check("subprotocol_from_offer")
def subprotocol_from_offer(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 6455 §4.1: a subprotocol "not present in the client's handshake" fails the connection;
    §11.3.4: the header "MUST NOT appear more than once in an HTTP response"."""
    if not _upgraded(exchange):
        return
    offered = request.tokens("Sec-WebSocket-Protocol")
    chosen = exchange.response.get_all("Sec-WebSocket-Protocol")
    expected = f"none, or exactly one of: {', '.join(offered)}" if offered else "no Sec-WebSocket-Protocol header"
    if not chosen:
        return
    value = chosen[0].strip()
    if len(chosen) > 1 or "," in value or value not in offered:
        yield Finding("RFC 6455 §4.1: the subprotocol is one the client offered", expected,
                      _header_text(exchange.response, "Sec-WebSocket-Protocol"))


@check("extensions_from_offer")
def extensions_from_offer(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 6455 §4.1: an extension "not present in the client's handshake" fails the connection."""
    if not _upgraded(exchange):
        return
    offered = {item.split(";")[0].strip().lower() for item in request.tokens("Sec-WebSocket-Extensions")}
    accepted = [item.split(";")[0].strip() for item in exchange.response.tokens("Sec-WebSocket-Extensions")]
    unrequested = [name for name in accepted if name.lower() not in offered]
    if unrequested:
        expected = f"only extensions offered ({', '.join(sorted(offered))})" if offered else "no Sec-WebSocket-Extensions header"
        yield Finding("RFC 6455 §4.1: extensions are ones the client offered", expected,
                      _header_text(exchange.response, "Sec-WebSocket-Extensions"))


UPGRADE_CHECKS = ("status_101", "status_line_http11", "upgrade_websocket", "connection_upgrade", "accept_matches",
                  "subprotocol_from_offer", "extensions_from_offer")


@check("upgraded")
def upgraded(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """A complete, valid acceptance: the 101 and every header a client checks (RFC 6455 §4.1)."""
    for name in UPGRADE_CHECKS:
        yield from CHECKS[name](request, exchange, context)


# --- rejections ----------------------------------------------------------------------------


@check("not_upgraded", refusal=True)
def not_upgraded(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 6455 §4.2.1: for an invalid handshake the server "MUST stop processing the client's
    handshake and return an HTTP response with an appropriate error code"; never a 101."""
    if _upgraded(exchange):
        yield Finding("RFC 6455 §4.2.1: an invalid handshake is not accepted", "no 101 (an HTTP error instead)",
                      status_text(exchange))


@check("clean_error", refusal=True)
def clean_error(request: Request, exchange: Exchange, context: Context, also: tuple[int, ...] = (),
                any_status: bool = False) -> Iterator[Finding]:
    """A complete HTTP error response (4xx, or a status listed in ``also``), not a reset or a hang.

    ``any_status``: any complete non-101 response is clean -- for a request that is not a WebSocket
    handshake at all (a plain GET without ``Upgrade``), which a server may answer with a page."""
    allowed = "a 4xx status" + "".join(f" or {code}" for code in also)
    response = exchange.response
    if response is None:
        yield Finding("RFC 6455 §4.2.1: reject with an HTTP error response",
                      "a complete HTTP response" if any_status else allowed, status_text(exchange))
    elif any_status:
        if response.status == 101:
            yield Finding("RFC 6455 §4.2.1: a request that is not a handshake is not upgraded",
                          "a complete HTTP response other than 101", status_text(exchange))
    elif not (400 <= response.status < 500 or response.status in also):
        yield Finding("RFC 6455 §4.2.1: reject with an HTTP error response", allowed, status_text(exchange))


@check("status_is", refusal=True)
def status_is(request: Request, exchange: Exchange, context: Context, status: tuple[int, ...] = (400,),
              requirement: str = "") -> Iterator[Finding]:
    """The response has one of the given status codes (for rules that name the code)."""
    if exchange.response is None or exchange.response.status not in status:
        expected = " or ".join(str(code) for code in status)
        yield Finding(requirement or f"status {expected}", f"status {expected}", status_text(exchange))


@check("version_advertised", refusal=True)
def version_advertised(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 6455 §4.4: refusing a version, the server sends "a |Sec-WebSocket-Version| header field
    indicating the version(s) the server is capable of understanding"."""
    response = exchange.response
    if response is None:
        yield Finding("RFC 6455 §4.4: an error response carrying Sec-WebSocket-Version",
                      "an HTTP error with Sec-WebSocket-Version: 13", status_text(exchange))
    elif response.status != 101 and "13" not in response.tokens("Sec-WebSocket-Version"):
        yield Finding("RFC 6455 §4.4: an error response carrying Sec-WebSocket-Version",
                      "Sec-WebSocket-Version: 13 on the error response",
                      f"{status_text(exchange)} with {_header_text(response, 'Sec-WebSocket-Version')}")


@check("allow_on_405", refusal=True)
def allow_on_405(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 9110 §15.5.6: "The origin server MUST generate an Allow header field in a 405 response"."""
    response = exchange.response
    if response is not None and response.status == 405 and not response.get_all("Allow"):
        yield Finding("RFC 9110 §15.5.6: a 405 carries Allow", "Allow: GET", "no Allow header")


@check("upgrade_listed_in_connection", refusal=True)
def upgrade_listed_in_connection(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 9110 §7.8: "A sender of Upgrade MUST also send an "Upgrade" connection option in the
    Connection header field" (so intermediaries do not forward it) — on error responses too."""
    response = exchange.response
    if response is not None and response.get_all("Upgrade") and not response.has_token("Connection", "upgrade"):
        yield Finding("RFC 9110 §7.8: Upgrade is listed in Connection", "Connection: upgrade (e.g. Connection: Upgrade, close)",
                      f"{_header_text(response, 'Upgrade')} with {_header_text(response, 'Connection')}")


@check("upgrade_on_426", refusal=True)
def upgrade_on_426(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 9110 §15.5.22: "The server MUST send an Upgrade header field in a 426 response"."""
    response = exchange.response
    if response is not None and response.status == 426 and not response.has_token("Upgrade", "websocket"):
        yield Finding("RFC 9110 §15.5.22: a 426 names the protocol to upgrade to", "Upgrade: websocket",
                      _header_text(response, "Upgrade"))


# --- after the 101 -------------------------------------------------------------------------


def _tunnel_ready(exchange: Exchange, what: str) -> Iterator[Finding]:
    if not _upgraded(exchange):
        if exchange.protocol == "h2":
            yield Finding(f"RFC 8441 §5: an accepted extended CONNECT before {what}",
                          ":status 200, the stream left open", status_text(exchange))
        else:
            yield Finding(f"a 101 before {what}", "HTTP/1.1 101 Switching Protocols", status_text(exchange))


def _frames_text(exchange: Exchange) -> str:
    received = ", ".join(frame.describe() for frame in exchange.frames) or "no frames"
    return received + (f"; {exchange.frame_error}" if exchange.frame_error else "")


@check("early_bytes_are_frames")
def early_bytes_are_frames(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 6455 §4.2.2 / §5.2: after the 101 the connection carries frames, not more HTTP."""
    yield from _tunnel_ready(exchange, "frames")
    if _upgraded(exchange) and exchange.early:
        try:
            wsframes.decode(exchange.early)
        except wsframes.FrameError as exc:
            yield Finding("RFC 6455 §5.2: bytes after the 101 are WebSocket frames", "valid frames",
                          f"{exc}: {exchange.early[:60]!r}")


@check("server_frames_unmasked")
def server_frames_unmasked(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 6455 §5.1: "A server MUST NOT mask any frames that it sends to the client"."""
    masked = [frame for frame in exchange.frames if frame.masked]
    if masked:
        yield Finding("RFC 6455 §5.1: server frames are not masked", "unmasked frames", _frames_text(exchange))


@check("pong_answers_ping")
def pong_answers_ping(request: Request, exchange: Exchange, context: Context, payload: str = "") -> Iterator[Finding]:
    """RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in
    response"; §5.5.3: with "identical Application data"."""
    yield from _tunnel_ready(exchange, "a ping")
    pongs = [frame for frame in exchange.frames if frame.opcode == wsframes.PONG]
    if not _upgraded(exchange) or any(frame.payload == payload.encode() for frame in pongs):
        return
    if pongs:  # answered, but not with the ping's data: §5.5.3's rule, not §5.5.2's
        yield Finding("RFC 6455 §5.5.3: the pong carries the ping's Application data", f"pong frame with payload "
                      f"{payload!r}", "; ".join(f"pong with payload {frame.payload[:40]!r}" for frame in pongs))
    else:
        yield Finding("RFC 6455 §5.5.2: a pong answers the ping", f"pong frame with payload {payload!r}",
                      _frames_text(exchange))


@check("server_fragments_valid")
def server_fragments_valid(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 6455 §5.4: a fragmented message is a first frame with FIN clear, continuations, and a
    final continuation with FIN set; "The fragments of one message MUST NOT be interleaved between
    the fragments of another message". The server's data frames must form such sequences (control
    frames may stand between fragments); how the server splits or coalesces them is free."""
    yield from _tunnel_ready(exchange, "frames")
    if not _upgraded(exchange):
        return
    wrong, open_message = [], False
    for index, frame in enumerate(exchange.frames, 1):
        if frame.opcode >= wsframes.CLOSE:
            continue
        if frame.opcode == wsframes.CONTINUATION and not open_message:
            wrong.append(f"frame {index}: a continuation frame with no message to continue")
        elif frame.opcode != wsframes.CONTINUATION and open_message:
            wrong.append(f"frame {index}: a new {frame.describe()} before the fragmented message ended")
        open_message = not frame.fin
    if wrong:
        yield Finding("RFC 6455 §5.4: fragments form whole messages, one message at a time",
                      "data frames: a first frame, continuation frames, the last with FIN",
                      "; ".join(wrong[:3]) + f" ({_frames_text(exchange)})")


@check("close_answered")
def close_answered(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 6455 §5.5.1: "If an endpoint receives a Close frame and did not previously send a Close
    frame, the endpoint MUST send a Close frame in response"."""
    yield from _tunnel_ready(exchange, "the closing handshake")
    if _upgraded(exchange) and not any(frame.opcode == wsframes.CLOSE for frame in exchange.frames):
        yield Finding("RFC 6455 §5.5.1: a close frame answers the close frame", "close frame", _frames_text(exchange))


#: RFC 6455 §7.4.1's codes an endpoint may send, and the IANA registry's additions (1012-1014).
#: 1004 is reserved; 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close control
#: frame by an endpoint"; 0-999 "are not used"; 1016-2999 are unassigned (§7.4.2: "reserved for
#: definition by this protocol"). 3000-4999 are for libraries, frameworks and private use.
SENDABLE_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


def close_code_problem(payload: bytes) -> str | None:
    """Why a close frame's body is not one an endpoint may send (RFC 6455 §5.5.1, §7.4), or None."""
    if not payload:
        return None  # §5.5.1: "The Close frame MAY contain a body"
    if len(payload) == 1:
        return "a 1-byte body (the status code takes 2 bytes)"
    code = int.from_bytes(payload[:2], "big")
    if code not in SENDABLE_CLOSE_CODES and not 3000 <= code <= 4999:
        why = ("reserved: never sent on the wire" if code in (1005, 1006, 1015) else
               "not used" if code < 1000 else "reserved" if code == 1004 else "unassigned")
        return f"status code {code} ({why})"
    try:
        payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        return f"status code {code} with a reason that is not UTF-8: {payload[2:42]!r}"
    return None


@check("close_code_valid")
def close_code_valid(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 6455 §7.4.1: 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close control
    frame by an endpoint"; §7.4.2: 0-999 "are not used", 1000-2999 are defined by the protocol
    (the IANA registry), 3000-4999 are registered or private; §5.5.1: a body starts with the 2-byte
    code, and the reason after it is UTF-8. The server's close frames must carry such a code (any
    one: "When sending a Close frame in response, the endpoint typically echos the status code it
    received", typically, not must)."""
    yield from _tunnel_ready(exchange, "the closing handshake")
    if not _upgraded(exchange):
        return
    closes = [frame for frame in exchange.frames if frame.opcode == wsframes.CLOSE]
    problems = [problem for frame in closes if (problem := close_code_problem(frame.payload))]
    if problems:
        yield Finding("RFC 6455 §7.4: the close frame carries a status code an endpoint may send",
                      "no body, or 1000-1003, 1007-1014 or 3000-4999 (then a UTF-8 reason)",
                      "close frame with " + "; ".join(problems))


@check("invalid_text_fails_connection")
def invalid_text_fails_connection(request: Request, exchange: Exchange, context: Context,
                                  text_hex: str = "") -> Iterator[Finding]:
    """RFC 6455 §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that the
    byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket
    Connection_" (§7.1.7: close the connection, after a Close frame where it can). The invalid
    text must not come back, and the connection must end: a close frame or the TCP connection
    closed. Whoever fails it may be the gateway or, through a relaying gateway, the backend."""
    yield from _tunnel_ready(exchange, "a text message")
    if not _upgraded(exchange):
        return
    payload = bytes.fromhex(text_hex)
    echoed = any(m.opcode == wsframes.TEXT and m.payload == payload
                 for m in wsframes.messages(exchange.frames, _deflate(exchange)))
    # a reset is the connection failed too: "_Fail the WebSocket Connection_" closes it, abruptly or not
    reset = exchange.frame_error is not None and exchange.frame_error.kind == "reset"
    closed = any(frame.opcode == wsframes.CLOSE for frame in exchange.frames) or exchange.closed_by_peer or reset
    if echoed or not closed:
        yield Finding("RFC 6455 §8.1: invalid UTF-8 in a text message fails the connection",
                      "a close frame (1007) or the connection closed, the invalid text not delivered back",
                      ("the invalid text came back as a text message; " if echoed else "the connection stayed open; ")
                      + _frames_text(exchange))


@check("close_code_is")
def close_code_is(request: Request, exchange: Exchange, context: Context, code: int = 1000,
                  why: str = "") -> Iterator[Finding]:
    """The server's close frame carries status code ``code`` (RFC 6455 §7.4.1), e.g. 1007 after
    invalid UTF-8: "1007 indicates that an endpoint is terminating the connection because it has
    received data within a message that was not consistent with the type of the message (e.g.,
    non-UTF-8 [RFC3629] data within a text message)"."""
    yield from _tunnel_ready(exchange, "the closing handshake")
    if not _upgraded(exchange):
        return
    closes = [frame for frame in exchange.frames if frame.opcode == wsframes.CLOSE]
    codes = [int.from_bytes(frame.payload[:2], "big") for frame in closes if len(frame.payload) >= 2]
    if code not in codes:
        got = (f"close frame with status code {', '.join(map(str, codes))}" if codes else
               "close frame without a status code" if closes else
               "no close frame (the TCP connection was closed)" if exchange.closed_by_peer else "no close frame")
        yield Finding(f"RFC 6455 §7.4.1: a close frame with {code}" + (f" ({why})" if why else ""),
                      f"close frame with status code {code}", f"{got}; {_frames_text(exchange)}")


@check("server_closes_tcp")
def server_closes_tcp(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 6455 §7.1.1: after the closing handshake the TCP connection "SHOULD be closed first by
    the server"; over HTTP/2 the stream, by END_STREAM (RFC 8441 §5)."""
    yield from _tunnel_ready(exchange, "the closing handshake")
    closed = any(frame.opcode == wsframes.CLOSE for frame in exchange.frames)
    if exchange.protocol == "h2":  # RFC 8441 §5: END_STREAM is the stream's orderly TCP close
        if _upgraded(exchange) and closed and not exchange.end_stream:
            yield Finding("RFC 8441 §5: the server ends the stream (END_STREAM) after the closing handshake",
                          "END_STREAM after the close frames",
                          "no END_STREAM: the connection was dropped instead" if exchange.closed_by_peer
                          else "the stream stayed open")
    elif _upgraded(exchange) and closed and not exchange.closed_by_peer:
        yield Finding("RFC 6455 §7.1.1: the server closes the TCP connection", "EOF after the close frames",
                      "the connection stayed open")


@check("echo")
def echo(request: Request, exchange: Exchange, context: Context, text: str | None = None,
         binary: str | None = None, times: int = 1) -> Iterator[Finding]:
    """The endpoint echoes a message (opt-in: only echo endpoints are expected to); ``times``: a
    message sent that many times comes back that many times."""
    yield from _tunnel_ready(exchange, "a message")
    opcode, payload = (wsframes.TEXT, text.encode()) if text is not None else (wsframes.BINARY, bytes.fromhex(binary or ""))
    if not _upgraded(exchange):
        return
    # The echo may follow unsolicited messages (a greeting, a banner): it is found among them.
    found = wsframes.messages(exchange.frames, _deflate(exchange))
    if sum(message.opcode == opcode and message.payload == payload for message in found) < times:
        kind = wsframes.OPCODE_NAMES[opcode]
        got = "; ".join(f"{wsframes.OPCODE_NAMES[m.opcode]} message {m.payload[:40]!r}"
                        + (" (compressed)" if m.compressed else "") + (f" ({m.error})" if m.error else "")
                        for m in found[:5])
        yield Finding("the message comes back through the tunnel", f"{kind} message {payload[:40]!r}"
                      + (f", {times} times" if times > 1 else ""),
                      (got + "; " if got else "") + _frames_text(exchange))


@check("sized_echo")
def sized_echo(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """Large messages (the size ladder, the backpressure flood) come back byte-identical, or a
    limit is announced cleanly: a close frame with 1009 ("a message that is too big for it to
    process", RFC 6455 §7.4.1) or 1001 (going away) is a limit the report shows, not a failure,
    unless ``--gateway-max-message`` declares that the API must carry that size. A message that
    vanishes (no answer within the timeout), comes back altered, or ends in a reset, a TCP close
    without a close frame or another close code always fails."""
    yield from _tunnel_ready(exchange, "large messages")
    if not _upgraded(exchange):
        return
    if not exchange.sized:
        yield Finding("the large messages are sent through the tunnel", "the tunnel open for the first message",
                      _frames_text(exchange))
        return
    declared = context.max_message
    for record in exchange.sized:
        if record.outcome == "intact" and record.intact == record.count:
            continue
        what = (f"the {record.kind} message of {record.size:,} bytes" if record.count == 1 else
                f"{record.count} {record.kind} messages of {record.size:,} bytes, in order")
        if record.outcome == "limit" and (declared is None or record.size > declared):
            continue  # a limit enforced cleanly: reported (JUnit property, reports), not failed
        controls = ", ".join(frame.describe() for frame in exchange.frames)
        actual = record.describe() + (f"; control frames: {controls}" if controls else "")
        if record.outcome == "limit":
            yield Finding(f"--gateway-max-message {declared}: the API carries messages of up to {declared:,} bytes",
                          f"{what} back intact", f"{actual}: a limit below the declared size")
        elif record.count > 1:
            yield Finding("RFC 6455 §1.2: a client that reads late is held back by TCP flow control, not cut off",
                          f"{what} back intact, or a close frame with 1009 or 1001", actual)
        else:
            yield Finding("RFC 6455 §7.4.1: a message comes back whole, or a limit is announced with a close frame "
                          "(1009)", f"{what} back intact, or a close frame with 1009 or 1001", actual)
        return  # the first one that did not come back ends the ladder


def _deflate(exchange: Exchange) -> wsframes.Deflate | None:
    return wsframes.negotiated_deflate(exchange.response.get_all("Sec-WebSocket-Extensions"))


#: Why a ``deflate_negotiated`` case has nothing to judge (the runner skips it with this reason).
DEFLATE_NOT_NEGOTIATED = ("permessage-deflate not negotiated: the 101 declined the offer (RFC 7692 §5: the upgrade "
                          "goes on without it), so no compressed message can be judged -- information, not a pass")


@check("deflate_negotiated")
def deflate_negotiated(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """The 101 accepted permessage-deflate. Declining it is allowed (RFC 7692 §5: "the server
    declines ... by not including" it), so a case that needs it is skipped, not failed, when it is
    declined (:func:`deflate_not_negotiated`); this finding shows when the check is judged alone."""
    if _upgraded(exchange) and _deflate(exchange) is None:
        yield Finding("RFC 7692 §5: permessage-deflate negotiated (needed to judge compressed messages)",
                      "Sec-WebSocket-Extensions: permessage-deflate in the 101",
                      _header_text(exchange.response, "Sec-WebSocket-Extensions"))


def deflate_not_negotiated(expect: tuple[tuple[str, dict], ...], exchange: Exchange | None) -> str | None:
    """Why a case that expects ``deflate_negotiated`` cannot be judged on ``exchange`` (the 101
    declined permessage-deflate), or None."""
    if exchange is None or not any(name == "deflate_negotiated" for name, _ in expect):
        return None
    if _upgraded(exchange) and _deflate(exchange) is None:
        return DEFLATE_NOT_NEGOTIATED
    return None


@check("reserved_bits")
def reserved_bits(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 6455 §5.2: RSV1-3 "MUST be 0 unless an extension is negotiated that defines meanings for
    non-zero values"; RFC 7692 §6: permessage-deflate gives RSV1 a meaning on the first frame of a
    data message only ("An endpoint MUST NOT set the 'Per-Message Compressed' bit of control frames
    and non-first fragments of a data message")."""
    yield from _tunnel_ready(exchange, "frames")
    if not _upgraded(exchange):
        return
    deflate = _deflate(exchange) is not None
    wrong = []
    first = True  # the next data frame starts a message
    for frame in exchange.frames:
        allowed = 0x4 if deflate and frame.opcode in (wsframes.TEXT, wsframes.BINARY) and first else 0
        if frame.rsv & ~allowed:
            wrong.append(f"{frame.describe(rsv=False)} with RSV bits {frame.rsv:03b}")
        if frame.opcode < wsframes.CLOSE:
            first = frame.fin
    if wrong:
        expected = ("RSV1 only on the first frame of a compressed message (permessage-deflate)" if deflate
                    else "RSV1, RSV2 and RSV3 all 0 (no extension negotiated)")
        yield Finding("RFC 6455 §5.2: reserved bits are 0 unless a negotiated extension defines them", expected,
                      "; ".join(wrong[:5]) + (f" (and {len(wrong) - 5} more)" if len(wrong) > 5 else ""))


@check("idle_survived")
def idle_survived(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """The connection stayed open through the declared quiet time (``--gateway-idle``), and a ping
    sent then got its pong (RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send
    a Pong frame in response"). When it was cut earlier, the finding says after how many seconds."""
    yield from _tunnel_ready(exchange, "the quiet time")
    if not _upgraded(exchange):
        return
    declared = exchange.idle_declared
    if declared is None:
        yield Finding("the connection stays open through the declared idle time", "the quiet time observed",
                      "the quiet time never began; " + _frames_text(exchange))
        return
    if exchange.idle_cut is not None:
        yield Finding(f"the connection stays open through {declared:g} s of quiet (--gateway-idle)",
                      f"still open after {declared:g} s of quiet, then a pong",
                      f"cut after {exchange.idle_cut:.1f} s of quiet ({exchange.idle_cut_how}); observed idle "
                      f"cut-off: {exchange.idle_cut:.1f} s")
        return
    if not any(frame.opcode == wsframes.PONG and frame.payload == wsframes.IDLE_PING for frame in exchange.frames):
        yield Finding(f"RFC 6455 §5.5.2: after {declared:g} s of quiet a ping gets its pong",
                      f"pong frame with payload {wsframes.IDLE_PING!r}", _frames_text(exchange))


@check("refused_cleanly_or_tunnel_works", refusal=True)
def refused_cleanly_or_tunnel_works(request: Request, exchange: Exchange, context: Context,
                                    payload: str = "") -> Iterator[Finding]:
    """RFC 9110 §9.3.1 leaves a GET body to the server: either refuse it with a clean HTTP error,
    or upgrade after consuming the body by its framing, so the tunnel carries frames (the ping
    sent after the 101 gets its pong). Reading the body as frames is the request-smuggling bug."""
    if not _upgraded(exchange):
        yield from clean_error(request, exchange, context)
        return
    pongs = [frame for frame in exchange.frames if frame.opcode == wsframes.PONG]
    if not any(frame.payload == payload.encode() for frame in pongs):
        yield Finding("RFC 9110 §9.3.1: a request body is refused, or consumed before the tunnel starts",
                      f"a clean HTTP error, or after the 101 a pong frame with payload {payload!r}",
                      f"HTTP/1.1 101, then {_frames_text(exchange)}")


# --- TLS and the API definition -------------------------------------------------------------


@check("tls_verified")
def tls_verified(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 6455 §4.1 (wss): TLS runs before the handshake; the certificate is checked for the host
    (RFC 9110 §4.3.4)."""
    if exchange.tls is None:
        yield Finding("RFC 6455 §4.1: a TLS connection for wss", "TLS", "plain TCP")
    elif not exchange.tls.verified:
        yield Finding("RFC 9110 §4.3.4: the certificate is verified", "a verified certificate",
                      "verification was turned off")


@check("alpn_http11")
def alpn_http11(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 7301 §3.2 / RFC 8441: offered only "http/1.1", the server selects it or no protocol."""
    if exchange.tls is not None and exchange.tls.alpn not in (None, "http/1.1"):
        yield Finding("RFC 7301 §3.2: ALPN selects an offered protocol", "http/1.1 or none", exchange.tls.alpn)


@check("api_lists_scheme", offline=True)
def api_lists_scheme(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """The API definition lists the scheme under test in ``schemes`` (API Connect needs ``wss``)."""
    if context.api is not None and context.scheme not in context.api.schemes:
        yield Finding(f"the API definition lists {context.scheme} in schemes", f"schemes including {context.scheme}",
                      f"schemes: [{', '.join(context.api.schemes)}] in {context.api.source}")


@check("api_declares_path", offline=True)
def api_declares_path(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """The tested path is basePath + one of ``paths`` of the API definition (a gateway prefix such as
    /org/catalog may stand before it)."""
    if context.api is not None and not context.api.declares(context.path):
        yield Finding("the API definition declares the tested path", " or ".join(context.api.routes()) or "a route",
                      f"{context.path} (from {context.api.source})")


# --- what a browser checks beyond RFC 6455 (WHATWG Fetch / WebSockets, RFC 7692) ----------------
# Appended by the browser-agreement work (issue 8); the catalogue uses these in 07-browser.yaml.
# A browser applies the RFC 6455 §4.1 checks above plus these; see docs/browser-strictness.md.


def _selected_subprotocols(exchange: Exchange) -> list[str]:
    return [value.strip() for value in exchange.response.get_all("Sec-WebSocket-Protocol")]


@check("subprotocol_selected")
def subprotocol_selected(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """WHATWG Fetch, establish a WebSocket connection: "If protocols is not the empty list and
    extracting header list values given `Sec-WebSocket-Protocol` and response's header list are
    null, failure, or the empty byte sequence, then fail" -- stricter than RFC 6455, which lets a
    server answer an offer without choosing."""
    if not _upgraded(exchange):
        return
    offered = request.tokens("Sec-WebSocket-Protocol")
    if offered and not any(_selected_subprotocols(exchange)):
        yield Finding("WHATWG Fetch: a browser that offered subprotocols needs one selected",
                      f"Sec-WebSocket-Protocol: one of {', '.join(offered)}",
                      _header_text(exchange.response, "Sec-WebSocket-Protocol"))


@check("subprotocol_spoken")
def subprotocol_spoken(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """The 101 selects the subprotocol the API speaks (``Context.subprotocols``, from
    --gateway-subprotocol) when the client offered it, and none when the client offered only
    subprotocols the API does not speak (RFC 6455 §4.2.2: "one of the values ... that the server
    is willing to use"). A browser then refuses the connection; that is the correct outcome."""
    if not _upgraded(exchange):
        return
    offered = request.tokens("Sec-WebSocket-Protocol")
    spoken = [name for name in offered if name in context.subprotocols]
    selected = _selected_subprotocols(exchange)
    actual = _header_text(exchange.response, "Sec-WebSocket-Protocol")
    if spoken and (len(selected) != 1 or selected[0] not in spoken):
        yield Finding("RFC 6455 §4.2.2: the server selects the offered subprotocol it speaks",
                      f"Sec-WebSocket-Protocol: {' or '.join(spoken)}", actual)
    elif not spoken and selected:
        yield Finding("RFC 6455 §4.2.2: no subprotocol the API does not speak is selected",
                      "no Sec-WebSocket-Protocol header (a browser then refuses the connection, "
                      "which is correct for an offer the API does not speak)", actual)


_DEFLATE_FLAGS = ("server_no_context_takeover", "client_no_context_takeover")
_DEFLATE_BITS = ("server_max_window_bits", "client_max_window_bits")


def _window_bits(value: str | None) -> int | None:
    """RFC 7692 §7.1.2: "a decimal integer value without leading zeroes between 8 to 15"."""
    if value and value.isascii() and value.isdigit() and value[0] != "0" and 8 <= int(value) <= 15:
        return int(value)
    return None


def _answers_offer(offer: list[tuple[str, str | None]], answer: list[tuple[str, str | None]]) -> list[str]:
    """Why ``answer`` does not accept ``offer`` (RFC 7692 §7.1.1.1, §7.1.2.1, §7.1.2.2); [] if it does."""
    offered, answered = dict(offer), dict(answer)
    problems = []
    if "server_no_context_takeover" in offered and "server_no_context_takeover" not in answered:
        problems.append("server_no_context_takeover was offered but is missing (§7.1.1.1: accept it by "
                        "including it, or decline the offer)")
    if "server_max_window_bits" in offered:
        limit, given = _window_bits(offered["server_max_window_bits"]), _window_bits(answered.get("server_max_window_bits"))
        if limit is not None and (given is None or given > limit):
            problems.append(f"server_max_window_bits={limit} was offered; the answer needs the same or a smaller "
                            f"value (§7.1.2.1)")
    if "client_max_window_bits" in answered:
        limit, given = _window_bits(offered.get("client_max_window_bits")), _window_bits(answered["client_max_window_bits"])
        if "client_max_window_bits" not in offered:
            problems.append("client_max_window_bits, which this offer did not carry (§7.1.2.2)")
        elif limit is not None and given is not None and given > limit:
            problems.append(f"client_max_window_bits={given} above the offered {limit} (§7.1.2.2)")
    return problems


@check("deflate_declined")
def deflate_declined(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 7692 §5.1: "A server MUST decline an extension negotiation offer for this extension if any
    of the following conditions are met: The negotiation offer contains an extension parameter not
    defined for use in an offer. The negotiation offer contains an extension parameter with an
    invalid value. The negotiation offer contains multiple extension parameters with the same name."
    Declining means upgrading without the extension, not refusing the handshake."""
    if not _upgraded(exchange):
        return
    accepted = [name for name, _ in extension_elements(exchange.response.get_all("Sec-WebSocket-Extensions"))]
    if "permessage-deflate" in accepted:
        yield Finding("RFC 7692 §5.1: an invalid permessage-deflate offer is declined",
                      "no permessage-deflate in Sec-WebSocket-Extensions (the upgrade goes on without it)",
                      _header_text(exchange.response, "Sec-WebSocket-Extensions"))


@check("deflate_response_valid")
def deflate_response_valid(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 7692 §7: a client MUST fail the connection if the accepted permessage-deflate has "an
    extension parameter not defined for use in a response", "an extension parameter with an
    invalid value" or "multiple extension parameters with the same name"; §7.1.2.1/§7.1.2.2: window
    bits are 8..15, and client_max_window_bits needs a value and may only answer an offer that
    carried it; §5.1: one permessage-deflate (they would share RSV1)."""
    if not _upgraded(exchange):
        return
    accepted = [(name, params) for name, params in
                extension_elements(exchange.response.get_all("Sec-WebSocket-Extensions"))
                if name == "permessage-deflate"]
    if not accepted:
        return
    offers = [params for name, params in extension_elements(request.get_all("Sec-WebSocket-Extensions"))
              if name == "permessage-deflate"]
    client_bits_offered = any(key == "client_max_window_bits" for params in offers for key, _ in params)
    problems = []
    if len(accepted) > 1:
        problems.append(f"permessage-deflate accepted {len(accepted)} times")
    for _, params in accepted:
        names = [key for key, _ in params]
        problems += [f"{key} twice" for key in sorted(set(names)) if names.count(key) > 1]
        for key, value in params:
            if key in _DEFLATE_FLAGS and value is not None:
                problems.append(f"{key}={value} (takes no value)")
            elif key in _DEFLATE_BITS:
                if value is None and key == "client_max_window_bits":
                    problems.append("client_max_window_bits without a value")
                elif value is not None and not _window_bits(value):
                    problems.append(f"{key}={value} (not 8..15)")
                elif key == "client_max_window_bits" and not client_bits_offered:
                    problems.append("client_max_window_bits, which the offer did not carry")
            elif key not in _DEFLATE_FLAGS:
                problems.append(f"unknown parameter {key}")
    if not problems and offers and len(accepted) == 1:
        fits = [_answers_offer(offer, accepted[0][1]) for offer in offers]
        if all(fits):  # no offer is answered: name what the first (the preferred) one needed
            problems += fits[0]
    if problems:
        yield Finding("RFC 7692 §7: the accepted permessage-deflate is one the client offered and can use",
                      "permessage-deflate with valid response parameters (RFC 7692 §7.1), or no extension",
                      f"{_header_text(exchange.response, 'Sec-WebSocket-Extensions')} ({'; '.join(problems)})")



# --- HTTP/2: extended CONNECT (RFC 8441) --------------------------------------------------------

#: RFC 8441 §3: the SETTINGS parameter that offers extended CONNECT.
ENABLE_CONNECT_PROTOCOL = 8


def h2_not_offered(exchange: Exchange | None) -> str | None:
    """Why WebSockets over HTTP/2 cannot be tried on this exchange's server, or None when offered:
    no HTTP/2 at all (ALPN, no SETTINGS), or SETTINGS without ENABLE_CONNECT_PROTOCOL = 1."""
    if exchange is None or exchange.protocol != "h2":
        return None
    if exchange.settings is None:
        if exchange.error is not None and exchange.error.kind == "not-h2":
            return f"RFC 8441 not offered: {exchange.error}"
        return None  # no SETTINGS for another reason (timeout, reset): not a verdict on the offer
    if exchange.settings.get(ENABLE_CONNECT_PROTOCOL) != 1:
        value = exchange.settings.get(ENABLE_CONNECT_PROTOCOL)
        shown = "absent" if value is None else f"= {value}"
        return (f"RFC 8441 not offered: the server's SETTINGS do not enable extended CONNECT "
                f"(SETTINGS_ENABLE_CONNECT_PROTOCOL {shown})")
    return None


def _settings_text(exchange: Exchange) -> str:
    if exchange.settings is None:
        return str(exchange.error) if exchange.error else "no SETTINGS frame"
    return "SETTINGS " + (", ".join(f"{key}={value}" for key, value in sorted(exchange.settings.items())) or "(empty)")


@check("connect_protocol_advertised")
def connect_protocol_advertised(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 8441 §3: "a client MUST NOT send [the :protocol pseudo-header] unless [the server] has
    sent SETTINGS_ENABLE_CONNECT_PROTOCOL with a value of 1"."""
    if exchange.settings is None or exchange.settings.get(ENABLE_CONNECT_PROTOCOL) != 1:
        yield Finding("RFC 8441 §3: the server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL = 1",
                      "SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8) = 1", _settings_text(exchange))


@check("h2_accepted")
def h2_accepted(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 8441 §5: the server accepts with a 2xx and the stream stays open for the WebSocket."""
    if not _upgraded(exchange):
        yield Finding("RFC 8441 §5: a 200 answers the extended CONNECT and the stream stays open",
                      ":status 200 without END_STREAM", status_text(exchange))


@check("h2_not_101")
def h2_not_101(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 9113 §8.6: "HTTP/2 removes support for the 101 (Switching Protocols) informational status code"."""
    seen = [exchange.response.status] if exchange.response is not None else []
    for head in exchange.interim:
        try:
            seen.append(h2_response(h2_fields(head)).status)
        except MalformedMessage:
            pass
    if 101 in seen:
        yield Finding("RFC 9113 §8.6: no 101 over HTTP/2", "no :status 101 (200 accepts an extended CONNECT)",
                      ":status 101")


@check("h2_lowercase_fields")
def h2_lowercase_fields(request: Request, exchange: Exchange, context: Context) -> Iterator[Finding]:
    """RFC 9113 §8.2.1: "A field name MUST NOT contain characters in the ranges 0x00-0x20, 0x41-0x5a
    [uppercase], or 0x7f-0xff"."""
    if exchange.response is None:
        return
    bad = [name for name, _ in exchange.response.headers
           if any(ch <= " " or "A" <= ch <= "Z" or ch >= "\x7f" for ch in name)]
    if bad:
        yield Finding("RFC 9113 §8.2.1: response field names are lowercase", "lowercase field names",
                      ", ".join(_printable(name) for name in bad))


@check("h2_refused", refusal=True)
def h2_refused(request: Request, exchange: Exchange, context: Context, reset: bool = True) -> Iterator[Finding]:
    """The extended CONNECT is refused: a 4xx/5xx, or (``reset``) a stream error (RST_STREAM) or a
    connection error (GOAWAY) -- never a 2xx that opens the tunnel."""
    response = exchange.response
    if response is not None and response.status >= 400:
        return
    if response is None and reset and exchange.error is not None and exchange.error.kind in ("stream-reset", "h2"):
        return
    expected = "a 4xx/5xx" + (", or RST_STREAM / GOAWAY" if reset else "")
    yield Finding("the malformed or unsupported extended CONNECT is refused", expected, status_text(exchange))


@check("second_stream_works")
def second_stream_works(request: Request, exchange: Exchange, context: Context, payload: str = "") -> Iterator[Finding]:
    """RFC 9113 §5: "A single HTTP/2 connection can contain multiple concurrently open streams": a
    second extended CONNECT on the connection, while the first WebSocket is open, is accepted and
    carries its own ping/pong (envoy#38645)."""
    yield from _tunnel_ready(exchange, "a second stream")
    if not _upgraded(exchange):
        return
    second = exchange.second
    if second is None or not second.upgraded:
        yield Finding("RFC 9113 §5: a second WebSocket stream on the same connection is accepted",
                      ":status 200 on the second stream, left open",
                      status_text(second) if second is not None else "no second stream was opened")
        return
    if not any(frame.opcode == wsframes.PONG and frame.payload == payload.encode() for frame in second.frames):
        yield Finding("RFC 6455 §5.5.2 on the second stream: a pong answers its ping",
                      f"pong frame with payload {payload!r}", _frames_text(second))
