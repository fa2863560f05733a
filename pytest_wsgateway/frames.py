"""The few RFC 6455 §5 frames the after-101 checks need, sans-I/O: encode (masked) and decode.

The client sends masked frames (§5.3: "a client MUST mask all frames that it sends to the
server"); the decoder reports what the server sent, including whether it masked them, so a check
can judge it (§5.1: "A server MUST NOT mask any frames that it sends to the client").
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
OPCODE_NAMES = {CONTINUATION: "continuation", TEXT: "text", BINARY: "binary", CLOSE: "close", PING: "ping", PONG: "pong"}


class FrameError(ValueError):
    """Bytes that cannot be a frame a server may send."""


@dataclass(frozen=True)
class Frame:
    opcode: int
    payload: bytes
    fin: bool = True
    masked: bool = False
    rsv: int = 0

    def describe(self) -> str:
        name = OPCODE_NAMES.get(self.opcode, f"opcode 0x{self.opcode:x}")
        flags = "" if self.fin else ", not final"
        flags += ", masked" if self.masked else ""
        return f"{name} frame ({len(self.payload)} bytes{flags})"


def encode(opcode: int, payload: bytes = b"", *, fin: bool = True, mask_key: bytes | None = None) -> bytes:
    """One masked client frame. ``mask_key`` defaults to 4 fresh random bytes (§5.3)."""
    key = os.urandom(4) if mask_key is None else mask_key
    head = bytes([(0x80 if fin else 0) | opcode])
    length = len(payload)
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    return head + key + _mask(payload, key)


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode("utf-8")


def decode(buffer: bytes, *, max_payload: int = 1 << 20) -> tuple[list[Frame], bytes]:
    """Decode every complete frame at the start of ``buffer``.

    Returns the frames and the bytes left over (an incomplete frame). Raises :class:`FrameError`
    for an unknown opcode, a fragmented or oversized control frame, or a payload over
    ``max_payload``.
    """
    frames = []
    view = memoryview(buffer)
    while len(view) >= 2:
        first, second = view[0], view[1]
        opcode, fin, rsv = first & 0x0F, bool(first & 0x80), (first >> 4) & 0x7
        masked, length, offset = bool(second & 0x80), second & 0x7F, 2
        if opcode not in OPCODE_NAMES:
            raise FrameError(f"reserved opcode 0x{opcode:x} (RFC 6455 §5.2)")
        if length == 126:
            if len(view) < 4:
                break
            (length,), offset = struct.unpack("!H", view[2:4]), 4
        elif length == 127:
            if len(view) < 10:
                break
            (length,), offset = struct.unpack("!Q", view[2:10]), 10
        if opcode >= CLOSE and (length > 125 or not fin):
            raise FrameError("control frames must be final and carry at most 125 bytes (RFC 6455 §5.5)")
        if length > max_payload:
            raise FrameError(f"frame payload of {length} bytes exceeds {max_payload}")
        key = bytes(view[offset : offset + 4]) if masked else b""
        offset += len(key)
        if len(view) < offset + length:
            break
        payload = bytes(view[offset : offset + length])
        frames.append(Frame(opcode, _mask(payload, key) if masked else payload, fin, masked, rsv))
        view = view[offset + length :]
    return frames, bytes(view)


def _mask(data: bytes, key: bytes) -> bytes:
    if not data:
        return b""
    repeated = (key * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(data), "big")
