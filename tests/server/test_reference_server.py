"""The reference server on real loopback sockets and real TLS (no mocks)."""

from __future__ import annotations

import base64
import socket
import ssl
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.harness import open_socket, read_frame, read_head, read_until_close
from tests.server._helpers import (
    DEFAULT_ACCEPT,
    ROUTE,
    Response,
    build_request,
    exchange,
    mask_frame,
    upgrade_head,
)
from pytest_wsgateway.reference_server import (
    ReferenceServer,
    ServerConfig,
    client_ssl_context,
    issue_server_cert,
    make_ca,
    server_ssl_context,
)
from pytest_wsgateway.reference_server.faults import Fault


@pytest.fixture(scope="module")
def ca():
    return make_ca()


@pytest.fixture(scope="module")
def server(ca):
    config = ServerConfig(
        ssl_context=server_ssl_context(issue_server_cert(ca)),
        schemes=("ws", "wss"),
        subprotocols=("chat", "superchat"),
    )
    srv = ReferenceServer(config).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(params=["ws", "wss"])
def target(request, server, ca):
    """(address, client ssl context or None) for each listener."""
    scheme = request.param
    ctx = client_ssl_context(ca) if scheme == "wss" else None
    return server.address(scheme), ctx


def reject(target, data: bytes, status: int) -> Response:
    address, ctx = target
    response, closed = exchange(address, data, ssl_context=ctx)
    assert response.status == status, response
    assert "close" in response.tokens("Connection"), response
    assert response.get("Content-Length") == str(len(response.body)), response
    assert closed, "the server must close the connection after a rejection"
    return response


def accepted(target, data: bytes) -> Response:
    address, ctx = target
    response = upgrade_head(address, data, ssl_context=ctx)
    assert response.status == 101, response
    assert response.tokens("Upgrade") == ["websocket"]
    assert "upgrade" in response.tokens("Connection")
    assert response.get("Content-Length") is None and response.get("Transfer-Encoding") is None
    return response


# --- lifecycle ---------------------------------------------------------------------


def test_urls_and_addresses(server):
    urls = server.urls
    assert set(urls) == {"ws", "wss"}
    for scheme in ("ws", "wss"):
        host, port = server.address(scheme)
        assert host == "127.0.0.1" and port > 0
        assert urls[scheme] == f"{scheme}://127.0.0.1:{port}{ROUTE}"
    assert server.address("ws") != server.address("wss")
    assert server.routes == (ROUTE,)


def test_wss_without_ssl_context_is_a_clear_error():
    with pytest.raises(ValueError, match="ssl_context"):
        ReferenceServer(ServerConfig())  # the shipped API lists wss


def test_start_stop_and_context_manager():
    with ReferenceServer(ServerConfig(schemes=("ws",))) as srv:
        address = srv.address("ws")
        with connect(srv.urls["ws"], open_timeout=5) as client:
            client.send("x")
            assert client.recv(timeout=5) == "x"
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=2).close()


def test_stop_closes_open_connections():
    srv = ReferenceServer(ServerConfig(schemes=("ws",))).start()
    try:
        with connect(srv.urls["ws"], open_timeout=5, close_timeout=2) as client:
            srv.stop()
            with pytest.raises(ConnectionClosed):
                client.recv(timeout=10)
        assert client.protocol.close_code == 1001
    finally:
        srv.stop()


def test_ipv6_url_is_bracketed():
    try:
        srv = ReferenceServer(ServerConfig(host="::1", schemes=("ws",))).start()
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback: {exc}")
    try:
        port = srv.address("ws")[1]
        assert srv.urls["ws"] == f"ws://[::1]:{port}{ROUTE}"
        with connect(srv.urls["ws"], open_timeout=5) as client:
            client.send("v6")
            assert client.recv(timeout=5) == "v6"
    finally:
        srv.stop()


# --- RFC 6455 §1.3 / §4.2.2: valid requests get 101 ----------------------------------


def test_rfc6455_1_3_accept_vector_on_the_wire(target):
    response = accepted(target, build_request())
    assert response.get("Sec-WebSocket-Accept") == DEFAULT_ACCEPT
    assert response.get("Sec-WebSocket-Protocol") is None
    assert response.get("Sec-WebSocket-Extensions") is None


def test_connection_keep_alive_upgrade_is_valid(target):
    accepted(target, build_request(replace={"Connection": "keep-alive, Upgrade"}))


def test_mixed_case_names_and_values(target):
    data = (
        b"GET /websocket-test HTTP/1.1\r\nhOST: 127.0.0.1\r\nuPgRaDe: WebSocket\r\n"
        b"CONNECTION: UPGRADE\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"SEC-WEBSOCKET-VERSION: 13\r\n\r\n"
    )
    assert accepted(target, data).get("Sec-WebSocket-Accept") == DEFAULT_ACCEPT


def test_any_header_order(target):
    from tests.server._helpers import BASE_HEADERS

    accepted(target, build_request(headers=tuple(reversed(BASE_HEADERS))))


@pytest.mark.parametrize(
    "offers, expected",
    [
        (["chat, superchat"], "chat"),
        (["superchat, chat"], "superchat"),
        (["superchat", "chat"], "superchat"),
        (["other", "chat"], "chat"),
        (["other, x"], None),
    ],
)
def test_rfc6455_4_2_2_subprotocol_exactly_one_offered_or_none(target, offers, expected):
    extra = [("Sec-WebSocket-Protocol", value) for value in offers]
    response = accepted(target, build_request(extra=extra))
    values = response.get_all("Sec-WebSocket-Protocol")
    assert values == ([expected] if expected else [])


@pytest.mark.parametrize("offer", ["x-unknown-extension", "permessage-deflate; client_max_window_bits"])
def test_extension_offers_not_echoed(target, offer):
    response = accepted(target, build_request(extra=[("Sec-WebSocket-Extensions", offer)]))
    assert response.get("Sec-WebSocket-Extensions") is None


# --- every invalid request is rejected and closed ------------------------------------


def test_post_is_405_with_allow_get(target):
    assert reject(target, build_request(method="POST"), 405).get("Allow") == "GET"


def test_http_1_0_is_505(target):
    reject(target, build_request(version="HTTP/1.0"), 505)


def test_missing_host_is_400(target):
    reject(target, build_request(drop=["Host"]), 400)


def test_duplicated_host_is_400(target):
    reject(target, build_request(extra=[("Host", "127.0.0.1")]), 400)


@pytest.mark.parametrize("upgrade", [None, "h2c", "websocket, h2c"])
def test_bad_upgrade_is_426_with_upgrade_websocket(target, upgrade):
    extra = [("Upgrade", upgrade)] if upgrade else []
    response = reject(target, build_request(drop=["Upgrade"], extra=extra), 426)
    assert response.get("Upgrade") == "websocket"


@pytest.mark.parametrize("connection", [None, "keep-alive"])
def test_connection_without_upgrade_is_426(target, connection):
    extra = [("Connection", connection)] if connection else []
    response = reject(target, build_request(drop=["Connection"], extra=extra), 426)
    assert response.get("Upgrade") == "websocket"


KEY_CASES = {
    "missing": [],
    "duplicated": [("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Key", "x3JJHMbDL1EzLkh9GBhXDw==")],
    "non-base64": [("Sec-WebSocket-Key", "!!!!not-base64-at-all!!!")],
    "1-byte": [("Sec-WebSocket-Key", base64.b64encode(b"a").decode())],
    "4-bytes": [("Sec-WebSocket-Key", base64.b64encode(b"abcd").decode())],
    "12-bytes": [("Sec-WebSocket-Key", "U3RyZWFtKDIsID8p")],
    "32-bytes": [("Sec-WebSocket-Key", base64.b64encode(bytes(32)).decode())],
    "non-canonical-padding": [("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZR==")],
}


@pytest.mark.parametrize("case", list(KEY_CASES))
def test_bad_key_is_400(target, case):
    reject(target, build_request(drop=["Sec-WebSocket-Key"], extra=KEY_CASES[case]), 400)


@pytest.mark.parametrize("version", [None, "99", "8"])
def test_bad_version_is_426_with_sec_websocket_version_13(target, version):
    extra = [("Sec-WebSocket-Version", version)] if version else []
    response = reject(target, build_request(drop=["Sec-WebSocket-Version"], extra=extra), 426)
    assert response.get("Sec-WebSocket-Version") == "13"


def test_request_with_body_is_400(target):
    data = build_request(extra=[("Content-Length", "5")], body=b"hello")
    reject(target, data, 400)


def test_chunked_body_is_400(target):
    data = build_request(extra=[("Transfer-Encoding", "chunked")], body=b"5\r\nhello\r\n0\r\n\r\n")
    reject(target, data, 400)


@pytest.mark.parametrize("path", ["/", "/nope", ROUTE + "/"])
def test_unknown_path_is_404(target, path):
    reject(target, build_request(path), 404)


def test_malformed_head_is_400(target):
    reject(target, b"GET /websocket-test HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n", 400)


def test_nothing_but_a_valid_upgrade_gets_101(server):
    """Each single deviation from a valid request is refused; the valid one is accepted."""
    address = server.address("ws")
    variants = [build_request(drop=[name]) for name in
                ("Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version")]
    variants += [
        build_request(method="POST"),
        build_request(method="HEAD"),
        build_request(version="HTTP/1.0"),
        build_request("/elsewhere"),
        build_request(replace={"Upgrade": "h2c"}),
        build_request(replace={"Connection": "close"}),
        build_request(replace={"Sec-WebSocket-Key": "AAAA"}),
        build_request(replace={"Sec-WebSocket-Version": "12"}),
        build_request(extra=[("Content-Length", "1")], body=b"x"),
    ]
    for data in variants:
        response, closed = exchange(address, data)
        assert response.status != 101 and 400 <= response.status < 600, (data, response)
        assert closed
    assert upgrade_head(address, build_request()).status == 101


# --- after the 101 --------------------------------------------------------------------


def test_text_binary_ping_and_close_over_wss(server, ca):
    with connect(server.urls["wss"], ssl=client_ssl_context(ca), open_timeout=5, close_timeout=5) as ws:
        ws.send("héllo")
        assert ws.recv(timeout=5) == "héllo"
        ws.send(b"\x00\xffbinary")
        assert ws.recv(timeout=5) == b"\x00\xffbinary"
        assert ws.ping(b"p").wait(5)
        ws.send(["frag", "mented"])
        assert ws.recv(timeout=5) == "fragmented"
        ws.send([b"a", b"b"])
        assert ws.recv(timeout=5) == b"ab"
        ws.close()
    assert ws.protocol.close_code == 1000


def test_text_echo_over_ws(server):
    with connect(server.urls["ws"], open_timeout=5, subprotocols=["superchat"]) as ws:
        assert ws.subprotocol == "superchat"
        big = "x" * 100_000
        ws.send(big)
        assert ws.recv(timeout=5) == big


def test_frame_pipelined_with_the_request_is_echoed(target):
    address, ctx = target
    sock = open_socket(address, ssl_context=ctx)
    try:
        sock.sendall(build_request() + mask_frame(0x1, b"early bird"))
        head, rest = read_head(sock)
        assert Response(head).status == 101
        opcode, payload, rest = read_frame(sock, rest)
        assert (opcode, payload) == (0x1, b"early bird")
        # fragmented message from raw frames, then ping, then close
        sock.sendall(mask_frame(0x2, b"ab", fin=False) + mask_frame(0x0, b"cd"))
        opcode, payload, rest = read_frame(sock, rest)
        assert (opcode, payload) == (0x2, b"abcd")
        sock.sendall(mask_frame(0x9, b"ping!"))
        opcode, payload, rest = read_frame(sock, rest)
        assert (opcode, payload) == (0xA, b"ping!")
        sock.sendall(mask_frame(0x8, (1000).to_bytes(2, "big") + b"bye"))
        opcode, payload, rest = read_frame(sock, rest)
        assert opcode == 0x8 and payload[:2] == (1000).to_bytes(2, "big")
        data, closed = read_until_close(sock, 5)
        assert closed, "server closes TCP after the closing handshake"
    finally:
        sock.close()


def test_invalid_utf8_text_closes_1007(server):
    sock = open_socket(server.address("ws"))
    try:
        sock.sendall(build_request() + mask_frame(0x1, b"\xff\xfe"))
        head, rest = read_head(sock)
        opcode, payload, _ = read_frame(sock, rest)
        assert opcode == 0x8 and int.from_bytes(payload[:2], "big") == 1007
    finally:
        sock.close()


def test_unmasked_client_frame_closes_1002(server):
    sock = open_socket(server.address("ws"))
    try:
        sock.sendall(build_request() + b"\x81\x02hi")
        head, rest = read_head(sock)
        opcode, payload, _ = read_frame(sock, rest)
        assert opcode == 0x8 and int.from_bytes(payload[:2], "big") == 1002
    finally:
        sock.close()


# --- limits ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited_server():
    config = ServerConfig(
        schemes=("ws",),
        open_timeout=0.3,
        max_connections=2,
        max_message_size=1024,
        max_line=1024,
        max_headers=16,
    )
    srv = ReferenceServer(config).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_long_header_line_is_431(limited_server):
    data = build_request(extra=[("X-Long", "a" * 2000)])
    response, closed = exchange(limited_server.address("ws"), data)
    assert response.status == 431 and closed


def test_long_request_line_is_414(limited_server):
    response, closed = exchange(limited_server.address("ws"), build_request("/" + "a" * 2000))
    assert response.status == 414 and closed


def test_too_many_headers_is_431(limited_server):
    data = build_request(extra=[(f"X-H{i}", "v") for i in range(20)])
    response, closed = exchange(limited_server.address("ws"), data)
    assert response.status == 431 and closed


def test_open_timeout_disconnects_half_a_head(limited_server):
    sock = open_socket(limited_server.address("ws"))
    try:
        sock.sendall(b"GET /websocket-test HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        data, closed = read_until_close(sock, timeout=10)
    finally:
        sock.close()
    assert closed, "a client that never finishes its head is disconnected"
    assert data.startswith(b"HTTP/1.1 408 ")


def test_open_timeout_silent_client(limited_server):
    sock = open_socket(limited_server.address("ws"))
    try:
        _, closed = read_until_close(sock, timeout=10)
    finally:
        sock.close()
    assert closed


def test_max_message_size_closes_1009(limited_server):
    with connect(limited_server.urls["ws"], open_timeout=5, close_timeout=5) as ws:
        ws.send("ok")
        assert ws.recv(timeout=5) == "ok"
        ws.send("x" * 2000)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    assert ws.protocol.close_code == 1009


def test_max_connections_gets_503_then_serves_again(limited_server):
    url = limited_server.urls["ws"]
    address = limited_server.address("ws")
    with connect(url, open_timeout=5), connect(url, open_timeout=5):
        response, closed = exchange(address, build_request())
        assert response.status == 503 and closed
        assert "close" in response.tokens("Connection")
    # the slots are released asynchronously: retry briefly, bounded
    deadline = time.monotonic() + 10
    while True:
        response = upgrade_head(address, build_request())
        if response.status == 101 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert response.status == 101


# --- TLS ---------------------------------------------------------------------------------


def test_tls_client_trusting_the_ca_connects(server, ca):
    with connect(server.urls["wss"], ssl=client_ssl_context(ca), open_timeout=5) as ws:
        ws.send("tls")
        assert ws.recv(timeout=5) == "tls"


def test_tls_default_trust_store_fails_verification(server):
    ctx = ssl.create_default_context()
    with pytest.raises(ssl.SSLCertVerificationError):
        with connect(server.urls["wss"], ssl=ctx, open_timeout=5):
            pass


def test_tls_alpn_h2_or_http11_and_tls12_minimum(server, ca):
    # h2 when the client offers it (the server speaks RFC 8441, tests/server/test_reference_server_h2.py),
    # http/1.1 for a client that offers only that.
    for offer, selected in ((["h2", "http/1.1"], "h2"), (["http/1.1"], "http/1.1")):
        sock = open_socket(server.address("wss"), ssl_context=client_ssl_context(ca, alpn=offer))
        try:
            assert sock.selected_alpn_protocol() == selected
            assert sock.version() in ("TLSv1.2", "TLSv1.3")
        finally:
            sock.close()


def test_tls_hostname_localhost_verifies(server, ca):
    host, port = server.address("wss")
    with connect(f"wss://localhost:{port}{ROUTE}", ssl=client_ssl_context(ca), open_timeout=5) as ws:
        ws.send("name")
        assert ws.recv(timeout=5) == "name"


def test_permessage_deflate_when_configured(ca):
    with ReferenceServer(ServerConfig(schemes=("ws",), permessage_deflate=True)) as srv:
        with connect(srv.urls["ws"], open_timeout=5) as ws:  # the client offers deflate
            assert [e.name for e in ws.protocol.extensions] == ["permessage-deflate"]
            ws.send("compress me " * 100)
            assert ws.recv(timeout=5) == "compress me " * 100
            ws.send(["a" * 10, "b" * 10])
            assert ws.recv(timeout=5) == "a" * 10 + "b" * 10
        with connect(srv.urls["ws"], open_timeout=5, compression=None) as ws:
            assert ws.protocol.extensions == []
            assert ws.response.headers.get("Sec-WebSocket-Extensions") is None


def test_respond_seam():
    def hook(request, response):
        return response.without_header("Upgrade") if response.status == 101 else response

    rewrite = Fault(name="no-upgrade", doc="The 101 loses its Upgrade header.", seen="", respond=hook)
    with ReferenceServer(ServerConfig(schemes=("ws",), fault=rewrite)) as srv:
        response = upgrade_head(srv.address("ws"), build_request())
        assert response.status == 101 and response.get("Upgrade") is None
