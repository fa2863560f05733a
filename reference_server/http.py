"""Sans-I/O HTTP/1.1 request-head parser and WebSocket opening-handshake validator.

Bytes in, decision out: nothing here touches a socket, a clock or a thread, so
every rule can be unit-tested on literal bytes.

Three steps, used by :mod:`.server` in this order:

1. :func:`find_head_end` / :func:`check_incomplete_head` while bytes arrive
   (the latter reports 400/414/431/505 as early as they can be known, with the
   same result the full parse would give);
2. :func:`parse_request_head` on the complete head (up to and including the
   empty line) -> :class:`Request` or :class:`HttpError`;
3. :func:`validate_upgrade` -> :class:`Accept` (a 101 to send) or
   :class:`Reject` (an error response to send before closing).

Precedence where several rules apply (first match wins):

* a bare CR or LF in a line -> 400, request line longer than ``max_line``
  -> 414, header line longer than ``max_line`` -> 431 (whichever comes first
  in the line's bytes); more than ``max_headers`` header lines -> 431;
  malformed request line, header syntax, obs-fold, control or non-ASCII
  bytes -> 400 (these are checked line by line, in the order of the lines);
  a request line without an HTTP version (HTTP/0.9 style) -> 505 at once;
* HTTP version other than ``HTTP/1.1`` -> 505 (RFC 6455 §4.1, RFC 9110 §15.6.6);
* no ``Host`` or more than one -> 400 (RFC 9112 §3.2);
* a request body (``Content-Length`` other than 0, any ``Transfer-Encoding``)
  -> 400;
* method other than GET -> 405 with ``Allow: GET`` (RFC 6455 §4.2.1 item 1);
* path not a declared route -> 404;
* ``Upgrade`` missing or not exactly the single token ``websocket`` -> 426 with
  ``Upgrade: websocket`` (RFC 6455 §4.2.1 item 3; RFC 9110 §15.5.22);
* ``Connection`` without the ``upgrade`` option -> 426 (RFC 6455 §4.2.1 item 4);
* ``Sec-WebSocket-Key`` missing, repeated, not canonical base64 of exactly
  16 bytes -> 400 (RFC 6455 §4.2.1 item 5);
* ``Sec-WebSocket-Version`` missing, repeated or not ``13`` -> 426 with
  ``Sec-WebSocket-Version: 13`` (RFC 6455 §4.2.2, §4.4).

Every rejection carries ``Connection: close`` (426 responses carry
``Connection: Upgrade, close`` because RFC 9110 §7.8 requires a sender of
``Upgrade`` to list the ``upgrade`` connection option) and a short
``text/plain`` body with ``Content-Length``.

Subprotocol choice: the *client's* order wins — the first subprotocol offered
by the client (across all ``Sec-WebSocket-Protocol`` lines and comma lists)
that the server supports. A value that was not offered is never returned.
Extensions are only negotiated when ``permessage_deflate=True``; otherwise any
offered extension, known or unknown, is ignored and never echoed.

Strictness choices beyond the RFC minimum (documented so the suite can judge
them): ``obs-text`` (bytes >= 0x80) is rejected in the head; leading empty lines
before the request line are rejected (RFC 9112 §2.2 "SHOULD ignore");
``absolute-form`` targets (``GET ws://host/path``) are accepted as RFC 9112
§3.2.2 requires, ``authority-form``/``asterisk-form`` with GET -> 400.

Fault-injection seam: :func:`validate_upgrade` and :func:`build_accept` are pure
functions returning frozen :class:`HttpResponse` objects; a fault profile can
wrap them (see :class:`.faults.Fault`: ``ignores``, ``refuses``, ``respond``).

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import ipaddress
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SUPPORTED_VERSION = "13"

__all__ = [
    "WEBSOCKET_GUID",
    "SUPPORTED_VERSION",
    "HttpResponse",
    "Request",
    "HttpError",
    "Accept",
    "Reject",
    "find_head_end",
    "check_incomplete_head",
    "parse_request_head",
    "validate_upgrade",
    "build_accept",
    "error_response",
    "compute_accept",
    "split_list",
]

REASONS: dict[int, str] = {
    101: "Switching Protocols",
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    414: "URI Too Long",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}

# RFC 9110 §5.6.2 token characters.
_TOKEN_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN_STR_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# field-value without obs-text: VCHAR / SP / HTAB.
_FIELD_VALUE_RE = re.compile(rb"[\x21-\x7e \t]*")
_TARGET_RE = re.compile(rb"[\x21-\x7e]+")
_ABSOLUTE_RE = re.compile(r"(?i)(?:https?|wss?)://[^/?#]*([^#]*)")
_HOST_RE = re.compile(
    r"(?:\[([0-9A-Fa-f:.]+)\]|\[v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+;=:]+\]"
    r"|(?:[A-Za-z0-9\-._~!$&'()*+;=]|%[0-9A-Fa-f]{2})+)(?::[0-9]*)?"
)


def _valid_host(value: str) -> bool:
    """RFC 9110 §7.2 uri-host [":" port]: pct-encoded is "%" HEXDIG HEXDIG (RFC 3986 §2.1) and an
    IP-literal a real IPv6 address (found by fuzzing: "%" and "[:::]" were accepted)."""
    match = _HOST_RE.fullmatch(value)
    if match is None:
        return False
    if match.group(1) is not None:
        try:
            ipaddress.IPv6Address(match.group(1))
        except ValueError:
            return False
    return True


# ---------------------------------------------------------------------------
# Response
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HttpResponse:
    """An HTTP/1.1 response head plus body, ready to serialize."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def serialize(self) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {self.reason}"]
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("ascii") + self.body

    def get(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def without_header(self, name: str) -> HttpResponse:
        """Copy without any ``name`` header (a helper for fault profiles)."""
        lname = name.lower()
        return dataclasses.replace(
            self, headers=tuple(h for h in self.headers if h[0].lower() != lname)
        )

    def with_header(self, name: str, value: str) -> HttpResponse:
        """Copy with ``name`` replaced by ``value`` (a helper for fault profiles)."""
        return dataclasses.replace(
            self, headers=self.without_header(name).headers + ((name, value),)
        )


def error_response(
    status: int,
    message: str,
    extra_headers: Sequence[tuple[str, str]] = (),
) -> HttpResponse:
    """A rejection: ``Connection: close``, short plain-text body, Content-Length."""
    body = (message.rstrip("\n") + "\n").encode("utf-8")
    headers: list[tuple[str, str]] = list(extra_headers)
    connection = "close"
    if any(name.lower() == "upgrade" for name, _ in headers):
        # RFC 9110 §7.8: a sender of Upgrade MUST also send the "upgrade" option.
        connection = "Upgrade, close"
    headers += [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", connection),
    ]
    return HttpResponse(status, REASONS.get(status, "Error"), tuple(headers), body)


# ---------------------------------------------------------------------------
# Request parsing
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Request:
    """A parsed request head. Header names keep their original spelling."""

    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]
    raw: bytes = b""

    def get_all(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive), one per line."""
        lname = name.lower()
        return [value for key, value in self.headers if key.lower() == lname]

    def get(self, name: str) -> str | None:
        values = self.get_all(name)
        return values[0] if values else None

    @property
    def path(self) -> str | None:
        """Path of an origin-form or absolute-form target (query removed), else None."""
        target = self.target
        if target.startswith("/"):
            return target.split("?", 1)[0]
        match = _ABSOLUTE_RE.fullmatch(target)
        if match:
            rest = match.group(1) or "/"
            if not rest.startswith("/"):
                rest = "/" + rest
            return rest.split("?", 1)[0]
        return None


@dataclasses.dataclass(frozen=True)
class HttpError:
    """The request head could not be accepted as HTTP/1.1; send ``response``."""

    status: int
    detail: str
    response: HttpResponse

    @classmethod
    def make(cls, status: int, detail: str, extra: Sequence[tuple[str, str]] = ()) -> HttpError:
        return cls(status, detail, error_response(status, detail, extra))


def find_head_end(buffer: bytes | bytearray) -> int | None:
    """Index just past the first ``CRLF CRLF`` in ``buffer``, or None."""
    index = buffer.find(b"\r\n\r\n")
    return None if index < 0 else index + 4


def _bare_cr_or_lf(line: bytes) -> bool:
    return b"\r" in line or b"\n" in line


def _line_limit(line: bytes, max_line: int, *, complete: bool = True) -> str | None:
    """"bare" (a CR or LF inside the line) or "long" (over ``max_line``), whichever comes first in
    the byte stream, else None. Deciding by position keeps :func:`check_incomplete_head` and the
    full parse in agreement however the bytes arrive (found by fuzzing). For a line still arriving
    a final CR may be the start of its CRLF, so it is neither bare nor counted."""
    scan = line[:-1] if not complete and line.endswith(b"\r") else line
    if _bare_cr_or_lf(scan[: max_line + 1]):
        return "bare"
    return "long" if len(scan) > max_line else None


class _LineChecker:
    """Line-by-line checks shared by the incremental and the full parser."""

    def __init__(self, max_line: int, max_headers: int) -> None:
        self.max_line = max_line
        self.max_headers = max_headers
        self.request_line: tuple[str, str, str] | None = None
        self.headers: list[tuple[str, str]] = []

    def request(self, line: bytes) -> HttpError | None:
        limit = _line_limit(line, self.max_line)
        if limit == "bare":
            return HttpError.make(400, "Bare CR or LF in request line.")
        if limit == "long":
            return HttpError.make(414, "Request line too long.")
        if not line:
            return HttpError.make(400, "Empty request line.")
        parts = line.split(b" ")
        if len(parts) == 2 and _TOKEN_RE.fullmatch(parts[0]) and _TARGET_RE.fullmatch(parts[1]):
            # "GET /path" -- HTTP/0.9 style, no version at all.
            return HttpError.make(505, "HTTP version missing; only HTTP/1.1 is supported.")
        if len(parts) != 3:
            return HttpError.make(400, "Malformed request line.")
        method, target, version = parts
        if not _TOKEN_RE.fullmatch(method):
            return HttpError.make(400, "Malformed request method.")
        if not _TARGET_RE.fullmatch(target):
            return HttpError.make(400, "Malformed request target.")
        if not _TARGET_RE.fullmatch(version):
            return HttpError.make(400, "Malformed HTTP version.")
        self.request_line = (
            method.decode("ascii"),
            target.decode("ascii"),
            version.decode("ascii"),
        )
        return None

    def header(self, line: bytes) -> HttpError | None:
        limit = _line_limit(line, self.max_line)
        if limit == "bare":
            return HttpError.make(400, "Bare CR or LF in header section.")
        if limit == "long":
            return HttpError.make(431, "Header line too long.")
        if len(self.headers) >= self.max_headers:
            return HttpError.make(431, "Too many header fields.")
        if line[:1] in (b" ", b"\t"):
            return HttpError.make(400, "Obsolete line folding (obs-fold) is not allowed.")
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN_RE.fullmatch(name):
            return HttpError.make(400, "Malformed header field name.")
        value = value.strip(b" \t")
        if not _FIELD_VALUE_RE.fullmatch(value):
            return HttpError.make(400, "Invalid characters in header field value.")
        self.headers.append((name.decode("ascii"), value.decode("ascii")))
        return None


def check_incomplete_head(
    buffer: bytes | bytearray, *, max_line: int = 8192, max_headers: int = 128
) -> HttpError | None:
    """Report an error already certain in a head that is still arriving.

    ``buffer`` holds the bytes received so far, without a complete
    ``CRLF CRLF``. Returns the same error :func:`parse_request_head` would
    return for any completion of it, or None if more bytes are needed.
    """
    data = bytes(buffer)
    lines = data.split(b"\r\n")
    complete, partial = lines[:-1], lines[-1]
    checker = _LineChecker(max_line, max_headers)
    for number, line in enumerate(complete):
        error = checker.request(line) if number == 0 else checker.header(line)
        if error is not None:
            return error
    # The unterminated tail: only length and bare LF can be judged now.
    limit = _line_limit(partial, max_line, complete=False)
    if limit == "bare":
        return HttpError.make(400, "Bare CR or LF line terminator.")
    if limit == "long":
        if not complete:
            return HttpError.make(414, "Request line too long.")
        return HttpError.make(431, "Header line too long.")
    if complete and len(checker.headers) >= max_headers and partial.strip(b"\r"):
        # One more header line is arriving and there is no room for it.
        return HttpError.make(431, "Too many header fields.")
    return None


def parse_request_head(
    data: bytes | bytearray, *, max_line: int = 8192, max_headers: int = 128
) -> Request | HttpError:
    """Parse a complete request head (request line, headers, empty line).

    ``data`` must end with the first ``CRLF CRLF`` (see :func:`find_head_end`);
    anything after it is not part of the head. Returns :class:`Request`, or
    :class:`HttpError` for 400/414/431/505.
    """
    data = bytes(data)
    end = find_head_end(data)
    if end is None:
        return HttpError.make(400, "Incomplete request head.")
    head = data[: end - 4]
    lines = head.split(b"\r\n")
    checker = _LineChecker(max_line, max_headers)
    for number, line in enumerate(lines):
        error = checker.request(line) if number == 0 else checker.header(line)
        if error is not None:
            return error
    assert checker.request_line is not None
    method, target, version = checker.request_line
    if version != "HTTP/1.1":
        return HttpError.make(505, f"HTTP version {version!r} not supported; use HTTP/1.1.")
    return Request(method, target, version, tuple(checker.headers), raw=data[:end])


# ---------------------------------------------------------------------------
# Handshake validation
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Accept:
    """A valid upgrade: send ``response`` (101), then speak WebSocket."""

    response: HttpResponse
    key: str
    subprotocol: str | None = None
    extensions: tuple[Any, ...] = ()  # websockets.extensions.Extension instances


@dataclasses.dataclass(frozen=True)
class Reject:
    """An invalid request: send ``response`` and close the connection."""

    status: int
    detail: str
    response: HttpResponse



def split_list(values: Iterable[str]) -> list[str]:
    """RFC 9110 §5.6.1 list: join repeated lines, split on commas, trim OWS, drop empties."""
    items: list[str] = []
    for value in values:
        for item in value.split(","):
            item = item.strip(" \t")
            if item:
                items.append(item)
    return items


def compute_accept(key: str) -> str:
    """``Sec-WebSocket-Accept`` for ``key`` (RFC 6455 §4.2.2 item 5.4)."""
    digest = hashlib.sha1((key + WEBSOCKET_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def _reject(status: int, detail: str, extra: Sequence[tuple[str, str]] = ()) -> Reject:
    return Reject(status, detail, error_response(status, detail, extra))


_UPGRADE_REQUIRED = (("Upgrade", "websocket"),)


def _valid_key(value: str) -> bool:
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False
    return len(raw) == 16 and base64.b64encode(raw).decode("ascii") == value


def _negotiate_permessage_deflate(
    offers: list[str],
) -> tuple[str | None, tuple[Any, ...]] | Reject:
    from websockets.exceptions import InvalidHandshake, NegotiationError
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
    from websockets.headers import build_extension, parse_extension

    try:
        parsed = sum((parse_extension(value) for value in offers), [])
    except InvalidHandshake:
        return _reject(400, "Malformed Sec-WebSocket-Extensions header.")
    factory = ServerPerMessageDeflateFactory()
    accepted: list[Any] = []
    response_items: list[Any] = []
    for name, params in parsed:
        if name != factory.name:
            continue
        try:
            response_params, extension = factory.process_request_params(params, accepted)
        except NegotiationError:
            continue
        response_items.append((name, response_params))
        accepted.append(extension)
    header = build_extension(response_items) if response_items else None
    return header, tuple(accepted)


def build_accept(
    key: str,
    *,
    subprotocol: str | None = None,
    extensions_header: str | None = None,
) -> HttpResponse:
    """The 101 response for a validated request (pure; fault profiles wrap this)."""
    headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", compute_accept(key)),
    ]
    if subprotocol is not None:
        headers.append(("Sec-WebSocket-Protocol", subprotocol))
    if extensions_header is not None:
        headers.append(("Sec-WebSocket-Extensions", extensions_header))
    return HttpResponse(101, REASONS[101], tuple(headers))


def validate_upgrade(
    request: Request,
    *,
    route_ok: Callable[[str], bool] | Collection[str],
    subprotocols: Sequence[str] = (),
    permessage_deflate: bool = False,
) -> Accept | Reject:
    """Decide a parsed request: :class:`Accept` (101) or :class:`Reject`.

    ``route_ok`` is a predicate on the request path (query removed) or a
    collection of exact paths. ``subprotocols`` are the server's supported
    subprotocols; the first one in the *client's* offer order is chosen.
    """
    if request.version != "HTTP/1.1":
        return _reject(505, "Only HTTP/1.1 is supported.")

    hosts = request.get_all("Host")
    if not hosts:
        return _reject(400, "Missing Host header.")
    if len(hosts) > 1:
        return _reject(400, "More than one Host header.")
    if not _valid_host(hosts[0]):
        return _reject(400, "Invalid Host header.")

    if request.get_all("Transfer-Encoding"):
        return _reject(400, "A WebSocket upgrade request must not have a body.")
    for value in request.get_all("Content-Length"):
        items = [item.strip(" \t") for item in value.split(",")]
        if not all(item.isdigit() and item.isascii() for item in items):
            return _reject(400, "Invalid Content-Length header.")
        if any(int(item) != 0 for item in items):
            return _reject(400, "A WebSocket upgrade request must not have a body.")

    if request.method != "GET":
        return _reject(405, f"Method {request.method} not allowed; use GET.", (("Allow", "GET"),))

    path = request.path
    if path is None:
        return _reject(400, "Request target must be a path.")
    ok = route_ok(path) if callable(route_ok) else path in route_ok
    if not ok:
        return _reject(404, f"No WebSocket route at {path}.")

    upgrade = split_list(request.get_all("Upgrade"))
    if not upgrade:
        return _reject(426, "Missing Upgrade: websocket header.", _UPGRADE_REQUIRED)
    if len(upgrade) != 1 or upgrade[0].lower() != "websocket":
        return _reject(
            426, "Upgrade header must be exactly 'websocket'.", _UPGRADE_REQUIRED
        )

    connection = [item.lower() for item in split_list(request.get_all("Connection"))]
    if "upgrade" not in connection:
        return _reject(
            426, "Connection header must include the 'upgrade' option.", _UPGRADE_REQUIRED
        )

    keys = request.get_all("Sec-WebSocket-Key")
    if not keys:
        return _reject(400, "Missing Sec-WebSocket-Key header.")
    if len(keys) > 1 or "," in keys[0]:
        return _reject(400, "More than one Sec-WebSocket-Key.")
    key = keys[0]
    if not _valid_key(key):
        return _reject(400, "Sec-WebSocket-Key must be base64 of exactly 16 bytes.")

    version_headers = (
        _UPGRADE_REQUIRED[0],
        ("Sec-WebSocket-Version", SUPPORTED_VERSION),
    )
    versions = request.get_all("Sec-WebSocket-Version")
    if not versions:
        return _reject(426, "Missing Sec-WebSocket-Version header.", version_headers)
    if len(versions) > 1 or "," in versions[0]:
        return _reject(426, "More than one Sec-WebSocket-Version.", version_headers)
    if versions[0] != SUPPORTED_VERSION:
        return _reject(
            426, f"Unsupported Sec-WebSocket-Version {versions[0]!r}; use 13.", version_headers
        )

    subprotocol: str | None = None
    if subprotocols:
        for offer in split_list(request.get_all("Sec-WebSocket-Protocol")):
            if _TOKEN_STR_RE.fullmatch(offer) and offer in subprotocols:
                subprotocol = offer
                break

    extensions_header: str | None = None
    extensions: tuple[Any, ...] = ()
    offers = request.get_all("Sec-WebSocket-Extensions")
    if permessage_deflate and offers:
        negotiated = _negotiate_permessage_deflate(offers)
        if isinstance(negotiated, Reject):
            return negotiated
        extensions_header, extensions = negotiated

    response = build_accept(
        key, subprotocol=subprotocol, extensions_header=extensions_header
    )
    return Accept(response, key, subprotocol, extensions)
