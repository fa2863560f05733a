"""The pure parts of permessage-deflate end to end and of the idle case: the client's compressor
(context takeover per connection, RFC 7692 §7.1.1), compressed bursts (RSV1 on the first frame only,
RFC 7692 §6), the "not negotiated" rule and the idle check's findings."""

from __future__ import annotations

import zlib

import pytest

from pytest_wsgateway import checks, frames
from pytest_wsgateway.cases import shipped_catalogue
from pytest_wsgateway.exchange import Exchange
from pytest_wsgateway.handshake import parse_response_head

CASES = {case.id: case for case in shipped_catalogue()}
MESSAGE = b"the same words again and again, the same words again and again"
REQUEST = (b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")


def upgraded(extensions: str | None = "permessage-deflate", **fields) -> Exchange:
    head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    if extensions is not None:
        head += f"Sec-WebSocket-Extensions: {extensions}\r\n".encode()
    return Exchange(request=REQUEST, response=parse_response_head(head + b"\r\n"), **fields)


def judge(name: str, exchange: Exchange, **params) -> list[checks.Finding]:
    return checks.evaluate(((name, params),), REQUEST, exchange, checks.Context())


def test_the_compressor_keeps_its_context_between_messages():
    compressor = frames.Compressor(frames.Deflate())
    first, second = compressor.message(MESSAGE), compressor.message(MESSAGE)
    assert len(second) < len(first) // 2  # the second message refers back to the first
    decompressor = zlib.decompressobj(-15)  # the server's side, context kept
    assert [decompressor.decompress(body + frames.DEFLATE_TAIL) for body in (first, second)] == [MESSAGE, MESSAGE]
    with pytest.raises(zlib.error):  # a receiver that dropped the context cannot read it
        zlib.decompressobj(-15).decompress(second + frames.DEFLATE_TAIL)


def test_with_client_no_context_takeover_every_message_starts_afresh():
    compressor = frames.Compressor(frames.Deflate(client_no_context_takeover=True))
    first, second = compressor.message(MESSAGE), compressor.message(MESSAGE)
    assert first == second
    assert zlib.decompressobj(-15).decompress(second + frames.DEFLATE_TAIL) == MESSAGE


def test_a_compressed_burst_sets_rsv1_on_its_first_frame_only_and_never_on_the_ping():
    burst = frames.Burst(frames.fragmented(frames.TEXT, MESSAGE, (5, 20), ping=b"p", ping_after=1).frames,
                         compressed=True)
    encoded = burst.encoded(frames.Compressor(frames.Deflate()))
    decoded = [frames.decode(data)[0][0] for data, _ in encoded]
    assert [(f.opcode, f.rsv, f.fin) for f in decoded] == [
        (frames.TEXT, 4, False), (frames.PING, 0, True), (frames.CONTINUATION, 0, False), (frames.CONTINUATION, 0, True)]
    assert [m.payload for m in frames.messages(decoded, frames.Deflate())] == [MESSAGE]
    assert encoded[0][1].startswith("compressed text frame (RSV1, not final, ")
    # without a compressor (deflate declined) the same burst goes out plain
    plain = [frames.decode(data)[0][0] for data, _ in burst.encoded(None)]
    assert all(f.rsv == 0 for f in plain) and b"".join(f.payload for f in plain if f.opcode != frames.PING) == MESSAGE


def test_descriptions_show_the_reserved_bits():
    assert frames.Frame(frames.TEXT, b"xy", rsv=4).describe() == "text frame (2 bytes, RSV1)"
    assert frames.Frame(frames.TEXT, b"xy", rsv=4).describe(rsv=False) == "text frame (2 bytes)"


@pytest.mark.parametrize("case_id", ["tunnel-deflate-context-takeover", "tunnel-deflate-server-no-context-takeover",
                                     "tunnel-deflate-client-no-context-takeover", "tunnel-deflate-fragmented",
                                     "tunnel-deflate-rsv1-first-frame-only"])
def test_a_declined_offer_leaves_the_deflate_cases_nothing_to_judge(case_id):
    case = CASES[case_id]
    declined = upgraded(None)
    assert checks.deflate_not_negotiated(case.expect, declined) == checks.DEFLATE_NOT_NEGOTIATED
    assert [f.expected for f in judge("deflate_negotiated", declined)] == [
        "Sec-WebSocket-Extensions: permessage-deflate in the 101"]
    assert checks.deflate_not_negotiated(case.expect, upgraded()) is None
    assert judge("deflate_negotiated", upgraded()) == []
    # a refusal is judged as usual (a 101 was expected), not skipped
    refused = Exchange(request=REQUEST, response=parse_response_head(b"HTTP/1.1 403 Forbidden\r\n\r\n"))
    assert checks.deflate_not_negotiated(case.expect, refused) is None
    # cases that do not ask for it are never skipped for it
    assert checks.deflate_not_negotiated(CASES["tunnel-deflate-echo"].expect, declined) is None


def test_echo_times_counts_the_messages():
    body = frames.Frame(frames.TEXT, b"once")
    assert judge("echo", upgraded(None, frames=[body, body]), text="once", times=2) == []
    [finding] = judge("echo", upgraded(None, frames=[body]), text="once", times=2)
    assert finding.expected == "text message b'once', 2 times"


def test_idle_survived_reports_the_observed_cut_off():
    pong = frames.Frame(frames.PONG, frames.IDLE_PING)
    assert judge("idle_survived", upgraded(None, idle_declared=2.0, frames=[pong])) == []
    [cut] = judge("idle_survived", upgraded(None, idle_declared=2.0, idle_cut=0.84, idle_cut_how="closed"))
    assert cut.requirement == "the connection stays open through 2 s of quiet (--gateway-idle)"
    assert cut.actual == "cut after 0.8 s of quiet (closed); observed idle cut-off: 0.8 s"
    [silent] = judge("idle_survived", upgraded(None, idle_declared=2.0))
    assert silent.requirement == "RFC 6455 §5.5.2: after 2 s of quiet a ping gets its pong"
    [never] = judge("idle_survived", upgraded(None))
    assert never.actual.startswith("the quiet time never began")


def test_the_idle_case_is_opt_in_and_slow():
    case = CASES["tunnel-idle"]
    assert case.requires == ("idle",)
    assert ("idle", b"") in case.after
