"""Fuzzing the reference server's opening handshake with hypothesis.

Valid, mutated and random requests (header case, order, duplicates, huge values, odd bytes,
truncated heads, garbage) go to

* the sans-I/O validator (``parse_request_head`` + ``validate_upgrade``; fast, many examples), and
* the running server over real loopback sockets (fewer examples),

and every answer is judged against an *independent* oracle written here from RFC 6455 §4.2.1
(plus RFC 9112 request syntax and the strictness choices the server documents): a 101 only for a
valid request (with the right Accept), and otherwise a well-formed HTTP error whose status is one
the oracle allows for a problem it found. The server must never crash and must still serve a
valid handshake afterwards.

Default runs use the ``wsgateway-fuzz`` profile (few examples, derandomized: a few seconds). The
long run (>= 10,000 examples each) is marked ``slow``::

    pytest -m slow tests/server/test_server_fuzz.py
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import re
import socket
import time
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import read_until_close

from pytest_wsgateway.reference_server import ReferenceServer, ServerConfig
from pytest_wsgateway.reference_server.http import (
    Accept,
    HttpError,
    check_incomplete_head,
    find_head_end,
    parse_request_head,
    validate_upgrade,
)

# --- hypothesis profiles (registered here, used explicitly as parents: nothing global is loaded)

settings.register_profile(
    "wsgateway-fuzz",
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.register_profile("wsgateway-fuzz-sockets", settings.get_profile("wsgateway-fuzz"), max_examples=100)
settings.register_profile(
    "wsgateway-fuzz-slow", settings.get_profile("wsgateway-fuzz"), max_examples=20_000, derandomize=False
)
settings.register_profile("wsgateway-fuzz-slow-sockets", settings.get_profile("wsgateway-fuzz-slow"), max_examples=10_000)

ROUTE = "/websocket-test"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_LINE = 8192
MAX_HEADERS = 128
SUBPROTOCOL = "chat"

# =================================================================================================
# The oracle: RFC 6455 §4.2.1 + RFC 9112 §2-3 + RFC 9110 §5, written from the RFC text, not the server.
# =================================================================================================

_TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_TOKEN = re.compile(_TCHAR + rb"+")
_FIELD_VALUE = re.compile(rb"[\x21-\x7e]([\x21-\x7e \t]*[\x21-\x7e])?|")  # VCHAR only: obs-text refused (documented)
_VISIBLE = re.compile(rb"[\x21-\x7e]+")
_HTTP_VERSION = re.compile(rb"HTTP/[0-9]\.[0-9]")
_KEY = re.compile(r"[A-Za-z0-9+/]{21}[AQgw]==")  # base64 of exactly 16 bytes, canonical padding bits
_PORT = r"[0-9]*"
_UNRESERVED_SUBDELIMS = r"A-Za-z0-9\-._~!$&'()*+;="  # RFC 3986 reg-name, without "," (Host is a singleton)
_REG_NAME = re.compile(rf"(?:[{_UNRESERVED_SUBDELIMS}]|%[0-9A-Fa-f]{{2}})+")
_ABSOLUTE = re.compile(r"([A-Za-z][A-Za-z0-9+\-.]*)://([^/?#]*)([^#]*)")


@dataclass
class Verdict:
    """What the oracle expects: problems found, each with the statuses that would be right for it."""

    problems: list[tuple[str, frozenset[int]]] = field(default_factory=list)
    key: str | None = None
    protocols: list[str] = field(default_factory=list)
    complete: bool = True

    def add(self, what: str, *statuses: int) -> None:
        self.problems.append((what, frozenset(statuses)))

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def allowed(self) -> frozenset[int]:
        return frozenset().union(*(statuses for _, statuses in self.problems))

    def only(self, what: str) -> bool:
        return [p for p, _ in self.problems] == [what]


def _list(values: list[bytes]) -> list[str]:
    """RFC 9110 §5.6.1: comma-separated list over every field line, OWS trimmed, empty elements dropped."""
    return [item.strip(" \t") for value in values for item in value.decode("ascii").split(",") if item.strip(" \t")]


def _valid_host(value: str) -> bool:
    """RFC 9110 §7.2 Host = uri-host [ ":" port ] (RFC 3986 §3.2.2-3.2.3)."""
    if value.startswith("["):
        close = value.find("]")
        if close < 0:
            return False
        literal, rest = value[1:close], value[close + 1 :]
        if literal[:1] in ("v", "V"):
            ok = re.fullmatch(rf"[vV][0-9A-Fa-f]+\.[{_UNRESERVED_SUBDELIMS}:]+", literal) is not None
        else:
            try:
                ipaddress.IPv6Address(literal)
                ok = "%" not in literal  # no zone ids in a URI host (RFC 6874 is not HTTP's)
            except ValueError:
                ok = False
        return ok and re.fullmatch(rf"(?::{_PORT})?", rest) is not None
    host, _, port = value.partition(":")
    return _REG_NAME.fullmatch(host) is not None and re.fullmatch(_PORT, port) is not None


def oracle(raw: bytes) -> Verdict:
    """Judge raw request bytes as a WebSocket opening handshake for ROUTE (HTTP/1.1 only)."""
    verdict = Verdict()
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        verdict.complete = False
        verdict.add("incomplete head", 400, 408, 414, 431)
        head = raw
    else:
        head = raw[:end]
    lines = head.split(b"\r\n")
    if not verdict.complete:
        lines = lines[:-1]  # the unterminated last line is still arriving
        tail = head.split(b"\r\n")[-1]
        if len(tail.rstrip(b"\r")) > MAX_LINE:
            verdict.add("overlong line arriving", 414, 431)
        if not lines:
            return verdict
    request_line, header_lines = lines[0], lines[1:]

    # -- request line (RFC 9112 §3): method SP request-target SP HTTP-version
    method = target = None
    # (several problems in one line are all recorded: the oracle takes no view on precedence)
    too_long, bare = len(request_line) > MAX_LINE, b"\r" in request_line or b"\n" in request_line
    if too_long:
        verdict.add("request line too long", 414)
    if bare:
        verdict.add("bare CR/LF", 400)
    if not too_long and not bare:
        parts = request_line.split(b" ")
        if len(parts) == 2 and _TOKEN.fullmatch(parts[0]) and _VISIBLE.fullmatch(parts[1]):
            verdict.add("no HTTP version (HTTP/0.9)", 400, 505)
        elif len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not _VISIBLE.fullmatch(parts[1]):
            verdict.add("malformed request line", 400)
        else:
            method, target, version = parts
            if not _HTTP_VERSION.fullmatch(version):
                verdict.add("malformed HTTP version", 400, 505)
            elif version != b"HTTP/1.1":
                verdict.add("not HTTP/1.1", 505)

    # -- header section (RFC 9112 §5, RFC 9110 §5.5)
    headers: list[tuple[str, bytes]] = []
    if len(header_lines) > MAX_HEADERS:
        verdict.add("too many header lines", 431)
    for line in header_lines:
        too_long, bare = len(line) > MAX_LINE, b"\r" in line or b"\n" in line
        if too_long:
            verdict.add("header line too long", 431)
        if bare:
            verdict.add("bare CR/LF", 400)
        if too_long or bare:
            continue
        if line[:1] in (b" ", b"\t"):
            verdict.add("obs-fold", 400)
            continue
        name, colon, value = line.partition(b":")
        value = value.strip(b" \t")
        if not colon or not _TOKEN.fullmatch(name) or not _FIELD_VALUE.fullmatch(value):
            verdict.add("malformed header line", 400)
            continue
        headers.append((name.decode("ascii").lower(), value))
    if not verdict.complete:
        return verdict

    def values(name: str) -> list[bytes]:
        return [v for n, v in headers if n == name]

    # -- the request as a WebSocket handshake
    hosts = values("host")
    if len(hosts) != 1 or not _valid_host(hosts[0].decode("ascii")):
        verdict.add("Host missing, repeated or invalid", 400)
    if values("transfer-encoding"):
        verdict.add("a body (Transfer-Encoding)", 400)
    for value in values("content-length"):
        items = [item.strip(" \t") for item in value.decode("ascii").split(",")]
        if not all(re.fullmatch(r"[0-9]+", item) and int(item) == 0 for item in items):
            verdict.add("a body or a bad Content-Length", 400)
    if method is not None and method != b"GET":
        verdict.add("method is not GET", 405)  # §4.2.1 item 1
    if target is not None:
        text = target.decode("ascii")
        absolute = _ABSOLUTE.fullmatch(text)
        if text.startswith("/"):
            path, statuses = text.split("?", 1)[0], (404,)
            if "#" in text:
                path, statuses = None, (400, 404)
        elif absolute and absolute.group(1).lower() in ("http", "https", "ws", "wss"):
            path, statuses = (absolute.group(3) or "/").split("?", 1)[0], (404,)
        else:
            path, statuses = None, (400, 404)
        if path != ROUTE:
            verdict.add("not the route", *statuses)
    if [t.lower() for t in _list(values("upgrade"))] != ["websocket"]:
        verdict.add("Upgrade is not websocket", 426)  # §4.2.1 item 3 (a single token: documented)
    if "upgrade" not in [t.lower() for t in _list(values("connection"))]:
        verdict.add("Connection lacks upgrade", 426)  # §4.2.1 item 4
    keys = values("sec-websocket-key")
    if len(keys) != 1 or not _KEY.fullmatch(keys[0].decode("ascii")):
        verdict.add("bad Sec-WebSocket-Key", 400)  # §4.2.1 item 5
    else:
        verdict.key = keys[0].decode("ascii")
    versions = values("sec-websocket-version")
    if len(versions) != 1 or versions[0] != b"13":
        verdict.add("bad Sec-WebSocket-Version", 426)  # §4.2.1 item 6, §4.4
    verdict.protocols = _list(values("sec-websocket-protocol"))
    return verdict


def expected_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


# =================================================================================================
# Requests: valid ones, mutated ones and garbage
# =================================================================================================

_KEYS_VALID = st.binary(min_size=16, max_size=16).map(lambda b: base64.b64encode(b).decode("ascii"))
_KEYS_INVALID = st.sampled_from(
    ["", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZR==", "AAAAAAAAAAAAAAAAAAAAAA=", "U3RyZWFtKDIsID8p",
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "AQ==", "!!!!!!!!!!!!!!!!!!!!!!==", "dGhlIHNhbXBsZSBub25jZQ==,x",
     "dGhlIHNhbXBsZSBub25jZQ== dGhlIHNhbXBsZSBub25jZQ=="]
)
_VALUES: dict[str, st.SearchStrategy[str]] = {
    "Host": st.sampled_from(["127.0.0.1", "127.0.0.1:8080", "localhost", "[::1]:443", "[::1]", "example.com:",
                             "gw.example.com", "", "a b", "a,b", "host/x", "[::1", "[zz]", "[:::]", "%41", "%", "a@b",
                             "[v1.x]", "h:p", "xn--nxasmq6b.example", "[::ffff:1.2.3.4]"]),
    "Upgrade": st.sampled_from(["websocket", "WebSocket", "WEBSOCKET", "websocket, h2c", "h2c", "", "websocket/13",
                                " websocket ", ",websocket,", "web socket", "websockets"]),
    "Connection": st.sampled_from(["Upgrade", "upgrade", "keep-alive, Upgrade", "keep-alive", "close", "",
                                   "Upgraded", "upgrade,close", "x-upgrade", ", , Upgrade"]),
    "Sec-WebSocket-Key": st.one_of(_KEYS_VALID, _KEYS_INVALID),
    "Sec-WebSocket-Version": st.sampled_from(["13", "8", "99", "", "13, 8", "013", " 13", "13.0", "thirteen"]),
    "Sec-WebSocket-Protocol": st.sampled_from(["chat", "superchat, chat", "chat,superchat", "other", "", "a b",
                                               "chat; x", "CHAT"]),
    "Sec-WebSocket-Extensions": st.sampled_from(["permessage-deflate", "permessage-deflate; client_max_window_bits",
                                                 "x-unknown", "", ";;;"]),
    "Origin": st.sampled_from(["http://example.com", "null", ""]),
    "Content-Length": st.sampled_from(["0", "5", "0, 0", "-1", "abc", "", "00"]),
    "Transfer-Encoding": st.sampled_from(["chunked", "identity", ""]),
}
_REQUIRED = ("Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version")
_VALID_DEFAULTS = {"Host": "127.0.0.1", "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}
_METHODS = st.sampled_from(["GET"] * 6 + ["POST", "HEAD", "get", "PUT", "G\x00T", "GE T", "", "CONNECT"])
_TARGETS = st.sampled_from(
    [ROUTE] * 6
    + [f"{ROUTE}?a=b", f"{ROUTE}/", "/WEBSOCKET-TEST", "/", "*", "127.0.0.1:80", f"ws://127.0.0.1{ROUTE}",
       f"HTTP://h{ROUTE}?q", f"ftp://h{ROUTE}", f"{ROUTE}#frag", "websocket-test", f"//{ROUTE}", "/%7E", "ws://h",
       f"{ROUTE}\x7f", f"{ROUTE}\xe9"]
)
_VERSIONS = st.sampled_from(["HTTP/1.1"] * 6 + ["HTTP/1.0", "HTTP/2.0", "HTTP/1.2", "http/1.1", "HTTP/1.1x", "HTTP/11",
                                                "", "HTTP/1.1 "])
_ODD = st.sampled_from(["\x00", "\x7f", "\x80", "\xff", "\x0b", "\t", "\r", "\n", "\x1b", " ", ":", ",", "\xe9"])
_NAMES = st.one_of(st.sampled_from(["X-Fuzz", "User-Agent", "Sec-WebSocket-Accept", "Host ", " Host", "Ho st",
                                    "H\xf6st", "", "X:Y"]), st.from_regex(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}", fullmatch=True))


def _case_variants(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.lower(), name.upper(), name.swapcase()])


@st.composite
def handshakes(draw) -> bytes:
    """A handshake built from valid parts, then mutated; sometimes left valid."""
    mutate = draw(st.booleans())
    headers: list[tuple[str, str]] = []
    for name in _REQUIRED:
        value = _VALID_DEFAULTS.get(name) or draw(_KEYS_VALID)
        if mutate and draw(st.integers(0, 5)) == 0:
            value = draw(_VALUES[name])
        headers.append((name, value))
    for name in ("Origin", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions", "Content-Length", "Transfer-Encoding"):
        limit = 3 if name in ("Content-Length", "Transfer-Encoding") else 1
        if draw(st.integers(0, limit)) == 0 and (mutate or name not in ("Content-Length", "Transfer-Encoding")):
            headers.append((name, draw(_VALUES[name])))
    method, target, version = "GET", ROUTE, "HTTP/1.1"
    terminator = "\r\n"
    if mutate:
        ops = draw(st.lists(st.integers(0, 11), max_size=4))
        for op in ops:
            if op == 0 and headers:  # drop a header
                headers.pop(draw(st.integers(0, len(headers) - 1)))
            elif op == 1 and headers:  # duplicate one (same or another value)
                name, value = headers[draw(st.integers(0, len(headers) - 1))]
                headers.append((name, draw(st.one_of(st.just(value), _VALUES.get(name, st.just(value))))))
            elif op == 2:  # reorder
                headers = draw(st.permutations(headers))
            elif op == 3 and headers:  # header name case
                i = draw(st.integers(0, len(headers) - 1))
                headers[i] = (draw(_case_variants(headers[i][0])), headers[i][1])
            elif op == 4 and headers:  # odd byte somewhere in a value
                i = draw(st.integers(0, len(headers) - 1))
                name, value = headers[i]
                at = draw(st.integers(0, len(value)))
                headers[i] = (name, value[:at] + draw(_ODD) + value[at:])
            elif op == 5 and headers:  # a huge value (over the line limit) or a big one (under it)
                i = draw(st.integers(0, len(headers) - 1))
                headers[i] = (headers[i][0], headers[i][1] + "a" * draw(st.sampled_from([100, 8000, 8200, 20000])))
            elif op == 6:  # many header lines
                count = draw(st.sampled_from([50, 123, 124, 125, 130]))
                headers += [(f"X-Many-{n}", "v") for n in range(count)]
            elif op == 7:  # a random extra header
                headers.insert(draw(st.integers(0, len(headers))), (draw(_NAMES), draw(st.text(max_size=30))))
            elif op == 8:
                method = draw(_METHODS)
            elif op == 9:
                target = draw(st.one_of(_TARGETS, st.just(ROUTE + "?" + "q" * 9000)))
            elif op == 10:
                version = draw(_VERSIONS)
            elif op == 11:  # OWS around a value
                if headers:
                    i = draw(st.integers(0, len(headers) - 1))
                    headers[i] = (headers[i][0], draw(st.sampled_from([" ", "\t", "  "])) + headers[i][1] + " ")
        if draw(st.integers(0, 9)) == 0:
            terminator = draw(st.sampled_from(["\n", "\r", "\r\n\r"]))
    lines = [f"{method} {target} {version}".rstrip(" ") if version == "" else f"{method} {target} {version}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if terminator == "\r\n":
        head = "\r\n".join(lines) + "\r\n\r\n"
    else:  # one line ends badly
        i = draw(st.integers(0, len(lines) - 1))
        head = "".join(line + (terminator if n == i else "\r\n") for n, line in enumerate(lines)) + "\r\n"
    data = head.encode("latin-1", errors="replace") if all(ord(c) < 256 for c in head) else head.encode("utf-8")
    if mutate and draw(st.integers(0, 7)) == 0:  # truncated
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    return data


REQUESTS = st.one_of(
    handshakes(),
    handshakes(),
    handshakes(),
    st.binary(max_size=300),  # garbage
    st.binary(max_size=200).map(lambda b: b + b"\r\n\r\n"),  # garbage with an end of head
    st.tuples(handshakes(), st.binary(max_size=40), st.integers(0, 400)).map(  # garbage spliced in
        lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :]
    ),
)

# =================================================================================================
# Judging responses
# =================================================================================================


def _split_response(raw: bytes) -> tuple[str, dict[str, list[str]], bytes]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"response head not terminated: {raw[:200]!r}"
    lines = head.decode("ascii").split("\r\n")  # a response head in ASCII
    fields: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        assert colon and _TOKEN.fullmatch(name.encode()), f"bad header line {line!r}"
        fields.setdefault(name.lower(), []).append(value.strip(" \t"))
    return lines[0], fields, body


def check_error(raw: bytes, verdict: Verdict) -> int:
    """A well-formed HTTP error, with a status the oracle allows for one of the problems it found."""
    status_line, fields, body = _split_response(raw)
    match = re.fullmatch(r"HTTP/1\.1 ([45][0-9][0-9]) [\x20-\x7e]+", status_line)
    assert match, f"not an HTTP/1.1 error status line: {status_line!r}"
    status = int(match.group(1))
    assert not verdict.valid, f"{status} for a valid request"
    assert status in verdict.allowed, f"{status} but the oracle allows {sorted(verdict.allowed)} for {verdict.problems}"
    assert fields.get("content-length") == [str(len(body))], f"Content-Length vs body: {fields} {body!r}"
    assert "close" in [t.strip().lower() for v in fields.get("connection", []) for t in v.split(",")]
    if status == 405:
        assert fields.get("allow") == ["GET"]
    if status == 426:
        assert fields.get("upgrade") == ["websocket"]
    if status == 426 and verdict.only("bad Sec-WebSocket-Version"):
        assert fields.get("sec-websocket-version") == ["13"]  # RFC 6455 §4.4
    return status


def check_101(raw_head: bytes, verdict: Verdict) -> None:
    status_line, fields, _ = _split_response(raw_head)
    assert verdict.valid, f"101 for an invalid request: {verdict.problems}"
    assert status_line == "HTTP/1.1 101 Switching Protocols"
    assert [v.lower() for v in fields.get("upgrade", [])] == ["websocket"]
    assert [v.lower() for v in fields.get("connection", [])] == ["upgrade"]
    assert fields.get("sec-websocket-accept") == [expected_accept(verdict.key)]
    assert fields.get("sec-websocket-protocol", []) == ([SUBPROTOCOL] if SUBPROTOCOL in verdict.protocols else [])
    assert "sec-websocket-extensions" not in fields
    assert "content-length" not in fields and "transfer-encoding" not in fields


# =================================================================================================
# Sans-I/O: the validator itself
# =================================================================================================


def decide(raw: bytes):
    parsed = parse_request_head(raw, max_line=MAX_LINE, max_headers=MAX_HEADERS)
    if isinstance(parsed, HttpError):
        return parsed.response
    decision = validate_upgrade(parsed, route_ok={ROUTE}, subprotocols=(SUBPROTOCOL,))
    return decision.response if not isinstance(decision, Accept) else decision.response


def _judge_validator(raw: bytes) -> None:
    end = find_head_end(raw)
    head = raw if end is None else raw[:end]
    verdict = oracle(raw)
    response = decide(head).serialize()
    if response.startswith(b"HTTP/1.1 101 "):
        check_101(response, verdict)
    else:
        check_error(response, verdict)
    # check_incomplete_head: any early verdict on a prefix equals the verdict on the whole head
    if end is not None:
        final = decide(head)
        for cut in {len(head) // 3, len(head) // 2, len(head) - 3, len(head) - 1}:
            if 0 <= cut < len(head) and find_head_end(head[:cut]) is None:
                early = check_incomplete_head(head[:cut], max_line=MAX_LINE, max_headers=MAX_HEADERS)
                if early is not None:
                    assert early.status == final.status, (cut, early.detail, final.status)


@settings(parent=settings.get_profile("wsgateway-fuzz"))
@given(raw=REQUESTS)
def test_validator_agrees_with_the_oracle(raw):
    _judge_validator(raw)


@pytest.mark.slow
@settings(parent=settings.get_profile("wsgateway-fuzz-slow"))
@given(raw=REQUESTS)
def test_validator_agrees_with_the_oracle_long_run(raw):
    _judge_validator(raw)


@pytest.mark.parametrize(
    "raw, valid",
    [
        (b"GET /websocket-test HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", True),
        (b"GET /websocket-test HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\nSec-WebSocket-Version: 13\r\n\r\n", False),  # padding bits
        (b"GET /websocket-test HTTP/1.1\r\nHost: [::1]:80\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
         b"sec-websocket-version: 13\r\nsec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n", True),
        (b"GET /websocket-test HTTP/1.0\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", False),
        (b"GET /websocket-test HTTP/1.1\r\nHost: %zz\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", False),
        (b"GET /websocket-test HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13", False),  # truncated
    ],
    ids=["rfc-example", "non-canonical-key", "case-order-ows", "http10", "bad-pct-host", "truncated"],
)
def test_the_oracle_itself(raw, valid):
    """The oracle is code too: pin it on hand-checked requests."""
    assert oracle(raw).valid is valid


# =================================================================================================
# The running server over real sockets
# =================================================================================================


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def fuzz_server():
    """A ws:// reference server (subprotocol chat) whose error logs are collected: none may appear."""
    errors = _Errors()
    loggers = [logging.getLogger("pytest_wsgateway.reference_server"), logging.getLogger("asyncio")]
    for logger in loggers:
        logger.addHandler(errors)
    server = ReferenceServer(ServerConfig(schemes=("ws",), subprotocols=(SUBPROTOCOL,), open_timeout=2.0,
                                          max_line=MAX_LINE, max_headers=MAX_HEADERS)).start()
    try:
        yield server, errors
    finally:
        server.stop()
        for logger in loggers:
            logger.removeHandler(errors)


def _judge_server(address: tuple[str, int], raw: bytes) -> None:
    verdict = oracle(raw)
    end = find_head_end(raw)
    with socket.create_connection(address, timeout=5) as sock:
        try:
            sock.sendall(raw)
        except OSError:
            pass  # the server may answer (and stop reading) before a huge request is sent
        if end is None:
            sock.shutdown(socket.SHUT_WR)  # truncated: no more bytes will come
        deadline = time.monotonic() + 5
        data = b""
        while b"\r\n\r\n" not in data:
            more, eof = _read_all_once(sock, deadline)
            data += more
            if eof or not more:
                break
        if data.startswith(b"HTTP/1.1 101 "):
            check_101(data[: data.index(b"\r\n\r\n") + 4], verdict)
            return
        rest, closed = read_until_close(sock, deadline - time.monotonic())
        data += rest
    if end is None and data == b"":
        assert closed, "a truncated request was neither answered nor closed"
        return  # the client went away mid-head: closing without a word is fine
    assert data, f"no answer to {raw[:200]!r}"
    assert closed, "the server did not close after an error"
    check_error(data, verdict)


def _read_all_once(sock: socket.socket, deadline: float) -> tuple[bytes, bool]:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return b"", True
    sock.settimeout(remaining)
    try:
        chunk = sock.recv(65536)
    except TimeoutError:
        return b"", True
    except OSError:
        return b"", True
    return chunk, not chunk


def _still_serves(address: tuple[str, int]) -> None:
    """After the fuzz: a valid handshake gets its 101 and an echo."""
    key = "x3JJHMbDL1EzLkh9GBhXDw=="
    request = (f"GET {ROUTE} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(request)
        data = b""
        deadline = time.monotonic() + 5
        while b"\r\n\r\n" not in data and time.monotonic() < deadline:
            data += sock.recv(4096)
        assert data.startswith(b"HTTP/1.1 101 ")
        assert f"Sec-WebSocket-Accept: {expected_accept(key)}".encode() in data
        mask = b"\x01\x02\x03\x04"
        sock.sendall(b"\x81\x84" + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(b"ping")))
        echo = data[data.index(b"\r\n\r\n") + 4 :]
        while len(echo) < 6 and time.monotonic() < deadline:
            echo += sock.recv(4096)
        assert echo[:6] == b"\x81\x04ping"


def _fuzz_over_sockets(server, errors, raw) -> None:
    address = server.address("ws")
    _judge_server(address, raw)
    assert not errors.records, [r.getMessage() for r in errors.records]


@settings(parent=settings.get_profile("wsgateway-fuzz-sockets"))
@given(raw=REQUESTS)
def test_server_answers_every_request_cleanly(fuzz_server, raw):
    server, errors = fuzz_server
    _fuzz_over_sockets(server, errors, raw)


@pytest.mark.slow
@settings(parent=settings.get_profile("wsgateway-fuzz-slow-sockets"))
@given(raw=REQUESTS)
def test_server_answers_every_request_cleanly_long_run(fuzz_server, raw):
    server, errors = fuzz_server
    _fuzz_over_sockets(server, errors, raw)


def test_server_still_serves_after_the_fuzz(fuzz_server):
    """Runs after the fuzz tests above (same module-scoped server): still alive, still correct."""
    server, errors = fuzz_server
    _still_serves(server.address("ws"))
    assert not errors.records, [r.getMessage() for r in errors.records]


def test_a_truncated_head_without_eof_gets_408_within_the_open_timeout():
    with ReferenceServer(ServerConfig(schemes=("ws",), open_timeout=0.3)) as server:
        with socket.create_connection(server.address("ws"), timeout=5) as sock:
            sock.sendall(b"GET /websocket-test HTTP/1.1\r\nHost: h\r\n")
            started = time.monotonic()
            data, closed = read_until_close(sock, 5)
            elapsed = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 408 ") and closed
    check_error(data, Verdict(problems=[("incomplete head", frozenset({408}))]))
    assert elapsed < 0.3 + 2.0


# --- regressions: what the fuzzing found -----------------------------------------------------------

_VALID_REST = (b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               b"Sec-WebSocket-Version: 13\r\n\r\n")


@pytest.mark.parametrize(
    "host, status",
    [(b"%", 400), (b"a%zz", 400), (b"[:::]", 400), (b"[1.2.3.4]", 400), (b"%41", 101), (b"[::ffff:1.2.3.4]:80", 101)],
)
def test_host_syntax_regressions(host, status):
    """A lone "%" and a non-IPv6 IP-literal were answered with 101 (RFC 9112 §3.2: MUST 400)."""
    raw = b"GET /websocket-test HTTP/1.1\r\nHost: " + host + b"\r\n" + _VALID_REST
    assert decide(raw).status == status
    assert oracle(raw).valid is (status == 101)


@pytest.mark.parametrize(
    "raw, status",
    [
        # a bare LF early in a line that then grows past max_line: 400 (the LF comes first)
        (b"GET /websocket-test HTTP/1.1\nX: " + b"a" * 9000 + b"\r\n" + _VALID_REST, 400),
        (b"GET /websocket-test HTTP/1.1\r\nHost: h\nX: " + b"a" * 9000 + b"\r\n" + _VALID_REST, 400),
        # a header line past max_line with a bare LF only after the limit: 431 (the length comes first)
        (b"GET /websocket-test HTTP/1.1\r\nHost: 127.0.0.1" + b"a" * 9000 + b"\nX: y\r\n" + _VALID_REST, 431),
        (b"GET /" + b"a" * 9000 + b"\n HTTP/1.1\r\n" + _VALID_REST, 414),
    ],
    ids=["lf-then-long-request-line", "lf-then-long-header", "long-header-then-lf", "long-request-line-then-lf"],
)
def test_early_and_late_verdicts_agree_on_bare_lf_and_length(raw, status):
    """check_incomplete_head answered 400 (bare LF) for a prefix while the full head got 414/431, and,
    after a first fix, 431 for a prefix while the full head got 400: the slow fuzz run found both."""
    assert decide(raw).status == status
    for cut in range(0, len(raw) - len(_VALID_REST), 97):
        early = check_incomplete_head(raw[:cut], max_line=MAX_LINE, max_headers=MAX_HEADERS)
        assert early is None or early.status == status, (cut, early.detail)
    assert check_incomplete_head(raw[: len(raw) - len(_VALID_REST)], max_line=MAX_LINE,
                                 max_headers=MAX_HEADERS).status == status
