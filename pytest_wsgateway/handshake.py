"""The opening handshake on the wire, sans-I/O: accept keys, request bytes, response heads.

Nothing here touches a socket. ``build_request`` turns a request description into bytes;
``parse_request`` and ``parse_response_head`` turn bytes back into header lists that the checks
read. Header names are compared case-insensitively and header lines are kept in wire order,
duplicates included, because duplicates are exactly what some cases are about.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

#: RFC 6455 §1.3: "the server has to take the value ... and concatenate this with the Globally
#: Unique Identifier (GUID, [RFC4122]) "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" in string form".
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: A response head larger than this is not a handshake answer; the client stops reading.
MAX_HEAD_BYTES = 65536

Headers = tuple[tuple[str, str], ...]


def accept_for(key: str) -> str:
    """Return the ``Sec-WebSocket-Accept`` value a server must send for ``key`` (RFC 6455 §4.2.2).

    ``key`` is used as the string the client sent, not base64-decoded, without leading or
    trailing whitespace (§4.1: "ignoring any leading and trailing whitespace").
    """
    digest = hashlib.sha1((key.strip() + GUID).encode("latin-1")).digest()
    return base64.b64encode(digest).decode("ascii")


def new_key() -> str:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes, base64-encoded (RFC 6455 §4.1)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


class MalformedMessage(ValueError):
    """Bytes that are not an HTTP/1.x message head."""


@dataclass(frozen=True)
class Message:
    """An HTTP/1.x message head: the start line split in three, then the header lines in order."""

    start: tuple[str, str, str]
    headers: Headers

    def get_all(self, name: str) -> list[str]:
        """Every value of header ``name``, one per header line, in wire order."""
        lowered = name.lower()
        return [value for key, value in self.headers if key.lower() == lowered]

    def get(self, name: str) -> str | None:
        """The values of ``name`` joined by ``", "`` (RFC 9110 §5.3), or None when absent."""
        values = self.get_all(name)
        return ", ".join(values) if values else None

    def tokens(self, name: str) -> list[str]:
        """The comma-separated list elements of ``name`` across all its lines, stripped."""
        return [item.strip() for value in self.get_all(name) for item in value.split(",") if item.strip()]

    def has_token(self, name: str, token: str) -> bool:
        """Whether ``name`` lists ``token``, compared as ASCII case-insensitive."""
        return any(item.lower() == token.lower() for item in self.tokens(name))


@dataclass(frozen=True)
class Response(Message):
    """A parsed response head. ``start`` is (HTTP-version, status code, reason phrase)."""

    @property
    def version(self) -> str:
        return self.start[0]

    @property
    def status(self) -> int:
        return int(self.start[1])

    @property
    def reason(self) -> str:
        return self.start[2]


@dataclass(frozen=True)
class Request(Message):
    """A parsed request head. ``start`` is (method, request-target, HTTP-version)."""

    @property
    def method(self) -> str:
        return self.start[0]

    @property
    def target(self) -> str:
        return self.start[1]

    @property
    def version(self) -> str:
        return self.start[2]


def head_end(data: bytes) -> int:
    """Index just past the blank line ending a message head in ``data``, or -1 if not there yet."""
    index = data.find(b"\r\n\r\n")
    return -1 if index < 0 else index + 4


def _split_head(data: bytes) -> tuple[str, list[tuple[str, str]]]:
    end = head_end(data)
    if end < 0:
        raise MalformedMessage("the message head does not end with an empty line (CRLF CRLF)")
    lines = data[: end - 4].decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise MalformedMessage(f"malformed header line {line!r}")
        headers.append((name, value.strip(" \t")))
    return lines[0], headers


def parse_response_head(data: bytes) -> Response:
    """Parse the head of an HTTP/1.x response (status line and header lines).

    ``data`` may hold more than the head; bytes after the blank line are ignored here.
    Raises :class:`MalformedMessage` for anything that is not ``HTTP/x.y NNN reason``.
    """
    status_line, headers = _split_head(data)
    version, _, rest = status_line.partition(" ")
    status, _, reason = rest.partition(" ")
    # ASCII digits only: "¹²³".isdigit() is True, but int("¹²³") raises (RFC 9110 §15: 3DIGIT).
    if not version.startswith("HTTP/") or len(status) != 3 or not (status.isascii() and status.isdigit()):
        raise MalformedMessage(f"malformed status line {status_line!r}")
    return Response((version, status, reason), tuple(headers))


def parse_request(data: bytes) -> Request:
    """Parse the head of a request this package built (or any HTTP/1.x request head)."""
    request_line, headers = _split_head(data)
    parts = request_line.split(" ")
    if len(parts) != 3:
        raise MalformedMessage(f"malformed request line {request_line!r}")
    return Request((parts[0], parts[1], parts[2]), tuple(headers))


def h2_fields(data: bytes) -> list[tuple[str, str]]:
    """An HTTP/2 field list written as ``name: value`` lines (pseudo-header fields keep their
    leading colon: ``:method: CONNECT``), as :func:`render_h2_fields` writes it."""
    fields = []
    for line in data.decode("latin-1").split("\r\n"):
        if not line:
            continue
        lead = ":" if line.startswith(":") else ""
        name, colon, value = line[len(lead):].partition(":")
        if not colon:
            raise MalformedMessage(f"malformed field line {line!r}")
        fields.append((lead + name, value.strip(" \t")))
    return fields


def render_h2_fields(fields) -> bytes:
    """A field list as ``name: value`` lines ending in an empty line (what a transcript shows)."""
    return ("".join(f"{name}: {value}\r\n" for name, value in fields) + "\r\n").encode("latin-1")


def parse_h2_request(data: bytes) -> Request:
    """An extended CONNECT (RFC 8441) written by :func:`render_h2_fields` as a :class:`Request`:
    (``:method``, ``:path``, ``HTTP/2``) and the regular fields, so HTTP/1.1 checks can read it."""
    fields = h2_fields(data)
    pseudo = {name: value for name, value in fields if name.startswith(":")}
    return Request((pseudo.get(":method", ""), pseudo.get(":path", ""), "HTTP/2"),
                   tuple((name, value) for name, value in fields if not name.startswith(":")))


def h2_response(fields) -> Response:
    """An HTTP/2 response field list as a :class:`Response` (``HTTP/2``, ``:status``, regular fields);
    raises :class:`MalformedMessage` without a three-digit ``:status``."""
    status = next((value for name, value in fields if name == ":status"), "")
    if len(status) != 3 or not (status.isascii() and status.isdigit()):
        raise MalformedMessage(f"no valid :status ({status!r})")
    return Response(("HTTP/2", status, ""), tuple((n, v) for n, v in fields if not n.startswith(":")))


def build_request(method: str, target: str, version: str, headers: Headers, body: bytes = b"") -> bytes:
    """Serialize a request exactly as given: no header is added, reordered or normalised."""
    lines = [f"{method} {target} {version}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def extension_elements(values: list[str]) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """``Sec-WebSocket-Extensions`` values -> [(name, [(param, value or None)])] (RFC 6455 §9.1)."""
    elements = []
    for item in ", ".join(values).split(","):
        if not item.strip():
            continue
        name, *params = (part.strip() for part in item.split(";"))
        parsed = []
        for param in params:
            key, equals, value = param.partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            parsed.append((key.strip().lower(), value if equals else None))
        elements.append((name.lower(), parsed))
    return elements
