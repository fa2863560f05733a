"""The minimal frame codec (RFC 6455 §5)."""

import pytest

from pytest_wsgateway import frames


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536])
def test_masked_frames_round_trip_every_length_encoding(size):
    payload = bytes(range(256)) * (size // 256 + 1)
    data = frames.encode(frames.BINARY, payload[:size])
    decoded, rest = frames.decode(data)
    assert rest == b""
    assert decoded == [frames.Frame(frames.BINARY, payload[:size], True, True)]


def test_mask_is_applied_rfc6455_section_5_3():
    data = frames.encode(frames.TEXT, b"Hello", mask_key=b"\x37\xfa\x21\x3d")
    # RFC 6455 §5.7: "A single-frame masked text message"
    assert data == bytes.fromhex("818537fa213d7f9f4d5158")


def test_unmasked_server_frames_and_partial_input():
    ping = bytes.fromhex("890548656c6c6f")  # RFC 6455 §5.7 unmasked Ping "Hello"
    decoded, rest = frames.decode(ping + ping[:3])
    assert decoded == [frames.Frame(frames.PING, b"Hello")]
    assert rest == ping[:3]


@pytest.mark.parametrize("data", [
    b"\x83\x00",  # reserved opcode
    b"\x09\x00",  # ping without FIN
    b"\x89\x7e\x00\x80" + b"x" * 128,  # control frame over 125 bytes
    b"HTTP/1.1 200 OK\r\n",  # more HTTP after a 101: 'H' (0x48) reads as a non-final close frame
])
def test_invalid_frames_raise(data):
    with pytest.raises(frames.FrameError):
        frames.decode(data)


def test_describe_names_the_frame():
    assert frames.Frame(frames.CLOSE, b"\x03\xe8", masked=True).describe() == "close frame (2 bytes, masked)"
