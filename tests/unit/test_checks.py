"""Verdict logic on bytes alone: request bytes + response bytes -> findings (no sockets)."""

import pytest

from pytest_wsgateway import checks, frames
from pytest_wsgateway.apidef import ApiInfo
from pytest_wsgateway.exchange import Exchange, ExchangeError, TlsInfo
from pytest_wsgateway.handshake import accept_for, build_request, parse_response_head

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
CONTEXT = checks.Context()


def request(*extra, key=KEY, method="GET", version="HTTP/1.1"):
    headers = (("Host", "gw.example"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13"), *extra)
    return build_request(method, "/ws", version, headers)


def answer(req, head, **fields):
    data = head.replace("\n", "\r\n").encode() + b"\r\n\r\n"
    return Exchange(request=req, response_head=data, response=parse_response_head(data), **fields)


GOOD_101 = f"HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Accept: {accept_for(KEY)}"


def run(names, req, exchange, context=CONTEXT):
    return checks.evaluate(tuple((name, {}) for name in names), req, exchange, context)


def test_a_correct_101_passes_every_upgrade_check():
    req = request()
    assert run(["upgraded", "no_content_length", "no_transfer_encoding"], req, answer(req, GOOD_101)) == []


def test_gatewayscript_style_101_names_the_missing_headers():
    """API Connect GatewayScript: status and Accept only (field-notes: Kong#4718, caddy#6134)."""
    req = request()
    findings = run(["upgraded"], req, answer(req, f"HTTP/1.1 101 Switching Protocols\nSec-WebSocket-Accept: {accept_for(KEY)}"))
    assert [f.actual for f in findings] == ["no Upgrade header", "no Connection header"]
    assert [f.expected for f in findings] == ["Upgrade: websocket", "Connection: Upgrade"]


@pytest.mark.parametrize("accept", [
    accept_for(KEY)[:-1] + "x",  # wrong value
    accept_for(KEY) + "garbage",  # trailing garbage
    accept_for("AQIDBA=="),  # hashed another key
    "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w=",  # hashed an empty key
])
def test_wrong_accept_values_are_found(accept):
    req = request()
    head = f"HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Accept: {accept}"
    (finding,) = run(["accept_matches"], req, answer(req, head))
    assert accept_for(KEY) in finding.expected and accept in finding.actual


def test_two_accept_headers_are_a_finding_rfc6455_section_11_3_3():
    req = request()
    (finding,) = run(["accept_matches"], req, answer(req, GOOD_101 + f"\nSec-WebSocket-Accept: {accept_for(KEY)}"))
    assert finding.actual.count("Sec-WebSocket-Accept") == 2


@pytest.mark.parametrize(("head", "check"), [
    ("HTTP/1.1 101 Switching Protocols\nUpgrade: h2c\nConnection: Upgrade", "upgrade_websocket"),
    ("HTTP/1.1 101 Switching Protocols\nUpgrade: websocket, h2c\nConnection: Upgrade", "upgrade_websocket"),
    ("HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: keep-alive", "connection_upgrade"),
    ("HTTP/1.1 101 Switching Protocols\nContent-Length: 0", "no_content_length"),
    ("HTTP/1.1 101 Switching Protocols\nTransfer-Encoding: chunked", "no_transfer_encoding"),
    ("HTTP/1.0 101 Switching Protocols", "status_line_http11"),
    ("HTTP/1.1 200 OK", "status_101"),
])
def test_each_101_fault_is_found_by_its_check(head, check):
    req = request()
    assert len(run([check], req, answer(req, head))) == 1


def test_case_insensitive_values_are_accepted():
    req = request()
    head = f"HTTP/1.1 101 Switching Protocols\nUPGRADE: WebSocket\nconnection: keep-alive, UPGRADE\nSec-WebSocket-Accept: {accept_for(KEY)}"
    assert run(["upgraded"], req, answer(req, head)) == []


@pytest.mark.parametrize(("offer", "chosen", "ok"), [
    (None, None, True),
    (None, "chat", False),  # echoed without an offer
    ("chat, superchat", "superchat", True),
    ("chat, superchat", "chat, superchat", False),  # echoed the whole list
    ("chat", "superchat", False),  # picked one not offered
    (" chat ,superchat ", "superchat", True),  # offer with odd whitespace
])
def test_subprotocol_selection(offer, chosen, ok):
    req = request(*([("Sec-WebSocket-Protocol", offer)] if offer else []))
    head = GOOD_101 + (f"\nSec-WebSocket-Protocol: {chosen}" if chosen else "")
    assert (run(["subprotocol_from_offer"], req, answer(req, head)) == []) is ok


@pytest.mark.parametrize(("offer", "returned", "ok"), [
    (None, None, True),
    (None, "permessage-deflate", False),
    ("permessage-deflate; client_max_window_bits", "permessage-deflate; server_no_context_takeover", True),
    ("x-unknown", "permessage-deflate", False),
])
def test_extension_selection(offer, returned, ok):
    req = request(*([("Sec-WebSocket-Extensions", offer)] if offer else []))
    head = GOOD_101 + (f"\nSec-WebSocket-Extensions: {returned}" if returned else "")
    assert (run(["extensions_from_offer"], req, answer(req, head)) == []) is ok


def test_rejections_pass_not_upgraded_and_judge_cleanliness():
    req = request(key="AQIDBA==")
    assert run(["not_upgraded", "clean_error"], req, answer(req, "HTTP/1.1 400 Bad Request")) == []
    reset = Exchange(request=req, error="connection reset by the target")
    assert run(["not_upgraded"], req, reset) == []
    (finding,) = run(["clean_error"], req, reset)
    assert finding.actual == "connection reset by the target"
    (finding,) = run(["not_upgraded"], req, answer(req, GOOD_101))
    assert finding.actual.startswith("HTTP/1.1 101")


def test_clean_error_accepts_listed_extra_statuses_only():
    req = request(version="HTTP/1.0")
    exchange = answer(req, "HTTP/1.1 505 HTTP Version Not Supported")
    assert checks.evaluate((("clean_error", {"also": (505,)}),), req, exchange, CONTEXT) == []
    assert len(checks.evaluate((("clean_error", {}),), req, exchange, CONTEXT)) == 1


def test_version_advertised_rfc6455_section_4_4():
    req = request(("Sec-WebSocket-Version", "99"))
    assert run(["version_advertised"], req, answer(req, "HTTP/1.1 426 Upgrade Required\nSec-WebSocket-Version: 13")) == []
    assert run(["version_advertised"], req, answer(req, "HTTP/1.1 400 Bad Request\nSec-WebSocket-Version: 8, 13")) == []
    (finding,) = run(["version_advertised"], req, answer(req, "HTTP/1.1 400 Bad Request"))
    assert "no Sec-WebSocket-Version header" in finding.actual


def test_conditional_header_rules_for_405_and_426():
    req = request(method="POST")
    assert len(run(["allow_on_405"], req, answer(req, "HTTP/1.1 405 Method Not Allowed"))) == 1
    assert run(["allow_on_405"], req, answer(req, "HTTP/1.1 405 Method Not Allowed\nAllow: GET")) == []
    assert len(run(["upgrade_on_426"], req, answer(req, "HTTP/1.1 426 Upgrade Required"))) == 1
    assert run(["upgrade_on_426"], req, answer(req, "HTTP/1.1 426 Upgrade Required\nUpgrade: websocket")) == []


def test_after_upgrade_checks_read_the_frames():
    req = request()
    pong = frames.Frame(frames.PONG, b"p")
    ok = answer(req, GOOD_101, frames=[pong, frames.Frame(frames.CLOSE, b"\x03\xe8")], closed_by_peer=True)
    expect = (("pong_answers_ping", {"payload": "p"}), ("close_answered", {}), ("server_closes_tcp", {}),
              ("server_frames_unmasked", {}))
    assert checks.evaluate(expect, req, ok, CONTEXT) == []
    silent = answer(req, GOOD_101, frame_error=ExchangeError("timeout", "no answer to the ping frame within 5 s"))
    findings = checks.evaluate(expect[:2], req, silent, CONTEXT)
    assert len(findings) == 2 and "no answer to the ping frame" in findings[0].actual
    masked = answer(req, GOOD_101, frames=[frames.Frame(frames.PONG, b"p", masked=True)])
    assert len(run(["server_frames_unmasked"], req, masked)) == 1


def test_http_after_the_101_is_not_frames():
    req = request()
    exchange = answer(req, GOOD_101, early=b"HTTP/1.1 200 OK\r\n\r\n")
    (finding,) = run(["early_bytes_are_frames"], req, exchange)
    assert "HTTP/1.1 200" in finding.actual


def test_tls_and_api_checks():
    req = request()
    insecure = answer(req, GOOD_101, tls=TlsInfo("TLSv1.3", "http/1.1", "X", "gw", verified=False))
    assert len(run(["tls_verified"], req, insecure)) == 1
    assert len(run(["tls_verified"], req, answer(req, GOOD_101))) == 1  # plain TCP for a wss case
    h2 = answer(req, GOOD_101, tls=TlsInfo("TLSv1.3", "h2", "X", "gw", verified=True))
    assert len(run(["alpn_http11"], req, h2)) == 1
    api = ApiInfo("api.yaml", ("https",), "/websocket-test", ("/",))
    context = checks.Context(scheme="wss", path="/org/sandbox/websocket-test", api=api)
    (finding,) = run(["api_lists_scheme", "api_declares_path"], req, Exchange(request=req), context)
    assert "schemes: [https]" in finding.actual
    elsewhere = checks.Context(scheme="wss", path="/org/sandbox/other", api=api)
    assert len(run(["api_declares_path"], req, Exchange(request=req), elsewhere)) == 1


def test_upgrade_on_an_error_must_be_a_connection_option_rfc9110_section_7_8():
    req = request(("Upgrade", "h2c"))
    bad = answer(req, "HTTP/1.1 426 Upgrade Required\nUpgrade: websocket\nConnection: close")
    (finding,) = run(["upgrade_listed_in_connection"], req, bad)
    assert finding.actual == "Upgrade: websocket with Connection: close"
    good = answer(req, "HTTP/1.1 426 Upgrade Required\nUpgrade: websocket\nConnection: Upgrade, close")
    assert run(["upgrade_listed_in_connection"], req, good) == []
    assert run(["upgrade_listed_in_connection"], req, answer(req, "HTTP/1.1 400 Bad Request")) == []


def test_a_request_body_is_refused_cleanly_or_the_tunnel_works():
    req = request(("Content-Length", "5"))
    expect = (("refused_cleanly_or_tunnel_works", {"payload": "p"}),)
    assert checks.evaluate(expect, req, answer(req, "HTTP/1.1 400 Bad Request"), CONTEXT) == []
    working = answer(req, GOOD_101, frames=[frames.Frame(frames.PONG, b"p")])
    assert checks.evaluate(expect, req, working, CONTEXT) == []
    # The body read as frames: the server closes with a protocol error instead of answering the ping.
    smuggled = answer(req, GOOD_101, frames=[frames.Frame(frames.CLOSE, b"\x03\xea")])
    (finding,) = checks.evaluate(expect, req, smuggled, CONTEXT)
    assert "close frame" in finding.actual
    reset = Exchange(request=req, error="the target closed the connection without a response")
    (finding,) = checks.evaluate(expect, req, reset, CONTEXT)
    assert finding.actual == "the target closed the connection without a response"


def test_an_unknown_method_answered_501_is_a_clean_error_rfc9110_section_9_1():
    """'get' is an unknown method (methods are case-sensitive); RFC 9110 §9.1 recommends 501 for it,
    as nghttpx answers. A 500 is still not clean, and 501 stays unclean for a known method (POST)."""
    from pytest_wsgateway.cases import shipped_catalogue

    by_id = {case.id: case for case in shipped_catalogue()}

    def judged(case_id, status_line):
        req = request(method="get" if "lowercase" in case_id else "POST")
        return checks.evaluate(by_id[case_id].expect, req, answer(req, status_line), CONTEXT)

    assert judged("reject-method-lowercase-get-clean-error", "HTTP/1.1 501 Not Implemented") == []
    assert len(judged("reject-method-lowercase-get-clean-error", "HTTP/1.1 500 Internal Server Error")) == 1
    assert len(judged("reject-method-post-clean-error", "HTTP/1.1 501 Not Implemented")) == 1
