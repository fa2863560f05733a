"""WebSockets over HTTP/2 (RFC 8441), the pure parts: the extended CONNECT field list a case renders,
its parse for the checks, the HTTP/2 checks and "not offered" (no sockets, no ``h2``)."""

import pytest

from pytest_wsgateway import checks, transport
from pytest_wsgateway.cases import TRANSPORT_NAMES, CatalogueError, RequestSpec, load_file, render_h2_request
from pytest_wsgateway.exchange import Exchange, ExchangeError
from pytest_wsgateway.handshake import MalformedMessage, h2_fields, h2_response, parse_h2_request, render_h2_fields
from pytest_wsgateway.runner import CANARIES, render
from pytest_wsgateway.targets import parse_url
from pytest_wsgateway.verdicts import read_canary

CONTEXT = checks.Context()


def connect(spec=RequestSpec(), **settings):
    return render_h2_request(spec, host="gw.example", resource="/ws?x=1", secure=True, **settings)


def answer(fields, *, settings=None, ended=False, error=None, interim=()):
    head = render_h2_fields(fields) if fields else b""
    return Exchange(request=connect(), response_head=head, response=h2_response(fields) if fields else None,
                    protocol="h2", settings={1: 4096, 8: 1} if settings is None else settings,
                    stream_ended=ended, error=error, interim=[render_h2_fields(f) for f in interim])


def findings(name, exchange, **params):
    return checks.evaluate(((name, params),), exchange.request, exchange, CONTEXT)


def test_the_baseline_extended_connect_is_rfc_8441_section_4():
    fields = h2_fields(connect(extra_headers=(("Origin", "https://app.example"), ("X-Client-Id", "abc"))))
    assert fields == [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"), (":path", "/ws?x=1"),
                      (":authority", "gw.example"), ("sec-websocket-version", "13"),
                      ("origin", "https://app.example"), ("x-client-id", "abc")]


def test_case_edits_reach_pseudo_header_fields():
    removed = h2_fields(connect(RequestSpec(remove=(":path",))))
    assert ":path" not in dict(removed) and dict(removed)[":method"] == "CONNECT"
    bogus = dict(h2_fields(connect(RequestSpec(set=((":protocol", "bogus"),)))))
    assert bogus[":protocol"] == "bogus"
    offer = dict(h2_fields(connect(RequestSpec(set=(("Sec-WebSocket-Protocol", "{subprotocol}"),)), subprotocol="chat")))
    assert offer["sec-websocket-protocol"] == "chat"  # lowercased (RFC 9113 §8.2.1)
    plain = dict(h2_fields(render_h2_request(RequestSpec(), host="gw:8080", resource="/", secure=False)))
    assert plain[":scheme"] == "http" and plain[":authority"] == "gw:8080"


def test_the_field_list_reads_as_a_request_for_the_http11_checks():
    request = parse_h2_request(connect(RequestSpec(set=(("sec-websocket-protocol", "chat, superchat"),))))
    assert request.start == ("CONNECT", "/ws?x=1", "HTTP/2")
    assert request.tokens("Sec-WebSocket-Protocol") == ["chat", "superchat"]


def test_an_http2_response_needs_a_three_digit_status():
    assert h2_response([(":status", "200"), ("server", "x")]).status == 200
    with pytest.raises(MalformedMessage):
        h2_response([("server", "x")])


def test_accepted_means_2xx_with_the_stream_open():
    assert answer([(":status", "200")]).upgraded
    assert not answer([(":status", "200")], ended=True).upgraded
    assert not answer([(":status", "400")]).upgraded
    assert findings("h2_accepted", answer([(":status", "200")])) == []
    [finding] = findings("h2_accepted", answer([(":status", "200")], ended=True))
    assert finding.actual == ":status 200, END_STREAM"
    assert read_canary(answer([(":status", "200")])).upgraded


def test_never_101_looks_at_interim_and_final_answers():
    assert findings("h2_not_101", answer([(":status", "200")])) == []
    assert findings("h2_not_101", answer([(":status", "101")]))
    assert findings("h2_not_101", answer([(":status", "200")], interim=[[(":status", "101")]]))


def test_field_names_must_be_lowercase():
    assert findings("h2_lowercase_fields", answer([(":status", "200"), ("server", "x")])) == []
    [finding] = findings("h2_lowercase_fields", answer([(":status", "200"), ("Server", "x"), ("x-ok", "1")]))
    assert finding.actual == "Server"


@pytest.mark.parametrize(("exchange", "refused"), [
    (answer([(":status", "400")]), True),
    (answer([(":status", "501")]), True),
    (answer(None, error=ExchangeError("stream-reset", "RST_STREAM")), True),
    (answer(None, error=ExchangeError("h2", "GOAWAY")), True),
    (answer([(":status", "200")]), False),
    (answer(None, error=ExchangeError("timeout", "no answer")), False),
])
def test_refused_is_an_error_status_or_a_stream_or_connection_error(exchange, refused):
    assert (findings("h2_refused", exchange) == []) is refused


def test_the_advertisement_reads_the_servers_settings():
    assert findings("connect_protocol_advertised", answer([(":status", "200")])) == []
    [finding] = findings("connect_protocol_advertised", answer([(":status", "200")], settings={1: 4096}))
    assert finding.actual == "SETTINGS 1=4096"
    assert checks.h2_not_offered(answer([(":status", "200")])) is None
    reason = checks.h2_not_offered(answer([(":status", "400")], settings={8: 0}))
    assert reason == ("RFC 8441 not offered: the server's SETTINGS do not enable extended CONNECT "
                      "(SETTINGS_ENABLE_CONNECT_PROTOCOL = 0)")
    no_alpn = Exchange(request=b"", protocol="h2", error=ExchangeError("not-h2", "HTTP/2 not offered: no h2 in ALPN"))
    assert checks.h2_not_offered(no_alpn) == "RFC 8441 not offered: HTTP/2 not offered: no h2 in ALPN"
    silent = Exchange(request=b"", protocol="h2", error=ExchangeError("timeout", "no answer"))
    assert checks.h2_not_offered(silent) is None  # no verdict on the offer
    assert checks.h2_not_offered(Exchange(request=b"")) is None  # HTTP/1.1


def test_case_files_name_a_known_transport_and_h2_ids(tmp_path):
    path = tmp_path / "cases.yaml"
    base = "cases:\n  - {id: %s, transport: %s, title: t, level: must, rfc: r, quote: q, expect: [h2_accepted]}\n"
    path.write_text(base % ("h2-x", "h3"))
    with pytest.raises(CatalogueError, match="transport must be one of http/1.1, h2, not 'h3'"):
        load_file(str(path))
    path.write_text(base % ("x", "h2"))
    with pytest.raises(CatalogueError, match="starts with 'h2-'"):
        load_file(str(path))
    path.write_text(base % ("h2-x", "h2"))
    assert load_file(str(path))[0].transport == "h2"


def test_every_named_transport_is_registered_and_has_a_canary():
    assert set(transport._transports()) == set(TRANSPORT_NAMES) == set(CANARIES)
    assert transport.transport_for(parse_url("wss://gw/"), "h2").name == "h2"


def test_a_target_runs_the_h2_family_only_when_asked():
    h2 = CANARIES["h2"]
    wss, ws = parse_url("wss://gw/"), parse_url("ws://gw/")
    assert not wss.runs(h2) and not ws.runs(h2) and wss.runs(CANARIES["http/1.1"])
    assert wss.with_settings(http2="auto").runs(h2) and not ws.with_settings(http2="auto").runs(h2)
    assert ws.with_settings(http2="on").runs(h2)
    assert render(h2, wss).startswith(b":method: CONNECT\r\n:protocol: websocket\r\n")


def test_the_second_stream_step_is_http2_only(tmp_path):
    path = tmp_path / "cases.yaml"
    path.write_text("cases:\n  - {id: x, title: t, level: must, rfc: r, quote: q, after: [{second-stream: p}], "
                    "expect: [second_stream_works]}\n")
    with pytest.raises(CatalogueError, match="'second-stream' needs transport h2"):
        load_file(str(path))


def test_a_second_stream_must_be_accepted_and_answer_its_ping():
    from pytest_wsgateway import frames

    first = answer([(":status", "200")])
    [missing] = findings("second_stream_works", first, payload="two")
    assert missing.actual == "no second stream was opened"
    first.second = answer([(":status", "200")], ended=True)
    [refused] = findings("second_stream_works", first, payload="two")
    assert refused.actual == ":status 200, END_STREAM"
    first.second = answer([(":status", "200")])
    assert findings("second_stream_works", first, payload="two")[0].expected == "pong frame with payload 'two'"
    first.second.frames = frames.decode(bytes([0x80 | frames.PONG, 3]) + b"two")[0]
    assert findings("second_stream_works", first, payload="two") == []


def test_server_closes_tcp_over_http2_names_end_stream():
    """Over HTTP/2 the server's close is END_STREAM (RFC 8441 §5): the finding says so, not "TCP"."""
    from pytest_wsgateway import checks, frames
    from pytest_wsgateway.exchange import Exchange
    from pytest_wsgateway.handshake import h2_fields, h2_response, render_h2_fields

    head = render_h2_fields([(":status", "200")])
    exchange = Exchange(request=render_h2_fields([(":method", "CONNECT")]), protocol="h2", response_head=head,
                        response=h2_response(h2_fields(head)))
    exchange.frames.append(frames.Frame(opcode=frames.CLOSE, payload=b"\x03\xe8", fin=True))
    found = list(checks.CHECKS["server_closes_tcp"](None, exchange, checks.Context()))
    assert [(f.requirement.split(":")[0], f.actual) for f in found] == [("RFC 8441 §5", "the stream stayed open")]
    exchange.closed_by_peer = True  # the connection dropped (EOF, GOAWAY): not the stream's orderly close
    found = list(checks.CHECKS["server_closes_tcp"](None, exchange, checks.Context()))
    assert [f.actual for f in found] == ["no END_STREAM: the connection was dropped instead"]
    exchange.end_stream = True  # END_STREAM after the answer (http2._Stream.end sets both)
    assert list(checks.CHECKS["server_closes_tcp"](None, exchange, checks.Context())) == []
