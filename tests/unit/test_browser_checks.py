"""The browser-level checks on bytes, and the options that feed them (no browser needed)."""

import pytest

from pytest_wsgateway import checks
from pytest_wsgateway.browser import find_chromium, verdict_case
from pytest_wsgateway.exchange import Exchange
from pytest_wsgateway.handshake import accept_for, build_request, parse_response_head

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def request(*extra):
    headers = (("Host", "gw"), ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", KEY),
               ("Sec-WebSocket-Version", "13"), *extra)
    return build_request("GET", "/ws", "HTTP/1.1", headers)


def answer(req, *extra, status="101 Switching Protocols"):
    head = "\r\n".join([f"HTTP/1.1 {status}", "Upgrade: websocket", "Connection: Upgrade",
                        f"Sec-WebSocket-Accept: {accept_for(KEY)}", *extra]) + "\r\n\r\n"
    data = head.encode()
    return Exchange(request=req, response_head=data, response=parse_response_head(data))


def findings(name, req, exchange, subprotocols=()):
    return checks.evaluate(((name, {}),), req, exchange, checks.Context(subprotocols=subprotocols))


OFFER = ("Sec-WebSocket-Protocol", "chat, superchat")


def test_an_offer_left_unanswered_is_refused_by_browsers_but_not_by_the_rfc():
    req = request(OFFER)
    exchange = answer(req)
    assert findings("subprotocol_from_offer", req, exchange) == []  # RFC 6455: allowed
    (finding,) = findings("subprotocol_selected", req, exchange)  # WHATWG Fetch: fail
    assert "chat, superchat" in finding.expected and finding.actual == "no Sec-WebSocket-Protocol header"
    assert findings("subprotocol_selected", req, answer(req, "Sec-WebSocket-Protocol: ")) != []
    assert findings("subprotocol_selected", req, answer(req, "Sec-WebSocket-Protocol: chat")) == []
    assert findings("subprotocol_selected", request(), answer(request())) == []  # nothing offered


@pytest.mark.parametrize(("offer", "reply", "ok"), [
    ("chat, x-unknown", "chat", True),
    ("chat, x-unknown", "x-unknown", False),  # offered, but not what the API speaks
    ("chat, x-unknown", None, False),
    ("x-a, x-b", None, True),  # nothing spoken: none selected (a browser then refuses: correct)
    ("x-a, x-b", "x-a", False),  # a blind echo of an offered name
])
def test_the_subprotocol_spoken_is_the_one_selected(offer, reply, ok):
    req = request(("Sec-WebSocket-Protocol", offer))
    exchange = answer(req, *([f"Sec-WebSocket-Protocol: {reply}"] if reply else []))
    found = findings("subprotocol_spoken", req, exchange, subprotocols=("chat",))
    assert (found == []) is ok, found
    if not ok and reply is None:
        assert "chat" in found[0].expected


BROWSER_OFFER = ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")


@pytest.mark.parametrize(("extensions", "problem"), [
    ("permessage-deflate", None),
    ("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12", None),
    ('permessage-deflate; server_max_window_bits="10"; server_no_context_takeover; client_no_context_takeover', None),
    ("permessage-deflate; client_max_window_bits", "client_max_window_bits without a value"),
    ("permessage-deflate; server_max_window_bits=7", "server_max_window_bits=7 (not 8..15)"),
    ("permessage-deflate; server_max_window_bits=010", "server_max_window_bits=010 (not 8..15)"),
    ("permessage-deflate; x_level=3", "unknown parameter x_level"),
    ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", "server_no_context_takeover twice"),
    ("permessage-deflate; server_no_context_takeover=1", "server_no_context_takeover=1 (takes no value)"),
    ("permessage-deflate, permessage-deflate", "permessage-deflate accepted 2 times"),
])
def test_permessage_deflate_responses_follow_rfc_7692(extensions, problem):
    req = request(BROWSER_OFFER)
    found = findings("deflate_response_valid", req, answer(req, f"Sec-WebSocket-Extensions: {extensions}"))
    if problem is None:
        assert found == []
    else:
        (finding,) = found
        assert problem in finding.actual


def test_client_window_bits_only_answer_an_offer_that_carried_them():
    req = request(("Sec-WebSocket-Extensions", "permessage-deflate"))
    (finding,) = findings("deflate_response_valid", req,
                          answer(req, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10"))
    assert "which the offer did not carry" in finding.actual


def test_the_verdict_family_is_every_browser_rule_on_one_request():
    names = [name for name, _ in verdict_case(("chat",)).expect]
    assert names == ["status_101", "no_interim_response", "upgrade_websocket", "connection_upgrade", "accept_matches",
                     "subprotocol_from_offer", "subprotocol_selected", "extensions_from_offer",
                     "deflate_response_valid"]
    assert ("Sec-WebSocket-Protocol", "chat") in verdict_case(("chat",)).request.add


def test_find_chromium_honours_an_explicit_path_and_the_environment(tmp_path, monkeypatch):
    fake = tmp_path / "my-chrome"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_chromium(str(fake)) == str(fake)
    monkeypatch.setenv("WSGATEWAY_BROWSER", str(fake))
    assert find_chromium() == str(fake)
    monkeypatch.setenv("WSGATEWAY_BROWSER", str(tmp_path / "absent"))
    assert find_chromium() is None


def test_a_bad_subprotocol_name_is_one_usage_error(pytester):
    result = pytester.runpytest("--gateway-subprotocol", "chat room", "-p", "no:cacheprovider")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--gateway-subprotocol 'chat room': a subprotocol name is an HTTP token*"])


def test_without_a_subprotocol_the_cases_needing_one_skip_with_the_option_named(pytester):
    from tests._targets import websockets_echo_server

    with websockets_echo_server() as url:
        result = pytester.runpytest("--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider", "-rs",
                                    f"--gateway-url={url}", "-k", "browser-offer or browser-unknown")
    result.stdout.fnmatch_lines(["*pass --gateway-subprotocol NAME*"])
    result.assert_outcomes(passed=1, skipped=2)


def test_the_subprotocol_option_reaches_the_cases(pytester):
    from tests._targets import websockets_echo_server

    with websockets_echo_server() as url:  # websockets' default server speaks no subprotocol
        result = pytester.runpytest("--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider",
                                    f"--gateway-url={url}", "--gateway-subprotocol=chat", "-k", "browser-offer")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*expected: Sec-WebSocket-Protocol: one of chat, x-wsgateway-unknown*"])


def test_the_probe_without_a_chromium_skips_saying_how_to_install_one(pytester, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("WSGATEWAY_BROWSER", raising=False)
    result = pytester.runpytest("--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider", "-rs",
                                "--gateway-browser", "-k", "browser-probe")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*apt-get install -y chromium*--gateway-browser-path*WSGATEWAY_BROWSER*"])
