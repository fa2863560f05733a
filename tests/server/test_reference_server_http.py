"""Sans-I/O tests of reference_server.http: bytes in, decision out."""

from __future__ import annotations

import base64

import pytest

from pytest_wsgateway.reference_server.http import (
    Accept,
    HttpError,
    HttpResponse,
    Reject,
    Request,
    check_incomplete_head,
    compute_accept,
    find_head_end,
    parse_request_head,
    validate_upgrade,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ROUTE = "/websocket-test"
BASE = [
    ("Host", "example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", KEY),
    ("Sec-WebSocket-Version", "13"),
]


def head(
    headers=BASE, *, method="GET", target=ROUTE, version="HTTP/1.1", drop=(), extra=()
) -> bytes:
    dropped = {d.lower() for d in drop}
    lines = [f"{method} {target} {version}"]
    lines += [f"{n}: {v}" for n, v in headers if n.lower() not in dropped]
    lines += [f"{n}: {v}" for n, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def decide(data: bytes, **kwargs) -> Accept | Reject | HttpError:
    parsed = parse_request_head(data)
    if isinstance(parsed, HttpError):
        return parsed
    kwargs.setdefault("route_ok", {ROUTE})
    return validate_upgrade(parsed, **kwargs)


def status(result) -> int:
    return result.response.status


def assert_reject(result, code: int) -> HttpResponse:
    assert not isinstance(result, Accept), result
    response = result.response
    assert response.status == code, (response.status, result.detail)
    assert "close" in [t.strip().lower() for t in response.get("Connection").split(",")]
    assert response.get("Content-Length") == str(len(response.body))
    assert response.body and response.get("Content-Type").startswith("text/plain")
    return response


# --- RFC 6455 §1.3 / §4.2.2: the accept value ----------------------------------


def test_rfc6455_1_3_accept_vector():
    assert compute_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize(
    "key, accept",
    [
        ("x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk="),
        ("AAAAAAAAAAAAAAAAAAAAAA==", "ICX+Yqv66kxgM0FcWaLWlFLwTAI="),
        ("3/oJDIb5XbMj6ivoHllRBg==", "esukiwGMdXL9SM4XYrI6+Ne4tbw="),
    ],
)
def test_accept_vectors_match_websockets(key, accept):
    from websockets.utils import accept_key

    assert compute_accept(key) == accept == accept_key(key)


def test_rfc6455_4_2_2_valid_request_gets_101():
    result = decide(head())
    assert isinstance(result, Accept)
    r = result.response
    assert (r.status, r.reason) == (101, "Switching Protocols")
    assert r.get("Upgrade") == "websocket"
    assert r.get("Connection") == "Upgrade"
    assert r.get("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    for absent in ("Content-Length", "Transfer-Encoding", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions"):
        assert r.get(absent) is None
    wire = r.serialize()
    assert wire.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert wire.endswith(b"\r\n\r\n")


# --- RFC 9112 syntax: 400 / 414 / 431 / 505 -------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"GET  /websocket-test HTTP/1.1\r\nHost: a\r\n\r\n",  # double space
        b"GET /websocket-test HTTP/1.1 extra\r\nHost: a\r\n\r\n",
        b"GET\r\nHost: a\r\n\r\n",
        b"G(T /websocket-test HTTP/1.1\r\nHost: a\r\n\r\n",  # method not a token
        b"GET /web\x7fsocket HTTP/1.1\r\nHost: a\r\n\r\n",  # DEL in target
        b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",  # non-ASCII target
        b"\r\nGET /websocket-test HTTP/1.1\r\nHost: a\r\n\r\n",  # leading empty line
    ],
    ids=["double-space", "four-parts", "one-part", "bad-method", "ctl-target", "utf8-target", "leading-crlf"],
)
def test_rfc9112_3_malformed_request_line_is_400(data):
    assert_reject(parse_request_head(data), 400)


@pytest.mark.parametrize(
    "line",
    [
        b"Host : a",  # whitespace before colon (RFC 9112 §5.1 MUST 400)
        b"No colon here",
        b"Bad\x01Name: a",
        b"X-Value: caf\xc3\xa9",  # non-ASCII garbage (obs-text rejected: strict)
        b"X-Value: a\x00b",
        b"X-Value: a\rb",  # bare CR
        b": empty-name",
    ],
    ids=["space-before-colon", "no-colon", "ctl-name", "non-ascii-value", "nul", "bare-cr", "empty-name"],
)
def test_rfc9112_5_malformed_header_is_400(line):
    data = b"GET / HTTP/1.1\r\nHost: a\r\n" + line + b"\r\n\r\n"
    assert_reject(parse_request_head(data), 400)


def test_rfc9112_5_2_obs_fold_is_400():
    data = b"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n"
    assert_reject(parse_request_head(data), 400)


def test_bare_lf_is_400_incrementally():
    assert_reject(check_incomplete_head(b"GET / HTTP/1.1\nHost: a\n\n"), 400)


def test_rfc9112_3_long_request_line_is_414():
    data = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    assert_reject(parse_request_head(data), 414)
    # known before the line even ends
    assert_reject(check_incomplete_head(b"GET /" + b"a" * 9000), 414)


def test_rfc6585_5_long_header_line_is_431():
    data = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
    assert_reject(parse_request_head(data), 431)
    assert_reject(check_incomplete_head(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 9000), 431)


def test_rfc6585_5_too_many_headers_is_431():
    lines = b"".join(b"X-H%d: v\r\n" % i for i in range(129))
    data = b"GET / HTTP/1.1\r\n" + lines + b"\r\n"
    assert_reject(parse_request_head(data), 431)
    assert_reject(check_incomplete_head(b"GET / HTTP/1.1\r\n" + lines), 431)
    exactly = b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(128)) + b"\r\n"
    assert isinstance(parse_request_head(exactly), Request)


def test_limits_are_configurable():
    data = b"GET / HTTP/1.1\r\nHost: a\r\nX: 1234567890123\r\n\r\n"  # lines of 14, 7, 16
    assert_reject(parse_request_head(data, max_headers=1), 431)
    assert_reject(parse_request_head(data, max_line=15), 431)
    assert_reject(parse_request_head(data, max_line=13), 414)
    assert isinstance(parse_request_head(data, max_line=16, max_headers=2), Request)


@pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/2.0", "HTTP/0.9", "HTTP/3.0", "HTTP/1.2", "http/1.1", "HTTP/1", "FOO"])
def test_rfc6455_4_1_version_not_1_1_is_505(version):
    assert_reject(parse_request_head(head(version=version)), 505)


def test_http09_style_request_line_is_505_at_once():
    assert_reject(check_incomplete_head(b"GET /websocket-test\r\n"), 505)


def test_http2_preface_is_505():
    assert_reject(parse_request_head(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505)


def test_precedence_malformed_header_beats_505():
    data = b"GET / HTTP/1.0\r\nBad Header\r\n\r\n"
    assert_reject(parse_request_head(data), 400)


def test_incomplete_head_needs_more():
    assert check_incomplete_head(b"GET /websocket-test HTTP/1.1\r\nHost: a\r\n") is None
    assert check_incomplete_head(b"GET /websocket-test HTTP/1.1\r\nHost: a\r\n\r") is None
    assert find_head_end(b"GET / HTTP/1.1\r\n\r\nrest") == 18
    assert find_head_end(b"GET / HTTP/1.1\r\n") is None


def test_parse_keeps_header_order_and_case():
    parsed = parse_request_head(b"GET /x?q=1 HTTP/1.1\r\nhOsT:  a  \r\nX: 1\r\nx: 2\r\n\r\n")
    assert isinstance(parsed, Request)
    assert parsed.headers == (("hOsT", "a"), ("X", "1"), ("x", "2"))
    assert parsed.get_all("X") == ["1", "2"]
    assert parsed.path == "/x"


# --- RFC 9112 §3.2 Host ----------------------------------------------------------


def test_rfc9112_3_2_missing_host_is_400():
    assert_reject(decide(head(drop=["Host"])), 400)


def test_rfc9112_3_2_duplicate_host_is_400():
    assert_reject(decide(head(extra=[("Host", "example.com")])), 400)


@pytest.mark.parametrize("value", ["", "a b", "a, b", "a/b"])
def test_rfc9112_3_2_invalid_host_is_400(value):
    assert_reject(decide(head(drop=["Host"], extra=[("Host", value)])), 400)


@pytest.mark.parametrize("value", ["localhost", "127.0.0.1:8443", "[::1]:443", "example.com:"])
def test_valid_host_forms(value):
    assert isinstance(decide(head(drop=["Host"], extra=[("Host", value)])), Accept)


# --- body --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [[("Content-Length", "5")], [("Transfer-Encoding", "chunked")], [("Content-Length", "abc")],
     [("Content-Length", "0, 5")]],
    ids=["content-length", "chunked", "bad-content-length", "list-content-length"],
)
def test_request_body_is_400(extra):
    assert_reject(decide(head(extra=extra)), 400)


def test_content_length_zero_is_fine():
    assert isinstance(decide(head(extra=[("Content-Length", "0")])), Accept)


# --- RFC 6455 §4.2.1 item 1: method --------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "HEAD", "OPTIONS", "get"])
def test_rfc6455_4_2_1_method_not_get_is_405(method):
    response = assert_reject(decide(head(method=method)), 405)
    assert response.get("Allow") == "GET"


def test_precedence_host_beats_method():
    assert_reject(decide(head(method="POST", drop=["Host"])), 400)


# --- routes ------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/", "/websocket-test/", "/other", "/websocket-testx"])
def test_unknown_path_is_404(target):
    assert_reject(decide(head(target=target)), 404)


def test_query_is_ignored_and_absolute_form_accepted():
    assert isinstance(decide(head(target=ROUTE + "?a=b")), Accept)
    assert isinstance(decide(head(target="ws://example.com" + ROUTE)), Accept)


def test_asterisk_form_with_get_is_400():
    assert_reject(decide(head(target="*")), 400)


def test_route_predicate():
    assert isinstance(decide(head(target="/anything"), route_ok=lambda p: True), Accept)


# --- RFC 6455 §4.2.1 items 3 and 4: Upgrade / Connection --------------------------


@pytest.mark.parametrize(
    "upgrade",
    [None, "h2c", "websocket, h2c", "h2c, websocket", "websocket/13", "web socket", ""],
)
def test_rfc6455_4_2_1_bad_upgrade_is_426(upgrade):
    extra = [] if upgrade is None else [("Upgrade", upgrade)]
    response = assert_reject(decide(head(drop=["Upgrade"], extra=extra)), 426)
    assert response.get("Upgrade") == "websocket"
    assert "upgrade" in response.get("Connection").lower()


@pytest.mark.parametrize("connection", [None, "keep-alive", "close", "Upgrade-Insecure", ""])
def test_rfc6455_4_2_1_connection_without_upgrade_is_426(connection):
    extra = [] if connection is None else [("Connection", connection)]
    response = assert_reject(decide(head(drop=["Connection"], extra=extra)), 426)
    assert response.get("Upgrade") == "websocket"


@pytest.mark.parametrize(
    "extra",
    [
        [("Connection", "keep-alive, Upgrade")],
        [("Connection", "upgrade")],
        [("Connection", "UPGRADE ,keep-alive")],
        [("Connection", "keep-alive"), ("Connection", "Upgrade")],
    ],
)
def test_rfc6455_4_2_1_connection_list_forms_are_valid(extra):
    assert isinstance(decide(head(drop=["Connection"], extra=extra)), Accept)


def test_case_insensitive_names_and_values():
    headers = [
        ("host", "example.com"),
        ("UPGRADE", "WebSocket"),
        ("connection", "UpGrAdE"),
        ("sec-websocket-key", KEY),
        ("SEC-WEBSOCKET-VERSION", "13"),
    ]
    assert isinstance(decide(head(headers)), Accept)


def test_any_header_order():
    assert isinstance(decide(head(list(reversed(BASE)))), Accept)


# --- RFC 6455 §4.2.1 item 5: Sec-WebSocket-Key ------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        [],
        [("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Key", KEY)],
        [("Sec-WebSocket-Key", f"{KEY}, {KEY}")],
        [("Sec-WebSocket-Key", "not base64!!!!!!!!!!!!!")],
        [("Sec-WebSocket-Key", base64.b64encode(b"x").decode())],
        [("Sec-WebSocket-Key", base64.b64encode(b"x" * 4).decode())],
        [("Sec-WebSocket-Key", "U3RyZWFtKDIsID8p")],  # 12 bytes
        [("Sec-WebSocket-Key", base64.b64encode(b"x" * 32).decode())],
        [("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZR==")],  # non-canonical padding bits
        [("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ")],  # missing padding
        [("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=")],
        [("Sec-WebSocket-Key", "dGhlIHNhbXBs ZSBub25jZQ==")],
        [("Sec-WebSocket-Key", "")],
    ],
    ids=["missing", "two-lines", "comma-list", "not-base64", "1-byte", "4-bytes", "12-bytes",
         "32-bytes", "noncanonical-padding", "no-padding", "short-padding", "inner-space", "empty"],
)
def test_rfc6455_4_2_1_bad_key_is_400(extra):
    assert_reject(decide(head(drop=["Sec-WebSocket-Key"], extra=extra)), 400)


def test_rfc6455_4_2_1_key_with_slash_and_plus():
    key = "3/oJDIb5XbMj6ivoHllRBg=="
    result = decide(head(drop=["Sec-WebSocket-Key"], extra=[("Sec-WebSocket-Key", key)]))
    assert isinstance(result, Accept)
    assert result.response.get("Sec-WebSocket-Accept") == "esukiwGMdXL9SM4XYrI6+Ne4tbw="


# --- RFC 6455 §4.2.1 item 6 / §4.4: Sec-WebSocket-Version -------------------------


@pytest.mark.parametrize(
    "extra",
    [[], [("Sec-WebSocket-Version", "99")], [("Sec-WebSocket-Version", "8")],
     [("Sec-WebSocket-Version", "13, 8")],
     [("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Version", "13")],
     [("Sec-WebSocket-Version", "013")]],
    ids=["missing", "99", "8", "list", "two-lines", "leading-zero"],
)
def test_rfc6455_4_4_bad_version_is_426_with_version_13(extra):
    response = assert_reject(decide(head(drop=["Sec-WebSocket-Version"], extra=extra)), 426)
    assert response.get("Sec-WebSocket-Version") == "13"
    assert response.get("Upgrade") == "websocket"


def test_precedence_key_beats_version():
    data = head(drop=["Sec-WebSocket-Key", "Sec-WebSocket-Version"])
    assert_reject(decide(data), 400)


# --- subprotocols and extensions ---------------------------------------------------


@pytest.mark.parametrize(
    "offers, server, chosen",
    [
        ([], ("chat",), None),
        (["chat, superchat"], ("chat", "superchat"), "chat"),
        (["superchat, chat"], ("chat", "superchat"), "superchat"),  # client's order wins
        (["superchat", "chat"], ("chat",), "chat"),  # split over two lines
        (["  a ,, chat  "], ("chat",), "chat"),
        (["x, y"], ("chat",), None),
        (["chat"], (), None),
        (["Chat"], ("chat",), None),  # case-sensitive, never a value not offered
        (["a,b"], ("b",), "b"),
    ],
)
def test_rfc6455_4_2_2_subprotocol_is_one_offered_or_none(offers, server, chosen):
    extra = [("Sec-WebSocket-Protocol", value) for value in offers]
    result = decide(head(extra=extra), subprotocols=server)
    assert isinstance(result, Accept)
    assert result.subprotocol == chosen
    assert result.response.get("Sec-WebSocket-Protocol") == chosen
    assert [n for n, _ in result.response.headers].count("Sec-WebSocket-Protocol") <= 1


@pytest.mark.parametrize("offer", ["permessage-deflate; client_max_window_bits", "x-unknown", "x-webkit-deflate-frame"])
def test_rfc6455_9_1_extensions_not_echoed_when_not_configured(offer):
    result = decide(head(extra=[("Sec-WebSocket-Extensions", offer)]))
    assert isinstance(result, Accept)
    assert result.response.get("Sec-WebSocket-Extensions") is None
    assert result.extensions == ()


def test_rfc7692_permessage_deflate_negotiated_when_configured():
    result = decide(
        head(extra=[("Sec-WebSocket-Extensions", "x-unknown, permessage-deflate; client_max_window_bits")]),
        permessage_deflate=True,
    )
    assert isinstance(result, Accept)
    header = result.response.get("Sec-WebSocket-Extensions")
    assert header is not None and header.startswith("permessage-deflate")
    assert "x-unknown" not in header
    assert len(result.extensions) == 1


def test_rfc7692_permessage_deflate_not_sent_when_not_offered():
    result = decide(head(), permessage_deflate=True)
    assert isinstance(result, Accept)
    assert result.response.get("Sec-WebSocket-Extensions") is None


def test_malformed_extensions_header_is_400_when_negotiating():
    result = decide(head(extra=[("Sec-WebSocket-Extensions", "permessage-deflate;;")]), permessage_deflate=True)
    assert_reject(result, 400)


# --- response object ----------------------------------------------------------------


def test_response_is_frozen_and_hookable():
    result = decide(head())
    response = result.response
    with pytest.raises(Exception):
        response.status = 200  # type: ignore[misc]
    faulty = response.without_header("Upgrade").with_header("Sec-WebSocket-Accept", "x")
    assert faulty.get("Upgrade") is None and faulty.get("Sec-WebSocket-Accept") == "x"
    assert response.get("Upgrade") == "websocket"


def test_only_valid_upgrade_gets_101():
    """Nothing but a fully valid upgrade is answered with 101: drop each header in turn."""
    for name, _ in BASE:
        result = decide(head(drop=[name]))
        assert not isinstance(result, Accept), name
        assert status(result) != 101
