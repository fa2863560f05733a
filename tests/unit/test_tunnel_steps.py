"""The tunnel family's steps and checks on bytes alone: fragmented messages and pings as data
(cases.py -> frames.Burst), and the checks that judge what came back (no sockets)."""

import re

import pytest

from pytest_wsgateway import checks, frames
from pytest_wsgateway.cases import CatalogueError, load_file
from pytest_wsgateway.exchange import Exchange
from pytest_wsgateway.handshake import accept_for, build_request, parse_response_head

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
REQUEST = build_request("GET", "/ws", "HTTP/1.1", (
    ("Host", "gw.example"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Version", "13")))
HEAD = (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_for(KEY)}\r\n\r\n").encode()


def upgraded(*received: frames.Frame, **fields) -> Exchange:
    return Exchange(request=REQUEST, response_head=HEAD, response=parse_response_head(HEAD), frames=list(received),
                    **fields)


def judge(name: str, exchange: Exchange, **params) -> list[checks.Finding]:
    return checks.evaluate(((name, params),), REQUEST, exchange, checks.Context())


def steps(tmp_path, after: str):
    path = tmp_path / "c.yaml"
    path.write_text(f"cases: [{{id: a, title: t, level: must, rfc: r, quote: q, expect: [status_101], after: {after}}}]")
    return load_file(str(path))[0].after


# --- steps as data -------------------------------------------------------------------------------


def test_fragments_split_by_sizes_the_last_one_the_rest(tmp_path):
    ((action, burst),) = steps(tmp_path, "[{fragments: {text: hello world, sizes: [1, 4]}}]")
    assert action == "fragments"
    assert burst.frames == ((frames.TEXT, b"h", False), (frames.CONTINUATION, b"ello", False),
                            (frames.CONTINUATION, b" world", True))
    assert burst.message == (frames.TEXT, b"hello world") and burst.pings == ()


def test_a_ping_goes_after_the_first_fragments(tmp_path):
    ((_, burst),) = steps(tmp_path, "[{fragments: {binary: '0102030405', sizes: [1, 1], ping: p, ping_after: 2}}]")
    assert burst.frames == ((frames.BINARY, b"\x01", False), (frames.CONTINUATION, b"\x02", False),
                            (frames.PING, b"p", True), (frames.CONTINUATION, b"\x03\x04\x05", True))
    assert burst.message == (frames.BINARY, b"\x01\x02\x03\x04\x05") and burst.pings == (b"p",)
    assert burst.described()[2] == "ping frame (1 bytes)"
    assert burst.described()[0] == "binary frame (1 bytes, not final)"


def test_utf8_fragments_split_inside_a_character_and_text_hex_keeps_bytes(tmp_path):
    ((_, burst), (action, raw)) = steps(tmp_path, "[{fragments: {text: 'é', sizes: [1]}}, {text-hex: 'ceba ff'}]")
    assert [payload for _, payload, _ in burst.frames] == [b"\xc3", b"\xa9"]
    assert (action, raw) == ("text", b"\xce\xba\xff")


def test_pings_and_close_with_a_reason(tmp_path):
    (pings, close, plain) = steps(tmp_path, "[{pings: [a, b, c]}, {close: {code: 4001, reason: bye}}, {close: 1001}]")
    assert pings[0] == "pings" and pings[1].pings == (b"a", b"b", b"c") and pings[1].message is None
    assert close == ("close", b"\x0f\xa1bye") and plain == ("close", b"\x03\xe9")


@pytest.mark.parametrize(("after", "message"), [
    ("[{fragments: {text: abc, sizes: [2, 2]}}]", "fragment sizes [2, 2] do not fit a 3-byte message"),
    ("[{fragments: {text: abc}}]", "exactly one of text, binary, text-hex, and a sizes list"),
    ("[{fragments: {text: abc, binary: '00', sizes: [1]}}]", "exactly one of text, binary, text-hex"),
    ("[{fragments: {text: abc, sizes: [1], colour: red}}]", "fragments takes"),
    ("[{pings: []}]", "pings takes a list of payloads"),
    ("[{ping: " + "x" * 126 + "}]", "a ping carries at most 125 bytes (RFC 6455 §5.5), not 126"),
    ("[{fragments: {text: abc, sizes: [1], ping: " + "x" * 126 + "}}]", "at most 125 bytes"),
    ("[{close: {code: 1000, why: x}}]", "close takes code and reason"),
    ("[{text-hex: zz}]", "after-101 step 'text-hex'"),
    ("[{ping: a, close: 1000}]", "one {action: value} mapping"),
])
def test_malformed_steps_are_catalogue_errors(tmp_path, after, message):
    with pytest.raises(CatalogueError, match=re.escape(message)):
        steps(tmp_path, after)


def test_a_burst_encodes_masked_frames_in_order():
    burst = frames.fragmented(frames.TEXT, b"abcd", (2,), ping=b"p")
    data = b"".join(frames.encode(op, payload, fin=fin) for op, payload, fin in burst.frames)
    decoded, rest = frames.decode(data)
    assert rest == b"" and all(frame.masked for frame in decoded)
    assert [(f.opcode, f.payload, f.fin) for f in decoded] == list(burst.frames)
    assert frames.messages(decoded) == [frames.Message(frames.TEXT, b"abcd")]


def test_a_ping_after_every_fragment_goes_last():
    burst = frames.fragmented(frames.TEXT, b"ab", (1,), ping=b"p", ping_after=5)
    assert burst.frames[-1] == (frames.PING, b"p", True)


# --- server_fragments_valid ---------------------------------------------------------------------


def test_any_fragmentation_of_the_reply_is_valid():
    reply = [frames.Frame(frames.TEXT, b"ab", fin=False), frames.Frame(frames.PONG, b"p"),
             frames.Frame(frames.CONTINUATION, b"c", fin=False), frames.Frame(frames.CONTINUATION, b"d")]
    exchange = upgraded(*reply)
    assert judge("server_fragments_valid", exchange) == []
    assert judge("echo", exchange, text="abcd") == []


def test_a_continuation_of_no_message_and_an_interleaved_message_are_findings():
    exchange = upgraded(frames.Frame(frames.TEXT, b"fragment1"), frames.Frame(frames.PONG, b"p"),
                        frames.Frame(frames.CONTINUATION, b"fragment2"))
    (finding,) = judge("server_fragments_valid", exchange)
    assert finding.requirement.startswith("RFC 6455 §5.4")
    assert "frame 3: a continuation frame with no message to continue" in finding.actual
    interleaved = upgraded(frames.Frame(frames.TEXT, b"a", fin=False), frames.Frame(frames.BINARY, b"b"))
    (finding,) = judge("server_fragments_valid", interleaved)
    assert "frame 2: a new binary frame (1 bytes) before the fragmented message ended" in finding.actual


def test_fragments_check_needs_a_101():
    refused = Exchange(request=REQUEST, response_head=b"HTTP/1.1 400 Bad Request\r\n\r\n",
                       response=parse_response_head(b"HTTP/1.1 400 Bad Request\r\n\r\n"))
    (finding,) = judge("server_fragments_valid", refused)
    assert finding.expected == "HTTP/1.1 101 Switching Protocols"


# --- close_code_valid ----------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"", b"\x03\xe8", b"\x03\xe9bye", b"\x0f\xa1", b"\x0b\xb8", b"\x13\x87",
                                     b"\x03\xf6", b"\x03\xf3", b"\x03\xe8gr\xc3\xbc\xc3\x9fe"])
def test_codes_an_endpoint_may_send_pass(payload):
    exchange = upgraded(frames.Frame(frames.CLOSE, payload), closed_by_peer=True)
    assert checks.close_code_problem(payload) is None
    assert judge("close_code_valid", exchange) == []


@pytest.mark.parametrize(("payload", "why"), [
    (b"\x03\xed", "status code 1005 (reserved: never sent on the wire)"),
    (b"\x03\xee", "status code 1006 (reserved: never sent on the wire)"),
    (b"\x03\xf7", "status code 1015 (reserved: never sent on the wire)"),
    (b"\x03", "a 1-byte body"),
    (b"\x03\xf8", "status code 1016 (unassigned)"),
    (b"\x03\xec", "status code 1004 (reserved)"),
    (b"\x00\x00", "status code 0 (not used)"),
    (b"\x03\xe7", "status code 999 (not used)"),
    (b"\x0b\xb7", "status code 2999 (unassigned)"),
    (b"\x13\x88", "status code 5000 (unassigned)"),
    (b"\x05\xdf", "status code 1503 (unassigned)"),
    (b"\x03\xe8\xff\xfe", "status code 1000 with a reason that is not UTF-8"),
])
def test_codes_an_endpoint_must_not_send_are_findings(payload, why):
    exchange = upgraded(frames.Frame(frames.CLOSE, payload))
    (finding,) = judge("close_code_valid", exchange)
    assert finding.requirement.startswith("RFC 6455 §7.4")
    assert why in finding.actual and finding.actual.startswith("close frame with ")


def test_no_close_frame_is_close_answereds_business():
    assert judge("close_code_valid", upgraded(frames.Frame(frames.PONG, b""))) == []
    assert len(judge("close_answered", upgraded(frames.Frame(frames.PONG, b"")))) == 1


# --- invalid UTF-8: invalid_text_fails_connection, close_code_is -------------------------------

INVALID = "cebae1bdb9cf83cebcceb5eda080656469746564"


def test_a_1007_close_or_a_dropped_connection_fails_the_connection_as_required():
    closed = upgraded(frames.Frame(frames.PONG, b""), frames.Frame(frames.CLOSE, b"\x03\xefinvalid"))
    assert judge("invalid_text_fails_connection", closed, text_hex=INVALID) == []
    assert judge("close_code_is", closed, code=1007) == []
    dropped = upgraded(frames.Frame(frames.PONG, b""), closed_by_peer=True)
    assert judge("invalid_text_fails_connection", dropped, text_hex=INVALID) == []
    (finding,) = judge("close_code_is", dropped, code=1007, why="invalid UTF-8")
    assert finding.requirement == "RFC 6455 §7.4.1: a close frame with 1007 (invalid UTF-8)"
    assert finding.actual.startswith("no close frame (the TCP connection was closed)")


def test_a_reset_after_invalid_text_is_the_connection_failed():
    """uvicorn-wsproto sometimes resets instead of closing: that is failing the connection too (it
    used to be read as 'stayed open', which made that library's verdict flaky)."""
    from pytest_wsgateway.exchange import ExchangeError

    reset = upgraded(frames.Frame(frames.PONG, b""),
                     frame_error=ExchangeError("reset", "reading after the text frame failed: connection reset"))
    assert judge("invalid_text_fails_connection", reset, text_hex=INVALID) == []


def test_invalid_text_echoed_or_ignored_is_a_finding():
    echoed = upgraded(frames.Frame(frames.TEXT, bytes.fromhex(INVALID)[:5], fin=False),
                      frames.Frame(frames.CONTINUATION, bytes.fromhex(INVALID)[5:]), closed_by_peer=True)
    (finding,) = judge("invalid_text_fails_connection", echoed, text_hex=INVALID)
    assert finding.requirement.startswith("RFC 6455 §8.1")
    assert finding.actual.startswith("the invalid text came back as a text message")
    ignored = upgraded(frames.Frame(frames.PONG, b""))
    (finding,) = judge("invalid_text_fails_connection", ignored, text_hex=INVALID)
    assert finding.actual.startswith("the connection stayed open")


def test_another_close_code_is_named():
    (finding,) = judge("close_code_is", upgraded(frames.Frame(frames.CLOSE, b"\x03\xe8")), code=1007)
    assert finding.actual.startswith("close frame with status code 1000")
    (finding,) = judge("close_code_is", upgraded(frames.Frame(frames.CLOSE, b"")), code=1007)
    assert finding.actual.startswith("close frame without a status code")
