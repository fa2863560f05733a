"""After the 101 and around it, against raw loopback servers that behave like real endpoints:
reserved bits, bytes that are not frames, greetings and server pings before an echo, a wrong pong
payload, 100 Continue, invalid permessage-deflate offers answered with 500, a plain GET answered
with a page, a compressed message through the reference server, and the transcript's markers."""

from __future__ import annotations

import socket
import time

import pytest

from pytest_wsgateway import frames
from pytest_wsgateway.cases import shipped_catalogue
from pytest_wsgateway.handshake import accept_for, parse_request
from pytest_wsgateway.reference_server import ServerConfig
from pytest_wsgateway.runner import run_case
from pytest_wsgateway.targets import parse_url
from tests.harness import connection_server, read_head, reference_server

CASES = {case.id: case for case in shipped_catalogue()}


def _server_frame(opcode: int, payload: bytes, rsv: int = 0) -> bytes:
    """An unmasked server frame (payload < 126 bytes)."""
    return bytes([0x80 | (rsv << 4) | opcode, len(payload)]) + payload


def _accept(request) -> bytes:
    key = request.get("Sec-WebSocket-Key") or ""
    return (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_for(key)}\r\n\r\n").encode()


def websocket(first: bytes = b"", *, rsv: int = 0, pong_payload: bytes | None = None, head: bytes | None = None):
    """A handler: a 101 (or ``head``), then ``first``, then echo data frames, answer pings (with
    ``pong_payload`` if given) and closes, every server frame with ``rsv`` set. Bounded: 5 s."""

    def handle(conn: socket.socket) -> None:
        with conn:
            request_head, pending = read_head(conn, timeout=5)
            request = parse_request(request_head)
            conn.sendall((head if head is not None else _accept(request)) + first)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                conn.settimeout(max(0.05, deadline - time.monotonic()))
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                received, pending = frames.decode(pending + data)
                for frame in received:
                    if frame.opcode in (frames.TEXT, frames.BINARY):
                        conn.sendall(_server_frame(frame.opcode, frame.payload, rsv))
                    elif frame.opcode == frames.PING:
                        answer = frame.payload if pong_payload is None else pong_payload
                        conn.sendall(_server_frame(frames.PONG, answer, rsv))
                    elif frame.opcode == frames.CLOSE:
                        conn.sendall(_server_frame(frames.CLOSE, frame.payload[:2], rsv))
                        return

    return handle


def run(case_id: str, handler, **settings):
    with connection_server(handler) as server:
        target = parse_url(server.url(), **{"timeout": 1.0, "echo": True, **settings})
        return run_case(CASES[case_id], target)


def test_rsv1_on_every_frame_without_an_extension_fails_the_case_that_names_rsv():
    outcome = run("tunnel-reserved-bits", websocket(rsv=0b100))
    assert not outcome.passed
    [finding] = outcome.findings
    assert finding.requirement.startswith("RFC 6455 §5.2: reserved bits")
    assert "pong frame (13 bytes) with RSV bits 100" in finding.actual
    assert "RSV1, RSV2 and RSV3 all 0 (no extension negotiated)" == finding.expected
    echo = run("tunnel-echo-text", websocket(rsv=0b100))
    assert [f.requirement for f in echo.findings] == ["RFC 6455 §5.2: reserved bits are 0 unless a negotiated "
                                                      "extension defines them"]


def test_clear_reserved_bits_pass():
    assert run("tunnel-reserved-bits", websocket()).passed


def test_a_chunked_101_shows_the_bytes_after_it_in_the_transcript():
    def chunked(request) -> bytes:
        return _accept(request)[:-2] + b"Transfer-Encoding: chunked\r\n\r\n"

    def handle(conn):
        with conn:
            head, _ = read_head(conn, timeout=5)
            frame = _server_frame(frames.TEXT, b"hello")
            conn.sendall(chunked(parse_request(head)) + f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
            time.sleep(1.5)

    outcome = run("tunnel-ping-pong", handle)
    assert not outcome.passed
    message = outcome.message()
    # the chunk size line "7\r\n", the 7-byte frame, the chunk's CRLF: 12 bytes, shown as received
    assert "(the bytes after the 101, as received: 12 kept)" in message
    assert "0000  37 0d 0a 81 05 68 65 6c 6c 6f 0d 0a              7....hello.." in message


def test_a_greeting_before_the_echo_passes():
    greeting = _server_frame(frames.TEXT, b'{"type":"welcome","session":"a1b2"}')
    outcome = run("tunnel-echo-text", websocket(greeting))
    assert outcome.passed, outcome.message()
    assert len(frames.messages(outcome.exchange.frames)) == 2


def test_server_pings_first_are_answered_and_the_echo_passes():
    outcome = run("tunnel-echo-text", websocket(_server_frame(frames.PING, b"are you there")))
    assert outcome.passed, outcome.message()
    assert "pong frame (13 bytes, answering a server ping)" in outcome.exchange.sent


def test_a_pong_with_another_payload_cites_5_5_3():
    outcome = run("tunnel-ping-pong", websocket(pong_payload=b"something else"))
    [finding] = outcome.findings
    assert finding.requirement == "RFC 6455 §5.5.3: the pong carries the ping's Application data"
    assert "pong with payload b'something else'" in finding.actual


def test_100_continue_before_the_101_is_fine_for_http_and_refused_by_browsers():
    def continue_then_101(conn):
        with conn:
            head, _ = read_head(conn, timeout=5)
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n" + _accept(parse_request(head)))
            time.sleep(0.5)

    rfc = run("upgrade-status-101", continue_then_101)
    assert rfc.passed, rfc.message()
    browser = run("browser-handshake", continue_then_101)
    [finding] = browser.findings
    assert finding.actual == "HTTP/1.1 100 Continue before the final response (1 informational)"
    assert "HTTP/1.1 100 Continue\n(an informational response; then:)\nHTTP/1.1 101" in browser.message()


def test_an_invalid_deflate_offer_answered_with_500_fails():
    def error_500(conn):
        with conn:
            read_head(conn, timeout=5)
            conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    outcome = run("deflate-invalid-client-bits-16", error_500)
    assert not outcome.passed
    assert outcome.findings[0].actual == "HTTP/1.1 500 Internal Server Error"


def test_a_plain_get_answered_with_a_page_is_clean_but_an_upgrade_is_not():
    def page(conn):
        with conn:
            read_head(conn, timeout=5)
            body = b"<!doctype html><title>chat</title>" * 10
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    outcome = run("reject-upgrade-missing-clean-error", page)
    assert outcome.passed, outcome.message()
    assert run("reject-upgrade-missing", page).passed
    upgraded = run("reject-upgrade-missing-clean-error", websocket())
    assert [f.expected for f in upgraded.findings] == ["a complete HTTP response other than 101"]
    # the body preview says it is cut
    strict = run("reject-key-missing", websocket(head=b"HTTP/1.1 101 Switching Protocols\r\n\r\n"))
    assert not strict.passed
    refused = run("upgrade-status-101", page)
    assert "(then 340 bytes, the first 80 shown: b'<!doctype html>" in refused.message()


def test_a_compressed_message_comes_back_through_the_reference_server():
    config = ServerConfig(schemes=("ws",), permessage_deflate=True)
    with reference_server(config) as server:
        outcome = run_case(CASES["tunnel-deflate-echo"], parse_url(server.urls["ws"], timeout=2.0, echo=True))
    assert outcome.passed, outcome.message()
    assert outcome.exchange.sent[0].startswith("compressed text frame (")
    [echoed] = frames.messages(outcome.exchange.frames, frames.Deflate())
    assert echoed.compressed and echoed.payload == b"compress me, compress me, compress me: pytest-wsgateway"


@pytest.mark.parametrize("subprotocol, shown", [("", "the API's subprotocol"), ("chat", "chat")])
def test_titles_fill_in_the_subprotocol(subprotocol, shown):
    from pytest_wsgateway.cases import title_for

    assert title_for(CASES["browser-offer"], subprotocol) == (
        f"A browser offering [{shown}, x-unknown] gets a 101 that selects a subprotocol")
