"""Fault profiles: the reference server made wrong in one small, named way.

Each profile mirrors one mistake seen in real servers and gateways (the public issue named in
``seen`` where one exists) and changes nothing else: the rest of the handshake and the tunnel
stay correct. A profile is behaviour and its description only; which cases must catch it (its
``caught_by``) and which others legitimately fail too (its ``collateral``, with reasons) are
expectations about the suite, kept beside the tests in ``tests/expected_verdicts/faults.yaml``.
``tests/test_mutation.py`` holds every profile to them; ``docs/fault-profiles.md`` is generated
from this registry and that file.

Use: ``ServerConfig(fault="gatewayscript")`` (a name or a :class:`Fault`), the CLI's
``wsgateway-server --fault NAME`` (``--list-faults``), or the ``wsgateway_fault`` fixture.

How a profile reaches into the server (each a small seam in :mod:`.server`, called on every
connection). :data:`STRICT`, the profile of the correct server (``ServerConfig(fault=None)``),
runs the strict code unchanged through the same seams; it is not one of the :data:`FAULTS`.

* ``ignores`` -- request rules the faulty server does not check. The request is *normalised*
  for exactly those rules (e.g. the method set to GET for ``"method"``) and then judged by the
  strict :func:`.http.validate_upgrade`, so every other rule still holds; a key replaced for
  validation still gets the ``Sec-WebSocket-Accept`` computed from the key that was sent.
* ``refuses`` -- an extra, wrong rejection of a valid request (a too-strict server).
* ``respond`` -- rewrites the response head (the 101 or an error) before it is written; the
  server's only response-rewrite seam (tests build a :class:`Fault` with just ``respond`` to
  change responses their own way).
* ``delay_101``, ``close_after_101``, ``drop_opcodes`` -- timing and the frames after the 101.
* ``rewrite_frame`` -- rewrites one outgoing frame after the 101 (a pong's payload, a close code).
* ``ping_ends_message``, ``utf8_unchecked`` -- how the echo handles a ping between fragments and
  invalid UTF-8 in a text message.
* ``split_compressed_echo``, ``keeps_context`` (:meth:`Fault.extension`) -- permessage-deflate:
  the echo of a compressed message in fragments, the compression context kept against the 101.
* ``idle_cut`` (:meth:`Fault.idle_limit`) -- how long an open WebSocket may stay quiet.
* ``drop_above``, ``limit_above``, ``reset_on_half_close``, ``reset_under_backpressure`` -- large
  messages, the TCP half-close and a slow reader; ``refragment`` -- how the echo is framed (legal:
  :data:`LEGAL`).

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
from collections.abc import Callable, Collection, Sequence
from typing import Any

from .http import (
    REASONS,
    Accept,
    HttpError,
    HttpResponse,
    Reject,
    Request,
    compute_accept,
    error_response,
    parse_request_head,
    split_list,
    validate_upgrade,
)
from .http2 import H2_RULES, H2Response

__all__ = ["Fault", "FAULTS", "LEGAL", "STRICT", "RULES", "get", "resolve", "names"]

#: Request rules a profile may ignore (see :func:`_normalise`).
RULES = (
    "http-version", "host", "body", "method", "upgrade", "connection",
    "key", "key-duplicated", "key-length", "key-base64", "version", "offers",
)

_PLACEHOLDER_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # any valid key; only used to pass validation


@dataclasses.dataclass(frozen=True)
class Fault:
    """One named deviation from RFC 6455 (or, for :data:`STRICT`, none)."""

    name: str
    #: The mistake, in one or two sentences (what the server does, who does it).
    doc: str
    #: Where it is seen: public issues (from docs/field notes), or "" when none is known.
    seen: str
    ignores: frozenset[str] = frozenset()
    refuses: Callable[[Request], str | None] | None = None
    respond: Callable[[Request | None, HttpResponse], HttpResponse] | None = None
    delay_101: float = 0.0
    close_after_101: bool = False
    drop_opcodes: frozenset[int] = frozenset()
    #: One serialized server frame -> the frame to write instead (see :func:`_rewrite_control`).
    rewrite_frame: Callable[[bytes], bytes] | None = None
    #: A ping between fragments ends the message: the fragments so far are echoed as a whole
    #: message, the ones after the ping are relayed as continuation frames of no message.
    ping_ends_message: bool = False
    #: Text messages are echoed without checking that they are UTF-8.
    utf8_unchecked: bool = False
    #: The server implements no extension: it never negotiates one, whatever ``ServerConfig`` says
    #: (what its 101 claims is :attr:`respond`'s business).
    no_extensions: bool = False
    #: Under permessage-deflate, the echo of a message goes out in two fragments (a relay that
    #: re-frames compressed messages; :attr:`rewrite_frame` then marks the continuation).
    split_compressed_echo: bool = False
    #: Under permessage-deflate, the server keeps its compression context from message to message
    #: even when server_no_context_takeover was agreed (RFC 7692 §7.1.1.1).
    keeps_context: bool = False
    #: An open WebSocket that receives nothing for more than this many seconds is cut: the TCP
    #: connection closed without a close frame, as nginx does at ``proxy_read_timeout`` (0: never).
    idle_cut: float = 0.0
    # -- over HTTP/2 (RFC 8441, :mod:`.http2`); the frame seams above apply on a stream too --
    #: The first SETTINGS carry SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (False: extended CONNECT is
    #: still answered, without having been offered).
    h2_advertise: bool = True
    #: Extended CONNECT rules not checked (:data:`.http2.H2_RULES`: ``protocol``, ``path``, ``version``).
    h2_ignores: frozenset[str] = frozenset()
    #: Rewrites the HTTP/2 answer (a 200, an error response, or a reset) before it is sent.
    h2_respond: Callable[[Any], Any] | None = None
    #: The 200 that accepts an extended CONNECT carries END_STREAM (no tunnel is left).
    h2_end_stream: bool = False
    #: Opcodes of the server's frames dropped on HTTP/2 streams only (HTTP/1.1 is unaffected).
    h2_drop_opcodes: frozenset[int] = frozenset()
    #: Messages larger than this many bytes are not echoed, silently (0: no such limit).
    drop_above: int = 0
    #: Messages larger than this many bytes fail the connection with 1009 and a reason (0: none).
    limit_above: int = 0
    #: A TCP half-close (EOF) that follows the client's close frame before the reply went out
    #: resets the connection; the reply is held this long for it to arrive (a relay's round trip).
    reset_on_half_close: float = 0.0
    #: The echo is written without waiting for a slow reader (reading goes on), and once more than
    #: this many bytes wait unsent the connection is reset; the kernel send buffer is 64 KiB, so the
    #: bytes wait in the relay's own buffer (0: never; the correct server holds the sender back).
    reset_under_backpressure: int = 0
    #: Echoed messages go out in frames of at most this many bytes (0: one frame): a legal
    #: intermediary that splits and coalesces fragments (RFC 6455 §5.4).
    refragment: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.ignores) - set(RULES)
        if unknown:
            raise ValueError(f"fault {self.name}: unknown rules {sorted(unknown)}")
        unknown = set(self.h2_ignores) - set(H2_RULES)
        if unknown:
            raise ValueError(f"fault {self.name}: unknown HTTP/2 rules {sorted(unknown)}")

    @property
    def mistake(self) -> str:
        """The first sentence of :attr:`doc`."""
        return self.doc.split(". ")[0].rstrip(".") + "."

    def with_delay(self, seconds: float) -> Fault:
        """A copy whose 101 waits ``seconds`` (for ``delayed-101``: pick more than the client's timeout)."""
        return dataclasses.replace(self, delay_101=seconds)

    def with_idle_cut(self, seconds: float) -> Fault:
        """A copy that cuts connections quiet for more than ``seconds`` (for ``cuts-idle`` in tests)."""
        return dataclasses.replace(self, idle_cut=seconds)

    def idle_limit(self, idle_timeout: float) -> float:
        """How long an open WebSocket may stay quiet: the server's ``idle_timeout``, or less."""
        return min(idle_timeout, self.idle_cut) if self.idle_cut else idle_timeout

    def extension(self, extension: Any) -> Any:
        """A negotiated extension as the server uses it: unchanged, or (``keeps_context``) a
        permessage-deflate that keeps its compression context although the 101 agreed
        server_no_context_takeover."""
        if not self.keeps_context or not getattr(extension, "local_no_context_takeover", False):
            return extension
        from websockets.extensions.permessage_deflate import PerMessageDeflate

        return PerMessageDeflate(extension.remote_no_context_takeover, False, extension.remote_max_window_bits,
                                 extension.local_max_window_bits, extension.compress_settings)

    # -- the seams the server calls on every connection (STRICT's are the strict code itself) ---

    @property
    def parse(self) -> Callable[..., Request | HttpError]:
        """``parse(head, **limits)``: :func:`.http.parse_request_head` itself, or with ``http-version``
        ignored, one that also accepts an HTTP/1.0 request line."""
        return parse_request_head if "http-version" not in self.ignores else self._parse_http10

    @property
    def validate(self) -> Callable[..., Accept | Reject]:
        """``validate(request, **options)``: :func:`.http.validate_upgrade` itself when the profile
        ignores and refuses nothing, else that on the request normalised for :attr:`ignores`."""
        return validate_upgrade if not self.ignores and self.refuses is None else self._validate_relaxed

    def _parse_http10(self, head: bytes, **limits: Any) -> Request | HttpError:
        line_end = head.find(b"\r\n")
        line = head[:line_end]
        if line.endswith(b" HTTP/1.0"):
            parsed = parse_request_head(line[:-3] + b"1.1" + head[line_end:], **limits)
            if isinstance(parsed, Request):
                return dataclasses.replace(parsed, version="HTTP/1.0", raw=head)
            return parsed
        return parse_request_head(head, **limits)

    def _validate_relaxed(self, request: Request, **options: Any) -> Accept | Reject:
        normalised, sent_key = _normalise(request, self.ignores)
        decision = validate_upgrade(normalised, **options)
        if isinstance(decision, Accept) and self.refuses is not None:
            detail = self.refuses(request)
            if detail is not None:
                return Reject(426, detail, error_response(426, detail, (("Upgrade", "websocket"),)))
        if isinstance(decision, Accept) and sent_key is not None:
            response = _replace_header(decision.response, "Sec-WebSocket-Accept", compute_accept(sent_key))
            decision = dataclasses.replace(decision, response=response, key=sent_key)
        return decision

    def response(self, request: Request | None, response: HttpResponse) -> HttpResponse:
        """The response head to write (the 101 or an error): :attr:`respond`'s rewrite, or unchanged."""
        return self.respond(request, response) if self.respond is not None else response

    def outgoing(self, chunks: Sequence[bytes]) -> Sequence[bytes]:
        """Frames to write after the 101 (each chunk is one serialized frame, or the EOF marker)."""
        if not self.drop_opcodes and self.rewrite_frame is None:
            return chunks
        kept = [c for c in chunks if not (c and c[0] & 0x0F in self.drop_opcodes)]
        rewrite = self.rewrite_frame
        return kept if rewrite is None else [rewrite(c) if c else c for c in kept]

    def h2_response(self, response: Any) -> Any:
        """The HTTP/2 answer to send (a :class:`.http2.H2Response`): :attr:`h2_respond`'s rewrite, or unchanged."""
        return self.h2_respond(response) if self.h2_respond is not None else response

    def h2_outgoing(self, chunks: Sequence[bytes]) -> Sequence[bytes]:
        """Frames to write on an HTTP/2 stream, after :meth:`outgoing`: :attr:`h2_drop_opcodes` dropped."""
        if not self.h2_drop_opcodes:
            return chunks
        return [c for c in chunks if not (c and c[0] & 0x0F in self.h2_drop_opcodes)]


# -- helpers ------------------------------------------------------------------------------------


def _set_header(request: Request, name: str, value: str | None) -> Request:
    """Copy of ``request`` with every ``name`` line replaced by one ``name: value`` (None: removed)."""
    lname = name.lower()
    headers: list[tuple[str, str]] = []
    placed = value is None
    for key, old in request.headers:
        if key.lower() != lname:
            headers.append((key, old))
        elif not placed:
            headers.append((key, value))  # type: ignore[arg-type]
            placed = True
    if not placed:
        headers.append((name, value))  # type: ignore[arg-type]
    return dataclasses.replace(request, headers=tuple(headers))


def _replace_header(response: HttpResponse, name: str, value: str) -> HttpResponse:
    """Copy of ``response`` with ``name``'s value replaced in place (order kept)."""
    lname = name.lower()
    headers = tuple((key, value if key.lower() == lname else old) for key, old in response.headers)
    return dataclasses.replace(response, headers=headers)


def _canonical_base64(value: str) -> bytes | None:
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == value else None


def _normalise(request: Request, ignores: Collection[str]) -> tuple[Request, str | None]:
    """The request as a server that does not check ``ignores`` sees it: those rules made to pass.

    Returns the normalised request and, when the key had to be replaced to pass validation,
    the key as sent (the faulty server hashes that one).
    """
    if "http-version" in ignores:
        request = dataclasses.replace(request, version="HTTP/1.1")
    if "host" in ignores:
        request = _set_header(request, "Host", "localhost")
    if "body" in ignores:
        request = _set_header(_set_header(request, "Content-Length", None), "Transfer-Encoding", None)
    if "method" in ignores:
        request = dataclasses.replace(request, method="GET")
    if "upgrade" in ignores:
        request = _set_header(request, "Upgrade", "websocket")
    if "connection" in ignores:
        request = _set_header(request, "Connection", "Upgrade")
    if "version" in ignores:
        request = _set_header(request, "Sec-WebSocket-Version", "13")
    if "offers" in ignores:
        request = _set_header(_set_header(request, "Sec-WebSocket-Protocol", None), "Sec-WebSocket-Extensions", None)
    keys = request.get_all("Sec-WebSocket-Key")
    sent = keys[0] if keys else ""
    if "key-duplicated" in ignores and len(keys) > 1:
        request = _set_header(request, "Sec-WebSocket-Key", sent)
    replace = (
        "key" in ignores
        or ("key-length" in ignores and len(keys) == 1 and _canonical_base64(sent) is not None)
        or ("key-base64" in ignores and len(keys) == 1 and len(sent) == 24)
    )
    if replace:
        return _set_header(request, "Sec-WebSocket-Key", _PLACEHOLDER_KEY), sent
    return request, None


def _on_101(change: Callable[[Request | None, HttpResponse], HttpResponse]):
    """A ``respond`` rewrite that applies ``change`` to the 101 only (errors pass unchanged)."""

    def hook(request: Request | None, response: HttpResponse) -> HttpResponse:
        return change(request, response) if response.status == 101 else response

    return hook


# -- response rewrites --------------------------------------------------------------------------


@_on_101
def _gatewayscript_101(request: Request | None, response: HttpResponse) -> HttpResponse:
    """Status line plus Sec-WebSocket-Accept, nothing else."""
    return HttpResponse(101, REASONS[101], (("Sec-WebSocket-Accept", response.get("Sec-WebSocket-Accept") or ""),))


WRONG_GUID = "258eafa5-e914-47da-95ca-c5ab0dc85b11"  # the RFC's GUID, lower-cased


@_on_101
def _wrong_guid(request: Request | None, response: HttpResponse) -> HttpResponse:
    key = (request.get("Sec-WebSocket-Key") if request is not None else None) or ""
    digest = hashlib.sha1((key + WRONG_GUID).encode("ascii")).digest()
    return _replace_header(response, "Sec-WebSocket-Accept", base64.b64encode(digest).decode("ascii"))


@_on_101
def _accept_trailing_nul(request: Request | None, response: HttpResponse) -> HttpResponse:
    return _replace_header(response, "Sec-WebSocket-Accept", (response.get("Sec-WebSocket-Accept") or "") + "\x00")


@_on_101
def _status_200(request: Request | None, response: HttpResponse) -> HttpResponse:
    return dataclasses.replace(response, status=200, reason=REASONS[200])


@_on_101
def _upgrade_h2c(request: Request | None, response: HttpResponse) -> HttpResponse:
    return _replace_header(response, "Upgrade", "h2c")


@_on_101
def _no_connection(request: Request | None, response: HttpResponse) -> HttpResponse:
    return response.without_header("Connection")


def _version_not_advertised(request: Request | None, response: HttpResponse) -> HttpResponse:
    return response.without_header("Sec-WebSocket-Version") if response.status == 426 else response


@_on_101
def _echo_offer(request: Request | None, response: HttpResponse) -> HttpResponse:
    offers = request.get_all("Sec-WebSocket-Protocol") if request is not None else []
    response = response.without_header("Sec-WebSocket-Protocol")
    return dataclasses.replace(response, headers=response.headers + tuple(("Sec-WebSocket-Protocol", v) for v in offers))


@_on_101
def _own_subprotocol(request: Request | None, response: HttpResponse) -> HttpResponse:
    if response.get("Sec-WebSocket-Protocol") is not None:
        return response
    return response.with_header("Sec-WebSocket-Protocol", "chat")


@_on_101
def _unrequested_extension(request: Request | None, response: HttpResponse) -> HttpResponse:
    if response.get("Sec-WebSocket-Extensions") is not None:
        return response
    return response.with_header("Sec-WebSocket-Extensions", "permessage-deflate")


@_on_101
def _content_length(request: Request | None, response: HttpResponse) -> HttpResponse:
    return response.with_header("Content-Length", "0")


@_on_101
def _transfer_encoding(request: Request | None, response: HttpResponse) -> HttpResponse:
    return response.with_header("Transfer-Encoding", "chunked")


# -- too strict ---------------------------------------------------------------------------------


def _upgrade_case_sensitive(request: Request) -> str | None:
    if split_list(request.get_all("Upgrade")) != ["websocket"]:
        return "Upgrade must be 'websocket'."
    return None


def _connection_exactly_upgrade(request: Request) -> str | None:
    values = request.get_all("Connection")
    if len(values) != 1 or values[0].strip().lower() != "upgrade":
        return "Connection must be 'Upgrade'."
    return None


def _rewrite_control(opcode: int, change: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """A ``rewrite_frame`` that replaces the payload of the server's ``opcode`` control frames
    (unmasked, at most 125 bytes: RFC 6455 §5.5) with ``change(payload)``; other frames pass."""

    def rewrite(frame: bytes) -> bytes:
        if len(frame) < 2 or frame[0] & 0x0F != opcode or frame[1] & 0x80 or frame[1] & 0x7F > 125:
            return frame
        payload = change(frame[2 : 2 + (frame[1] & 0x7F)])
        return bytes([frame[0], len(payload)]) + payload + frame[2 + (frame[1] & 0x7F) :]

    return rewrite


def _data_rsv1(change: Callable[[int, int], int]) -> Callable[[bytes], bytes]:
    """A ``rewrite_frame`` that sets the first header byte of data frames (text, binary and
    continuation) to ``change(opcode, byte)``; control frames pass."""

    def rewrite(frame: bytes) -> bytes:
        if not frame or frame[0] & 0x0F not in (0x0, 0x1, 0x2):
            return frame
        return bytes([change(frame[0] & 0x0F, frame[0])]) + frame[1:]

    return rewrite


def _close_code(code: int) -> Callable[[bytes], bytes]:
    """A close payload with its status code replaced by ``code`` (the reason kept)."""
    return lambda payload: code.to_bytes(2, "big") + payload[2:]


# -- HTTP/2 rewrites -----------------------------------------------------------------------------


def _h2_101(response: H2Response) -> H2Response:
    """The 200 that accepts an extended CONNECT becomes a 101 (errors pass unchanged)."""
    return dataclasses.replace(response, status=101) if response.status == 200 else response


def _http11_spelling(name: str) -> str:
    return "-".join(part[:1].upper() + part[1:] for part in name.split("-")).replace("Websocket", "WebSocket")


def _h2_uppercase(response: H2Response) -> H2Response:
    """Every response field name as HTTP/1.1 spells it (``Date``, ``Sec-WebSocket-Protocol``)."""
    return dataclasses.replace(response, fields=tuple((_http11_spelling(n), v) for n, v in response.fields))


# -- the registry -------------------------------------------------------------------------------

_PROFILES = (
    Fault(
        "gatewayscript",
        doc="Any request on the API's path gets `101` with only `Sec-WebSocket-Accept` (computed from whatever "
            "key was sent, the empty string when none): no `Upgrade`, no `Connection`, and no check of method, "
            "HTTP version, Host, Upgrade, Connection, key or version. The IBM API Connect GatewayScript of the "
            "seed example; a proxy that strips hop-by-hop headers produces the same 101.",
        seen="IBM API Connect GatewayScript (seed example); Kong#4718, caddy#6134, gorilla/websocket#335",
        ignores=frozenset(RULES) - {"body"},
        respond=_gatewayscript_101,
    ),
    Fault(
        "wrong-guid",
        doc="`Sec-WebSocket-Accept` is computed with a wrong GUID (here the RFC's GUID lower-cased, as "
            "`str(uuid.UUID(...))` prints it). Hand-written handshakes.",
        seen="",
        respond=_wrong_guid,
    ),
    Fault(
        "accept-trailing-garbage",
        doc="`Sec-WebSocket-Accept` carries the right value followed by a stray byte (here a NUL: a C string "
            "written with its terminator, strlen+1).",
        seen="",
        respond=_accept_trailing_nul,
    ),
    Fault(
        "status-200",
        doc="A valid upgrade is answered `200 OK` (same headers) instead of `101`: a gateway without WebSocket "
            "support forwards the upgrade as a plain request.",
        seen="field notes: DataPower needs WebSocket upgrade allowed on the front-side handler",
        respond=_status_200,
    ),
    Fault(
        "upgrade-not-websocket",
        doc="The 101 names another protocol in `Upgrade` (here `h2c`), as a proxy that mixes up its "
            "upgrade handlers would.",
        seen="nginx#1472 (h2c upgrades through proxies)",
        respond=_upgrade_h2c,
    ),
    Fault(
        "no-connection-header",
        doc="The 101 has no `Connection: Upgrade`: a proxy strips it as a hop-by-hop header.",
        seen="Kong#4718, caddy#6134, gorilla/websocket#335",
        respond=_no_connection,
    ),
    Fault(
        "any-key-length",
        doc="A `Sec-WebSocket-Key` that is base64 of any length (0, 1, 4, 12, 32 bytes) is accepted; only "
            "16 bytes are valid.",
        seen="tungstenite-rs#377, haproxy#1642",
        ignores=frozenset({"key-length"}),
    ),
    Fault(
        "non-base64-key",
        doc="The key is not decoded: any 24-character `Sec-WebSocket-Key` (the length of a valid one) is "
            "accepted, base64 or not.",
        seen="tungstenite-rs#377, haproxy#1642",
        ignores=frozenset({"key-base64"}),
    ),
    Fault(
        "duplicate-key",
        doc="Two `Sec-WebSocket-Key` lines are accepted (the first one is hashed): headers read into a "
            "dictionary.",
        seen="",
        ignores=frozenset({"key-duplicated"}),
    ),
    Fault(
        "version-ignored",
        doc="`Sec-WebSocket-Version` is not checked: missing, 99 or twice still gets a 101.",
        seen="",
        ignores=frozenset({"version"}),
    ),
    Fault(
        "version-not-advertised",
        doc="An unsupported version is refused with 426 but without `Sec-WebSocket-Version: 13`.",
        seen="ws PR#2291, gorilla#915, websocketpp#13",
        respond=_version_not_advertised,
    ),
    Fault(
        "any-method",
        doc="The method is not checked: POST, PUT, HEAD and `get` are upgraded like GET.",
        seen="",
        ignores=frozenset({"method"}),
    ),
    Fault(
        "http10-accepted",
        doc="An HTTP/1.0 upgrade request gets a 101 (RFC 9110 §7.8: the Upgrade header of an HTTP/1.0 "
            "request must be ignored). nginx speaks HTTP/1.0 upstream unless `proxy_http_version 1.1`.",
        seen="field notes: nginx proxy_http_version",
        ignores=frozenset({"http-version"}),
    ),
    Fault(
        "host-not-checked",
        doc="A request without `Host`, or with two, is upgraded (RFC 9112 §3.2 requires 400).",
        seen="websockets#1246",
        ignores=frozenset({"host"}),
    ),
    Fault(
        "upgrade-not-checked",
        doc="The request's `Upgrade` is not checked: missing, `h2c` or `websocket2` still gets a 101.",
        seen="nginx#1472",
        ignores=frozenset({"upgrade"}),
    ),
    Fault(
        "connection-not-checked",
        doc="The request's `Connection` is not checked, like nginx's `map $http_upgrade $connection_upgrade` "
            "recipe: a request without the `upgrade` token is upgraded.",
        seen="field notes: nginx map recipe",
        ignores=frozenset({"connection"}),
    ),
    Fault(
        "body-read-as-frames",
        doc="A GET with a body (Content-Length or chunked) is upgraded without consuming the body: its bytes "
            "are read as WebSocket frames, the request-smuggling shape of RFC 9110 §9.3.1's warning.",
        seen="",
        ignores=frozenset({"body"}),
    ),
    Fault(
        "upgrade-case-sensitive",
        doc="`Upgrade: WebSocket` is refused: the value is compared case-sensitively.",
        seen="traefik#11246, helidon#8646",
        refuses=_upgrade_case_sensitive,
    ),
    Fault(
        "connection-exact-match",
        doc="Only `Connection: Upgrade` on one line is accepted; `keep-alive, Upgrade` (what Firefox sends) "
            "or the token on a second line is refused.",
        seen="wsproto#58, tyrus#232, caddy#7292",
        refuses=_connection_exactly_upgrade,
    ),
    Fault(
        "subprotocol-offer-echoed",
        doc="The client's whole `Sec-WebSocket-Protocol` offer is echoed back (every line, list and all) "
            "instead of one chosen value.",
        seen="Ratchet#717, wscat#127, aws/chalice#1768",
        respond=_echo_offer,
    ),
    Fault(
        "subprotocol-not-offered",
        doc="The server names its own subprotocol (`chat`) when the client offered none of its own: a "
            "subprotocol the client did not offer.",
        seen="Ratchet#717, aws/chalice#1768",
        respond=_own_subprotocol,
    ),
    Fault(
        "unrequested-extension",
        doc="`Sec-WebSocket-Extensions: permessage-deflate` is returned when the client did not offer it, by a "
            "server that implements no extension (so it also answers offers with the bare name, and then "
            "cannot read the compressed frames it agreed to).",
        seen="websocat#244, ws#2336",
        respond=_unrequested_extension,
        no_extensions=True,
    ),
    Fault(
        "content-length-on-101",
        doc="The 101 carries `Content-Length: 0`.",
        seen="envoy#10811",
        respond=_content_length,
    ),
    Fault(
        "transfer-encoding-on-101",
        doc="The 101 carries `Transfer-Encoding: chunked`.",
        seen="ocaml-cohttp#1141",
        respond=_transfer_encoding,
    ),
    Fault(
        "no-pong",
        doc="Pings are never answered (pong frames are dropped), as by a proxy that swallows control frames.",
        seen="",
        drop_opcodes=frozenset({0xA}),
    ),
    Fault(
        "no-close-reply",
        doc="A close frame is not answered with a close frame; the server just closes TCP.",
        seen="",
        drop_opcodes=frozenset({0x8}),
    ),
    Fault(
        "empty-pong",
        doc="Pings are answered with an empty pong, whatever their payload: the pong is built fresh instead "
            "of carrying the ping's Application data (RFC 6455 §5.5.3).",
        seen="",
        rewrite_frame=_rewrite_control(0xA, lambda payload: b""),
    ),
    Fault(
        "ping-ends-message",
        doc="A ping between the fragments of a message ends the message: the fragments before it are echoed "
            "as a whole message, the ones after it are relayed as continuation frames of no message. A relay "
            "that resets its per-message state on every control frame.",
        seen="",
        ping_ends_message=True,
    ),
    Fault(
        "close-code-1000",
        doc="Every close frame the server sends carries 1000 (Normal Closure): a proxy that ends both sides "
            "with its own close frame rewrites the endpoint's code (1007, 1009, 1011...) to 1000.",
        seen="",
        rewrite_frame=_rewrite_control(0x8, _close_code(1000)),
    ),
    Fault(
        "close-code-1005",
        doc="Close frames carry 1005 on the wire: the code an API reports when a close frame had no status "
            "(RFC 6455 §7.4.1: \"MUST NOT be set as a status code in a Close control frame by an endpoint\") "
            "written back as if it had been received.",
        seen="",
        rewrite_frame=_rewrite_control(0x8, _close_code(1005)),
    ),
    Fault(
        "utf8-unchecked",
        doc="Text messages are echoed without checking that they are UTF-8: invalid UTF-8 comes back instead "
            "of failing the connection with 1007 (RFC 6455 §8.1).",
        seen="",
        utf8_unchecked=True,
    ),
    Fault(
        "clears-rsv1",
        doc="Under permessage-deflate, compressed messages are passed on with RSV1 cleared: the client reads "
            "the DEFLATE bytes as the message itself (RFC 7692 §6: RSV1 \"indicates whether a message is "
            "compressed or not\"). A relay that rebuilds frame headers and drops the bits it does not know.",
        seen="",
        rewrite_frame=_data_rsv1(lambda opcode, first: first & ~0x40 if opcode != 0x0 else first),
    ),
    Fault(
        "rsv1-on-continuation",
        doc="Under permessage-deflate, compressed messages go out in fragments with RSV1 set on every fragment, "
            "continuation frames included (RFC 7692 §6: \"An endpoint MUST NOT set the 'Per-Message "
            "Compressed' bit of control frames and non-first fragments of a data message\"). A relay that "
            "re-frames a message and copies the first frame's header bits onto each fragment.",
        seen="",
        split_compressed_echo=True,
        rewrite_frame=_data_rsv1(lambda opcode, first: first | 0x40 if opcode == 0x0 else first),
    ),
    Fault(
        "ignores-no-context-takeover",
        doc="The 101 agrees to server_no_context_takeover, but the server keeps its compression context from "
            "message to message: a message may refer back to an earlier one, which a client that dropped its "
            "context cannot decompress (RFC 7692 §7.1.1.1).",
        seen="",
        keeps_context=True,
    ),
    Fault(
        "cuts-idle",
        doc="An open WebSocket that receives nothing for more than 2 s is cut: the TCP connection is closed "
            "without a close frame, as nginx does when `proxy_read_timeout` (60 s by default) expires. Tests "
            "use a smaller value (`Fault.with_idle_cut`).",
        seen="ws#536, apisix#5440 (nginx proxy_read_timeout)",
        idle_cut=2.0,
    ),
    Fault(
        "drops-big-messages",
        doc="Messages larger than 65,536 bytes vanish: they are neither relayed nor refused, and the connection "
            "stays open. A gateway whose buffer limit discards what does not fit instead of closing with 1009.",
        seen="",
        drop_above=65536,
    ),
    Fault(
        "clean-size-limit",
        doc="Messages larger than 65,536 bytes are refused cleanly: a close frame with 1009 (Message Too Big) "
            "and a reason. Legal (AWS API Gateway, Kong and APISIX have such limits): without "
            "--gateway-max-message it is reported, not failed; with a declared larger size it fails.",
        seen="",
        limit_above=65536,
    ),
    Fault(
        "resets-on-half-close",
        doc="A TCP half-close from the client after its close frame resets the connection before the close "
            "reply is sent: the relay treats the FIN as the end of both directions.",
        seen="haproxy#3205",
        reset_on_half_close=0.2,
    ),
    Fault(
        "resets-under-backpressure",
        doc="A client that does not read for a while gets its connection reset: the relay goes on reading and "
            "buffers what the client does not take, then resets the connection once more than 1.5 MiB waits, "
            "instead of holding the sender back (TCP flow control).",
        seen="gravitee#918",
        reset_under_backpressure=3 << 19,
    ),
    Fault(
        "close-after-101",
        doc="The connection is closed right after the 101: the 101 is not a working tunnel.",
        seen="aiohttp#2973",
        close_after_101=True,
    ),
    # -- WebSockets over HTTP/2 (RFC 8441): seen by the h2- cases (over h2c on the ws listener) --
    Fault(
        "accepts-without-advertising",
        doc="The server's SETTINGS do not carry `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`, yet an extended CONNECT "
            "is answered 200 and tunnelled: a client must not send one then (RFC 8441 §3), and browsers take "
            "the setting as the promise.",
        seen="haproxy#1364, go#71128",
        h2_advertise=False,
    ),
    Fault(
        "answers-101-over-h2",
        doc="A valid extended CONNECT is answered `:status 101` (an HTTP/1.1 101 translated as is) instead of "
            "200; HTTP/2 has no 101 (RFC 9113 §8.6), so no client takes it as an accepted WebSocket.",
        seen="",
        h2_respond=_h2_101,
    ),
    Fault(
        "end-stream-on-200",
        doc="The 200 that accepts an extended CONNECT carries END_STREAM: the stream is closed on the server's "
            "side before a single WebSocket frame (RFC 8441 §5: the stream is the tunnel).",
        seen="",
        h2_end_stream=True,
    ),
    Fault(
        "accepts-bogus-protocol",
        doc="`:protocol` is not checked: an extended CONNECT for `wsgateway-bogus` is answered 200 and tunnelled "
            "as a WebSocket.",
        seen="hypercorn (field notes: `:protocol: bogus` gets 200)",
        h2_ignores=frozenset({"protocol"}),
    ),
    Fault(
        "accepts-missing-path",
        doc="An extended CONNECT without `:path` (or `:scheme`) is accepted instead of being treated as "
            "malformed (RFC 8441 §4, RFC 9113 §8.1.1).",
        seen="",
        h2_ignores=frozenset({"path"}),
    ),
    Fault(
        "ignores-version",
        doc="`sec-websocket-version` is not checked over HTTP/2: missing or 99 still gets a 200 (HTTP/1.1 is "
            "checked as before).",
        seen="",
        h2_ignores=frozenset({"version"}),
    ),
    Fault(
        "no-pong-over-stream",
        doc="Pings on an HTTP/2 stream are never answered (pongs dropped) while the same WebSocket over "
            "HTTP/1.1 works: the shape of a gateway whose HTTP/2 path alone is broken.",
        seen="haproxy#3355 (WebSockets over HTTP/2 broken, HTTP/1.1 fine)",
        h2_drop_opcodes=frozenset({0xA}),
    ),
    Fault(
        "uppercase-field-names",
        doc="HTTP/2 response field names keep their HTTP/1.1 spelling (`Date`, `Sec-WebSocket-Protocol`, "
            "`Content-Type`): RFC 9113 §8.2.1 makes such a response malformed.",
        seen="",
        h2_respond=_h2_uppercase,
    ),
    Fault(
        "delayed-101",
        doc="The 101 comes only after a delay longer than the client's timeout (default 6 s, past the suite's "
            "default 5 s): the 101 is held back.",
        seen="aiohttp#2973",
        delay_101=6.0,
    ),
)

FAULTS: dict[str, Fault] = {fault.name: fault for fault in _PROFILES}

#: Behaviours of a legal intermediary, served like fault profiles (``ServerConfig(fault=...)``, the
#: CLI's ``--fault``) but not faults: the suite must pass every case against them
#: (``tests/suite/test_mutation.py``), so they are not in :data:`FAULTS` or the mutation score.
LEGAL: dict[str, Fault] = {fault.name: fault for fault in (
    Fault(
        "refragments",
        doc="Every echoed message goes out in frames of at most 4,096 bytes, whatever fragments it came in "
            "(they are coalesced first). Legal: \"an intermediary might coalesce and/or split frames\" "
            "(RFC 6455 §5.4).",
        seen="",
        refragment=4096,
    ),
)}

#: The correct server: every seam is the strict code (:func:`.http.parse_request_head`,
#: :func:`.http.validate_upgrade`, the response as decided, every frame, no delay). What
#: ``ServerConfig(fault=None)`` serves; not a fault profile, so not in :data:`FAULTS`.
STRICT = Fault(
    "strict",
    doc="No mistake: the reference server as RFC 6455 and RFC 9110/9112 require.",
    seen="",
)


def names() -> list[str]:
    return list(FAULTS)


def get(name: str) -> Fault:
    """The profile called ``name``; ValueError (naming the known ones) otherwise."""
    try:
        return FAULTS[name] if name in FAULTS else LEGAL[name]
    except KeyError:
        raise ValueError(f"unknown fault profile {name!r}; known: {', '.join(FAULTS)}") from None


def resolve(fault: str | Fault | None) -> Fault:
    """``ServerConfig.fault`` -> a :class:`Fault`: :data:`STRICT` for None (the correct server)."""
    if fault is None:
        return STRICT
    if isinstance(fault, Fault):
        return fault
    return get(fault)
