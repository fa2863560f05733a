"""Sans-I/O handshake helpers: accept-key vectors, request building, response-head parsing."""

import base64

import pytest

from pytest_wsgateway.handshake import (
    MalformedMessage,
    accept_for,
    build_request,
    head_end,
    new_key,
    parse_request,
    parse_response_head,
)

# ../shared/field-notes.md; the first is RFC 6455 §1.3's own example.
VECTORS = [
    ("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
    ("x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk="),
    ("AAAAAAAAAAAAAAAAAAAAAA==", "ICX+Yqv66kxgM0FcWaLWlFLwTAI="),
    ("3/oJDIb5XbMj6ivoHllRBg==", "esukiwGMdXL9SM4XYrI6+Ne4tbw="),
    ("", "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w="),
    ("U3RyZWFtKDIsID8p", "vWim+olrbAsFotXFawR2SuvYRvI="),
]


@pytest.mark.parametrize(("key", "accept"), VECTORS)
def test_accept_vectors_rfc6455_section_1_3(key, accept):
    assert accept_for(key) == accept


def test_accept_ignores_surrounding_whitespace_rfc6455_section_4_1():
    assert accept_for("  dGhlIHNhbXBsZSBub25jZQ==\t") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_accept_matches_websockets_for_fresh_keys():
    from websockets.utils import accept_key

    for _ in range(20):
        key = new_key()
        assert accept_for(key) == accept_key(key)


def test_new_key_is_16_random_bytes_base64():
    keys = {new_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(len(base64.b64decode(key, validate=True)) == 16 for key in keys)


def test_build_request_keeps_order_duplicates_and_spelling():
    headers = (("host", "a"), ("Sec-WebSocket-Key", "k1"), ("SEC-WEBSOCKET-KEY", "k2"))
    data = build_request("GET", "/x?y=1", "HTTP/1.1", headers, b"body")
    assert data == b"GET /x?y=1 HTTP/1.1\r\nhost: a\r\nSec-WebSocket-Key: k1\r\nSEC-WEBSOCKET-KEY: k2\r\n\r\nbody"
    parsed = parse_request(data)
    assert parsed.method == "GET" and parsed.target == "/x?y=1" and parsed.version == "HTTP/1.1"
    assert parsed.get_all("sec-websocket-key") == ["k1", "k2"]


def test_parse_response_head_tokens_case_insensitive():
    response = parse_response_head(
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
        b"Connection: x\r\n\r\n\x81\x00"
    )
    assert (response.version, response.status, response.reason) == ("HTTP/1.1", 101, "Switching Protocols")
    assert response.has_token("Upgrade", "websocket")
    assert response.tokens("connection") == ["keep-alive", "Upgrade", "x"]
    assert response.get("Connection") == "keep-alive, Upgrade, x"
    assert response.get("Sec-WebSocket-Accept") is None


def test_head_end_finds_the_blank_line():
    assert head_end(b"HTTP/1.1 200 OK\r\n") == -1
    assert head_end(b"HTTP/1.1 200 OK\r\n\r\nrest") == len(b"HTTP/1.1 200 OK\r\n\r\n")


@pytest.mark.parametrize("data", [
    b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    b"HTTP/1.1 1O1 Switching\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nno colon here\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\n",
])
def test_malformed_response_heads_are_rejected(data):
    with pytest.raises(MalformedMessage):
        parse_response_head(data)
