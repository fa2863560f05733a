"""The tunnel family's new steps against raw loopback endpoints: a fragmented message and pings
sent frame by frame, replies in another fragmentation (coalesced, split), pings answered only for
the last of a burst, and the transcript of what the client sent."""

from __future__ import annotations

import socket
import time

from pytest_wsgateway import frames
from pytest_wsgateway.cases import shipped_catalogue
from pytest_wsgateway.handshake import accept_for, parse_request
from pytest_wsgateway.runner import run_case
from pytest_wsgateway.targets import parse_url
from tests.harness import connection_server, read_head

CASES = {case.id: case for case in shipped_catalogue()}


def _frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """An unmasked server frame (payload < 126 bytes)."""
    return bytes([(0x80 if fin else 0) | opcode, len(payload)]) + payload


def endpoint(*, split: int | None = None, last_pong_only: bool = False, close_code: bytes | None = None,
             log: list | None = None, on_invalid: str = "echo"):
    """A handler: a 101, then every complete message echoed (whole, or in ``split``-byte fragments),
    pings answered (only the last of those read together when ``last_pong_only``), a close answered
    with ``close_code`` (default: the client's) and TCP closed. Received frames go to ``log``. A text
    message that is not UTF-8 is echoed (``on_invalid="echo"``), answered with close 1007 (``"1007"``)
    or ends the connection without a close frame (``"drop"``)."""

    def handle(conn: socket.socket) -> None:
        with conn:
            head, pending = read_head(conn, timeout=5)
            key = parse_request(head).get("Sec-WebSocket-Key") or ""
            conn.sendall(f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         f"Sec-WebSocket-Accept: {accept_for(key)}\r\n\r\n".encode())
            opcode, parts, held = None, [], None
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                conn.settimeout(0.2 if held is not None else max(0.05, deadline - time.monotonic()))
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    if held is not None:  # quiet for 0.2 s: answer the most recent ping only
                        conn.sendall(_frame(frames.PONG, held))
                        held = None
                    continue
                except OSError:
                    return
                if not data:
                    return
                received, pending = frames.decode(pending + data)
                if log is not None:
                    log.extend(received)
                for frame in received:
                    if frame.opcode == frames.PING and last_pong_only:
                        held = frame.payload
                    elif frame.opcode == frames.PING:
                        conn.sendall(_frame(frames.PONG, frame.payload))
                    elif frame.opcode == frames.CLOSE:
                        conn.sendall(_frame(frames.CLOSE, close_code if close_code is not None else frame.payload[:2]))
                        return
                    elif frame.opcode in (frames.TEXT, frames.BINARY, frames.CONTINUATION):
                        opcode = frame.opcode if frame.opcode != frames.CONTINUATION else opcode
                        parts.append(frame.payload)
                        if frame.fin:
                            message, parts = b"".join(parts), []
                            if opcode == frames.TEXT and on_invalid != "echo" and not _utf8(message):
                                if on_invalid == "1007":
                                    conn.sendall(_frame(frames.CLOSE, b"\x03\xefinvalid UTF-8"))
                                return
                            chunks = [message[i:i + split] for i in range(0, len(message), split)] if split else [message]
                            for index, chunk in enumerate(chunks):
                                conn.sendall(_frame(opcode if index == 0 else frames.CONTINUATION, chunk,
                                                    index == len(chunks) - 1))

    return handle


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def run(case_id: str, handler):
    with connection_server(handler) as server:
        return run_case(CASES[case_id], parse_url(server.url(), timeout=1.0, echo=True))


def test_fragments_go_out_frame_by_frame_masked_and_the_transcript_lists_them():
    log: list[frames.Frame] = []
    outcome = run("tunnel-ping-between-fragments", endpoint(log=log))
    assert outcome.passed, outcome.message()
    assert [(f.opcode, f.payload, f.fin) for f in log][:3] == [
        (frames.TEXT, b"fragment1", False), (frames.PING, b"between", True), (frames.CONTINUATION, b"fragment2", True)]
    assert all(frame.masked for frame in log)
    assert outcome.exchange.sent[:3] == ["text frame (9 bytes, not final)", "ping frame (7 bytes)",
                                         "continuation frame (9 bytes)"]


def test_a_reply_split_into_other_fragments_is_still_the_echo():
    for case_id in ("tunnel-fragments-two", "tunnel-fragments-five", "tunnel-fragments-one-byte",
                    "tunnel-ping-between-one-byte-fragments"):
        for split in (None, 1, 3):
            outcome = run(case_id, endpoint(split=split))
            assert outcome.passed, (case_id, split, outcome.message())


def test_one_byte_fragments_arrive_as_seventeen_continuations():
    log: list[frames.Frame] = []
    assert run("tunnel-fragments-one-byte", endpoint(log=log)).passed
    data = [f for f in log if f.opcode < frames.CLOSE]
    assert len(data) == 18 and [f.fin for f in data].count(True) == 1 and data[-1].payload == b"e"


def test_only_the_last_pong_of_a_burst_fails_the_interop_case_not_the_must():
    lazy = endpoint(last_pong_only=True)
    burst = run("tunnel-pings-back-to-back", lazy)
    assert not burst.passed and CASES["tunnel-pings-back-to-back"].level == "interop"
    assert "RFC 6455 §5.5.3" in burst.message() and "pong with payload b'burst-3'" in burst.message()
    assert run("tunnel-three-pings", lazy).passed  # one ping at a time: every one is answered


def test_close_codes_the_wire_must_not_carry_fail_the_must_case_only():
    for code, valid in ((b"\x03\xed", False), (b"\x03\xe8", True), (b"\x0f\xa1", True), (b"\x03", False)):
        outcome = run("tunnel-close-4001-reason", endpoint(close_code=code))
        assert outcome.passed is valid, outcome.message()
        assert run("tunnel-close-4001-reason-tcp-closed", endpoint(close_code=code)).passed
    failed = run("tunnel-close-1001", endpoint(close_code=b"\x03\xed"))
    assert "status code 1005 (reserved: never sent on the wire)" in failed.message()
    log: list[frames.Frame] = []
    run("tunnel-close-4001-reason", endpoint(log=log))
    assert log[-1].payload == b"\x0f\xa1pytest-wsgateway says goodbye" and log[-1].masked


def test_invalid_utf8_echoed_fails_the_must_dropped_fails_only_the_should():
    for case_id in ("tunnel-invalid-utf8", "tunnel-invalid-utf8-fragments"):
        echoed = run(case_id, endpoint())
        assert not echoed.passed and "the invalid text came back as a text message" in echoed.message()
        assert run(case_id, endpoint(on_invalid="drop")).passed
        assert run(case_id, endpoint(on_invalid="1007")).passed
        assert not run(f"{case_id}-close-1007", endpoint(on_invalid="drop")).passed
        assert run(f"{case_id}-close-1007", endpoint(on_invalid="1007")).passed


def test_valid_utf8_split_inside_characters_goes_out_byte_by_byte():
    log: list[frames.Frame] = []
    assert run("tunnel-utf8-split-across-fragments", endpoint(log=log, on_invalid="1007")).passed
    data = [f.payload for f in log if f.opcode < frames.CLOSE]
    assert data[:3] == [b"\xce", b"\xba", b"\xe2"] and b"".join(data) == "κ€𝄞".encode()
