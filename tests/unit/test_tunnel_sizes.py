"""The size ladder, backpressure and half-close on bytes alone: generated messages, the streamed
frames and their decoder, the echo comparison, the steps as data, the ``sized_echo`` check, the
per-target size result and ``--gateway-max-message`` (no sockets)."""

import random

import pytest

from pytest_wsgateway import checks, frames
from pytest_wsgateway.cases import CatalogueError, load_file
from pytest_wsgateway.exchange import Exchange, SizedEcho
from pytest_wsgateway.handshake import accept_for, build_request, parse_response_head
from pytest_wsgateway.reports import message_sizes, size_text
from pytest_wsgateway.validation import message_size

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
REQUEST = build_request("GET", "/ws", "HTTP/1.1", (
    ("Host", "gw.example"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Version", "13")))
HEAD = (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_for(KEY)}\r\n\r\n").encode()


def server_frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    """An unmasked server frame."""
    length = len(payload)
    size = bytes([length]) if length < 126 else (bytes([126]) + length.to_bytes(2, "big") if length < 1 << 16
                                                  else bytes([127]) + length.to_bytes(8, "big"))
    return bytes([(0x80 if fin else 0) | rsv << 4 | opcode]) + size + payload


def match(wire: bytes, opcode: int, size: int, *, pieces: int = 7, offset: int = 0) -> frames.EchoMatcher:
    """Feed ``wire`` to a FrameStream in random pieces and the data events to an EchoMatcher."""
    stream, matcher = frames.FrameStream(), frames.EchoMatcher(opcode, size, offset)
    rng = random.Random(size)
    cuts = sorted(rng.randrange(len(wire) + 1) for _ in range(pieces))
    for start, end in zip([0, *cuts], [*cuts, len(wire)]):
        for event in stream.feed(wire[start:end]):
            if event[0] == "start":
                matcher.start(event[1], event[2], event[3])
            elif event[0] == "data":
                matcher.data(event[1])
            elif event[0] == "end":
                matcher.end()
    return matcher


# --- generated messages and their frames -----------------------------------------------------------


@pytest.mark.parametrize("opcode", [frames.TEXT, frames.BINARY])
def test_a_generated_message_is_the_same_bytes_whatever_the_slices(opcode):
    whole = frames.generated(opcode, 0, 5000)
    assert len(whole) == 5000 and frames.generated(opcode, 1021, 2000) == whole[1021:3021]
    assert frames.generated(opcode, 0, 0) == b""
    if opcode == frames.TEXT:
        whole.decode("ascii")  # valid UTF-8
    else:
        assert len(set(whole)) == 256  # every byte value


def test_blocks_carry_their_number_so_a_moved_block_differs():
    assert frames.generated(frames.BINARY, 0, 1024) != frames.generated(frames.BINARY, 1024, 1024)
    assert frames.generated(frames.TEXT, 2048, 8) == b"0000002\n"


@pytest.mark.parametrize(("size", "fragments"), [(0, 1), (0, 3), (125, 1), (126, 1), (127, 3), (65535, 1),
                                                  (65536, 3), (200_000, 1), (200_000, 8)])
def test_streamed_frames_carry_the_message_masked_with_a_key_per_frame(size, fragments):
    sized = frames.Sized(frames.BINARY, size, fragments)
    pieces = list(frames.streamed(sized.opcode, 0, sized.fragment_sizes()))
    assert all(len(piece) <= frames.CHUNK + 14 for piece in pieces)  # never the whole message at once
    decoded, rest = frames.decode(b"".join(pieces), max_payload=1 << 30)
    assert rest == b"" and len(decoded) == fragments and all(frame.masked for frame in decoded)
    assert [frame.fin for frame in decoded] == [False] * (fragments - 1) + [True]
    assert [frame.opcode for frame in decoded] == [frames.BINARY] + [frames.CONTINUATION] * (fragments - 1)
    assert b"".join(frame.payload for frame in decoded) == frames.generated(frames.BINARY, 0, size)


@pytest.mark.parametrize(("size", "split"), [(0, 1), (125, 1), (126, 1), (65536, 1), (300_000, 1), (300_000, 5)])
def test_the_echo_in_any_pieces_and_any_fragmentation_matches(size, split):
    payload = frames.generated(frames.TEXT, 0, size)
    part = max(1, size // split)
    parts = [payload[i:i + part] for i in range(0, size, part)] or [b""]
    wire = b"".join(server_frame(frames.TEXT if i == 0 else frames.CONTINUATION, p, i == len(parts) - 1)
                    for i, p in enumerate(parts))
    matcher = match(wire, frames.TEXT, size)
    assert matcher.done and matcher.problem is None and matcher.received == size


def test_control_frames_between_fragments_come_out_whole():
    stream = frames.FrameStream()
    wire = server_frame(frames.BINARY, b"abc", fin=False) + server_frame(frames.PING, b"p") + \
        server_frame(frames.CONTINUATION, b"def")
    events = [stream.feed(wire[i:i + 1]) for i in range(len(wire))]  # one byte at a time
    flat = [event for chunk in events for event in chunk]
    assert ("control", frames.Frame(frames.PING, b"p")) in flat
    assert b"".join(event[1] for event in flat if event[0] == "data") == b"abcdef"


@pytest.mark.parametrize(("wire", "problem"), [
    (server_frame(frames.BINARY, frames.generated(frames.BINARY, 0, 99) + b"\x00"), "byte 99 of 100 differs"),
    (server_frame(frames.BINARY, frames.generated(frames.BINARY, 0, 99)), "99 bytes instead of 100"),
    (server_frame(frames.BINARY, frames.generated(frames.BINARY, 0, 101)), "more than the 100 bytes"),
    (server_frame(frames.TEXT, frames.generated(frames.TEXT, 0, 100)), "a text message came back instead"),
    (server_frame(frames.CONTINUATION, frames.generated(frames.BINARY, 0, 100)), "a continuation frame with no"),
    (server_frame(frames.BINARY, frames.generated(frames.BINARY, 0, 50), fin=False)
     + server_frame(frames.BINARY, frames.generated(frames.BINARY, 50, 50)), "a new binary message after 50"),
    (server_frame(frames.BINARY, frames.generated(frames.BINARY, 0, 100), rsv=4), "RSV bits 0x4"),
])
def test_an_altered_echo_is_named_at_its_first_difference(wire, problem):
    matcher = match(wire, frames.BINARY, 100)
    assert not matcher.done and problem in (matcher.problem or "")


def test_a_huge_announced_length_is_refused_at_the_first_surplus_byte():
    """A frame that claims 1 GiB for a 125-byte message: the comparison stops at byte 126, so the
    client holds nothing of it (bounded memory)."""
    head = bytes([0x82, 127]) + (1 << 30).to_bytes(8, "big")
    matcher = match(head + frames.generated(frames.BINARY, 0, 4096), frames.BINARY, 125, pieces=0)
    assert matcher.problem == "more than the 125 bytes sent came back"


def test_the_flood_messages_are_consecutive_slices_so_order_is_checked():
    second = server_frame(frames.BINARY, frames.generated(frames.BINARY, 1000, 1000))
    assert match(second, frames.BINARY, 1000, offset=1000).done
    assert "differs" in match(second, frames.BINARY, 1000, offset=0).problem


def test_masked_server_frames_are_unmasked_for_the_comparison():
    payload = frames.generated(frames.BINARY, 0, 70_000)
    wire = frames.encode(frames.BINARY, payload)  # a masked frame, as a broken server might send
    assert match(wire, frames.BINARY, 70_000).done


# --- the steps as data ---------------------------------------------------------------------------


def steps(tmp_path, after: str):
    path = tmp_path / "c.yaml"
    path.write_text(f"cases: [{{id: a, title: t, level: must, rfc: r, quote: q, expect: [status_101], after: {after}}}]")
    return load_file(str(path))[0].after


def test_a_ladder_is_one_step_per_rung(tmp_path):
    after = steps(tmp_path, "[{ladder: {text: [0, 126, 65536], fragments: 3}}, {half-close: 1001}, "
                            "{flood: {messages: 4, size: 1024, pause: 0.1}}]")
    assert after == (("sized", frames.Sized(frames.TEXT, 0, 3)), ("sized", frames.Sized(frames.TEXT, 126, 3)),
                     ("sized", frames.Sized(frames.TEXT, 65536, 3)), ("half-close", frames.close_payload(1001)),
                     ("flood", frames.Flood(4, 1024, 0.1)))


@pytest.mark.parametrize("after", [
    "[{ladder: {binary: [10, 5]}}]", "[{ladder: {binary: [16777217]}}]", "[{ladder: {binary: [1], text: [1]}}]",
    "[{ladder: {binary: [1], fragments: 0}}]", "[{ladder: [1, 2]}]", "[{flood: {messages: 1000, size: 1048576}}]",
    "[{flood: {messages: 2}}]", "[{flood: {messages: 2, size: 2, pause: 11}}]",
])
def test_bad_ladders_and_floods_are_refused_at_load(tmp_path, after):
    with pytest.raises(CatalogueError, match="after-101 step"):
        steps(tmp_path, after)


def test_the_streamed_steps_are_http11_only(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("cases: [{id: h2-a, title: t, level: must, rfc: r, quote: q, expect: [h2_accepted], "
                    "transport: h2, after: [{ladder: {binary: [1]}}]}]")
    with pytest.raises(CatalogueError, match="needs transport http/1.1"):
        load_file(str(path))


# --- the check, the size result ---------------------------------------------------------------------


def exchange(*records: SizedEcho, closes: tuple[frames.Frame, ...] = ()) -> Exchange:
    return Exchange(request=REQUEST, response_head=HEAD, response=parse_response_head(HEAD), frames=list(closes),
                    sized=list(records))


def judge(ex: Exchange, max_message: int | None = None) -> list[checks.Finding]:
    return checks.evaluate((("sized_echo", {}),), REQUEST, ex, checks.Context(max_message=max_message))


INTACT = [SizedEcho("binary", size, outcome="intact", intact=1) for size in (0, 125, 65536)]
LIMIT = SizedEcho("binary", 1 << 20, outcome="limit", close_code=1009, close_reason="too big",
                  detail="close frame 1009 'too big'")


def test_every_rung_intact_passes_and_is_the_largest():
    ex = exchange(*INTACT)
    assert judge(ex) == [] and ex.size_result() == (65536, None)


def test_a_clean_limit_is_reported_not_failed_unless_the_size_is_declared():
    ex = exchange(*INTACT, LIMIT)
    assert judge(ex) == []
    assert ex.size_result() == (65536, LIMIT)
    assert judge(ex, max_message=(1 << 20) - 1) == []  # the limit is above what the API must carry
    (finding,) = judge(ex, max_message=1 << 20)
    assert "--gateway-max-message 1048576" in finding.requirement and "a limit below the declared size" in finding.actual


@pytest.mark.parametrize("outcome", ["silent", "altered", "reset", "eof", "closed", "error"])
def test_a_message_that_vanishes_is_altered_or_reset_always_fails(outcome):
    ex = exchange(*INTACT, SizedEcho("binary", 1 << 20, outcome=outcome, detail="what happened"))
    (finding,) = judge(ex)
    assert f"binary message of 1,048,576 bytes: {outcome} (what happened)" in finding.actual
    assert judge(ex, max_message=1) != []  # declared or not


def test_a_flood_short_of_its_messages_fails_with_the_count():
    ex = exchange(SizedEcho("binary", 262144, count=16, intact=3, outcome="reset", detail="3 of 16 came back"))
    (finding,) = judge(ex)
    assert "flow control" in finding.requirement and "16 binary messages of 262,144 bytes, in order" in finding.expected
    assert ex.size_result() == (None, None)  # a flood is not a rung


def test_no_101_and_no_message_sent_fail():
    refused = Exchange(request=REQUEST, response_head=b"HTTP/1.1 403 Forbidden\r\n\r\n",
                       response=parse_response_head(b"HTTP/1.1 403 Forbidden\r\n\r\n"))
    assert "a 101 before large messages" in judge(refused)[0].requirement
    assert judge(exchange(closes=(frames.Frame(frames.CLOSE, frames.close_payload(1001)),)))


def test_a_targets_size_is_bounded_by_the_case_that_stopped_first():
    assert message_sizes([]) == (None, None)
    assert message_sizes([(1 << 20, None), (16 << 20, None)]) == (16 << 20, None)
    assert message_sizes([(16 << 20, None), (65536, "limit at 1 MiB"), (65535, "limit at 65,536")]) == (
        65535, "limit at 65,536")
    assert message_sizes([(None, "nothing came back"), (1 << 20, None)]) == (None, "nothing came back")
    assert size_text({"largest_message": 65536, "message_limit": "x"}) == "65,536 bytes came back intact; then x"
    assert size_text({"largest_message": 1 << 20}) == "1,048,576 bytes came back intact (the largest size sent; no limit met)"


@pytest.mark.parametrize(("text", "value"), [(None, None), ("", None), ("1048576", 1 << 20), (" 16_777_216 ", 16 << 20)])
def test_max_message_accepts_a_whole_number_of_bytes(text, value):
    assert message_size(text, "--gateway-max-message") == value


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "1MiB", "abc", str((1 << 40) + 1), "١٠"])
def test_max_message_refuses_anything_else_in_one_line(text):
    with pytest.raises(pytest.UsageError, match=r"^--gateway-max-message .*: expected a whole number of bytes"):
        message_size(text, "--gateway-max-message")


# --- per target: the targets file ---------------------------------------------------------------


def _file_targets(tmp_path, entry: str):
    from pytest_wsgateway.targetsfile import load_targets

    path = tmp_path / "targets.yaml"
    path.write_text(f"targets:\n  - {{id: a, url: 'ws://gw.example/ws'{entry}}}\n  - {{id: b, url: 'ws://gw.example/b'}}\n")
    return load_targets(str(path), "--gateway-targets", defaults={"max_message": 1 << 20}, environ={},
                        check_ca=None, warn=lambda message: None)


def test_a_target_declares_its_own_max_message_and_the_others_keep_the_command_lines(tmp_path):
    a, b = _file_targets(tmp_path, ", max_message: 131072")
    assert (a.max_message, b.max_message) == (131072, 1 << 20)


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "'1MiB'", "true"])
def test_a_bad_max_message_in_the_targets_file_is_one_line(tmp_path, value):
    from pytest_wsgateway.targets import TargetError

    with pytest.raises(TargetError, match=r"target 'a': 'max_message' must be a whole number of bytes above 0$"):
        _file_targets(tmp_path, f", max_message: {value}")
