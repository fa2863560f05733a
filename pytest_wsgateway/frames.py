"""The few RFC 6455 §5 frames the after-101 checks need, sans-I/O: encode (masked) and decode.

The client sends masked frames (§5.3: "a client MUST mask all frames that it sends to the
server"); the decoder reports what the server sent, including whether it masked them, so a check
can judge it (§5.1: "A server MUST NOT mask any frames that it sends to the client").

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
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

    def describe(self, rsv: bool = True) -> str:
        """``text frame (56 bytes, RSV1)``: the opcode, the payload length and the flags set
        (``rsv=False`` leaves out the reserved bits, for a message that names them itself)."""
        name = OPCODE_NAMES.get(self.opcode, f"opcode 0x{self.opcode:x}")
        flags = "" if self.fin else ", not final"
        flags += ", masked" if self.masked else ""
        if rsv:
            flags += "".join(f", RSV{bit}" for bit, mask in ((1, 4), (2, 2), (3, 1)) if self.rsv & mask)
        return f"{name} frame ({len(self.payload)} bytes{flags})"


def encode(opcode: int, payload: bytes = b"", *, fin: bool = True, mask_key: bytes | None = None) -> bytes:
    """One masked client frame. ``mask_key`` defaults to 4 fresh random bytes (§5.3)."""
    key = os.urandom(4) if mask_key is None else mask_key
    return frame_head(opcode, len(payload), fin=fin, mask_key=key) + _mask(payload, key)


@dataclass(frozen=True)
class Burst:
    """Frames one after-101 step sends back to back: ``(opcode, payload, fin)`` each, every one masked.

    A fragmented message (RFC 6455 §5.4), a ping between its fragments, pings in a row. The step
    is answered once each ping has its pong and the data frames' message has come back (in any
    fragmentation: "an intermediary MAY coalesce and/or split frames", §5.4).
    """

    frames: tuple[tuple[int, bytes, bool], ...]
    #: The data frames go out compressed when permessage-deflate was negotiated (RFC 7692 §6.1:
    #: RSV1 on the first frame only); the payloads here are the uncompressed fragments.
    compressed: bool = False

    @property
    def nbytes(self) -> int:
        """Payload bytes the step sends, all frames together (before compression)."""
        return sum(len(payload) for _, payload, _ in self.frames)

    @property
    def message(self) -> tuple[int, bytes] | None:
        """The data message the burst carries (the first fragment's opcode, all payloads), or None."""
        data = [(opcode, payload) for opcode, payload, _ in self.frames if opcode < CLOSE]
        if not data:
            return None
        return data[0][0], b"".join(payload for _, payload in data)

    @property
    def pings(self) -> tuple[bytes, ...]:
        return tuple(payload for opcode, payload, _ in self.frames if opcode == PING)

    def described(self) -> list[str]:
        """Each frame as the transcript shows what the client sent."""
        return [Frame(opcode, payload, fin).describe() for opcode, payload, fin in self.frames]

    def encoded(self, compressor: Compressor | None = None) -> list[tuple[bytes, str]]:
        """The masked frames to write and how the transcript shows each. With a ``compressor`` (a
        compressed burst on a connection that negotiated permessage-deflate) each data fragment is
        compressed on its own (:meth:`Compressor.fragment`) and RSV1 is set on the first only."""
        out, first = [], True
        for (opcode, payload, fin), described in zip(self.frames, self.described()):
            if compressor is None or not self.compressed or opcode >= CLOSE:
                out.append((encode(opcode, payload, fin=fin), described))
                continue
            body = compressor.fragment(payload, fin=fin)
            frame = bytearray(encode(opcode, body, fin=fin))
            if first:
                frame[0] |= 0x40
            flags = ("RSV1, " if first else "") + ("" if fin else "not final, ")
            out.append((bytes(frame), f"compressed {OPCODE_NAMES[opcode]} frame ({flags}{len(body)} bytes, "
                                      f"{len(payload)} before compression)"))
            first = fin
        return out


def fragmented(opcode: int, payload: bytes, sizes: tuple[int, ...], *, ping: bytes | None = None,
               ping_after: int = 1) -> Burst:
    """``payload`` as a message in fragments: the first ones of ``sizes`` bytes, the last one the
    rest (RFC 6455 §5.4: the first frame has ``opcode``, the others are continuations, only the
    last has FIN); a ``ping`` goes after the first ``ping_after`` fragments (§5.4: "Control frames
    ... MAY be injected in the middle of a fragmented message")."""
    if any(size < 0 for size in sizes) or sum(sizes) > len(payload):
        raise ValueError(f"fragment sizes {list(sizes)} do not fit a {len(payload)}-byte message")
    parts, offset = [], 0
    for size in sizes:
        parts.append(payload[offset : offset + size])
        offset += size
    parts.append(payload[offset:])
    frames: list[tuple[int, bytes, bool]] = []
    for index, part in enumerate(parts):
        if ping is not None and index == ping_after:
            frames.append((PING, ping, True))
        frames.append((opcode if index == 0 else CONTINUATION, part, index == len(parts) - 1))
    if ping is not None and ping_after >= len(parts):
        frames.append((PING, ping, True))
    return Burst(tuple(frames))


#: The ping the ``idle`` after-101 step sends once the quiet time is over (the pong must carry it).
IDLE_PING = b"after-idle"


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


# --- messages and permessage-deflate (RFC 7692) -----------------------------------------------------

#: RFC 7692 §7.2.1: the four octets a compressor's flush leaves at the end, removed on the wire.
DEFLATE_TAIL = b"\x00\x00\xff\xff"
#: A decompressed message larger than this is cut (a bounded answer to a zip bomb).
MAX_MESSAGE = 1 << 20


@dataclass(frozen=True)
class Deflate:
    """permessage-deflate as the server accepted it (RFC 7692 §7.1): what a client needs to
    compress its messages and decompress the server's."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15


@dataclass(frozen=True)
class Message:
    """A data message: its opcode (text or binary), payload (decompressed when it was compressed),
    whether it was ``compressed`` (RSV1 on its first frame), and ``error`` when it could not be
    decompressed."""

    opcode: int
    payload: bytes
    compressed: bool = False
    error: str | None = None


def messages(frames: list[Frame], deflate: Deflate | None = None) -> list[Message]:
    """The complete data messages in ``frames`` (control frames between fragments skipped, §5.4),
    decompressed with ``deflate`` when their first frame has RSV1 set (RFC 7692 §6)."""
    import zlib

    found: list[Message] = []
    decompressor = zlib.decompressobj(-15) if deflate is not None else None
    parts: list[Frame] = []
    for frame in frames:
        if frame.opcode >= CLOSE:
            continue
        if frame.opcode != CONTINUATION:
            parts = []
        if frame.opcode == CONTINUATION and not parts:
            continue  # a continuation with no message to continue: not a message
        parts.append(frame)
        if not frame.fin:
            continue
        payload = b"".join(part.payload for part in parts)
        compressed = bool(parts[0].rsv & 0x4)
        if compressed and decompressor is not None:
            try:
                if deflate.server_no_context_takeover:
                    decompressor = zlib.decompressobj(-15)
                payload = decompressor.decompress(payload + DEFLATE_TAIL, MAX_MESSAGE)
            except zlib.error as exc:
                found.append(Message(parts[0].opcode, b"", True, f"not valid DEFLATE data ({exc})"))
                parts = []
                continue
        found.append(Message(parts[0].opcode, payload, compressed))
        parts = []
    return found


def compress(payload: bytes, deflate: Deflate) -> bytes:
    """``payload`` as one permessage-deflate message body (RFC 7692 §7.2.1: the flushed DEFLATE
    data without its final ``00 00 ff ff``)."""
    import zlib

    bits = max(9, min(15, deflate.client_max_window_bits))  # zlib's raw DEFLATE takes 9..15
    compressor = zlib.compressobj(wbits=-bits)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return data[: -len(DEFLATE_TAIL)] if data.endswith(DEFLATE_TAIL) else data


class Compressor:
    """The client's side of permessage-deflate on one connection (RFC 7692 §7.2.1), sans-I/O.

    The compressor's LZ77 window carries over from message to message ("context takeover"), so a
    later message may refer to an earlier one, unless the server's answer carried
    ``client_no_context_takeover`` (§7.1.1.2): then every message starts afresh. A message may be
    compressed in fragments, each flushed (``Z_SYNC_FLUSH``) so it can be sent at once; only the
    last loses the ``00 00 ff ff`` tail (§7.2.1).
    """

    def __init__(self, deflate: Deflate) -> None:
        self.deflate = deflate
        self._zlib = None
        self._encoder = None

    def _fresh(self):
        import zlib

        self._zlib = zlib
        bits = max(9, min(15, self.deflate.client_max_window_bits))  # zlib's raw DEFLATE takes 9..15
        return zlib.compressobj(wbits=-bits)

    def fragment(self, payload: bytes, *, fin: bool = True) -> bytes:
        """The compressed body of one fragment of the current message (the whole message when
        ``fin`` and nothing came before)."""
        if self._encoder is None:
            self._encoder = self._fresh()
        data = self._encoder.compress(payload) + self._encoder.flush(self._zlib.Z_SYNC_FLUSH)
        if fin:
            if data.endswith(DEFLATE_TAIL):
                data = data[: -len(DEFLATE_TAIL)]
            if self.deflate.client_no_context_takeover:
                self._encoder = None
        return data

    def message(self, payload: bytes) -> bytes:
        """``payload`` as one compressed message body."""
        return self.fragment(payload, fin=True)


def encode_message(opcode: int, payload: bytes, *, compressed: bool = False, mask_key: bytes | None = None) -> bytes:
    """One masked frame carrying a whole message, RSV1 set when ``compressed`` (RFC 7692 §6)."""
    frame = bytearray(encode(opcode, payload, mask_key=mask_key))
    if compressed:
        frame[0] |= 0x40
    return bytes(frame)


def hexdump(data: bytes, limit: int = 256) -> list[str]:
    """``data`` as hex + ASCII lines (16 bytes each), at most ``limit`` bytes, then how many more."""
    lines = []
    for offset in range(0, min(len(data), limit), 16):
        chunk = data[offset : offset + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:04x}  {chunk.hex(' '):<47}  {text}")
    if len(data) > limit:
        lines.append(f"… ({len(data) - limit} more bytes)")
    return lines


def negotiated_deflate(extensions: list[str]) -> Deflate | None:
    """permessage-deflate as accepted in the 101's ``Sec-WebSocket-Extensions`` values, or None.

    Parameters the client cannot use are ignored here; the ``deflate_response_valid`` check
    judges them (RFC 7692 §7).
    """
    from .handshake import extension_elements

    for name, params in extension_elements(extensions):
        if name != "permessage-deflate":
            continue
        values = dict(params)

        def bits(key: str) -> int:
            value = values.get(key) or ""
            return int(value) if value.isascii() and value.isdigit() and 8 <= int(value) <= 15 else 15

        return Deflate("server_no_context_takeover" in values, "client_no_context_takeover" in values,
                       bits("server_max_window_bits"), bits("client_max_window_bits"))
    return None


# --- large messages, streamed (the size ladder and backpressure) -------------------------------------

#: A generated message is made of blocks of this many bytes, each starting with its block number,
#: so a chunk that is lost, repeated or moved shows as a difference at a known offset.
BLOCK = 1024
#: Large messages are written and compared this many bytes at a time: the client never holds a
#: whole large message, neither the one it sends nor its echo (a multiple of 4, so the mask stays
#: aligned within a frame).
CHUNK = 1 << 16
_TEXT_FILL = (b"pytest-wsgateway size ladder: the quick brown fox jumps over the lazy dog. " * 14)[: BLOCK - 8]
_BINARY_FILL = bytes((index * 31 + 7) & 0xFF for index in range(BLOCK - 8))


def generated(opcode: int, offset: int, length: int) -> bytes:
    """Bytes ``offset`` to ``offset + length`` of the generated message of kind ``opcode``: text is
    ASCII (valid UTF-8), binary has every byte value; block ``k`` starts with ``k`` (8 bytes)."""
    if length <= 0:
        return b""
    first, last = offset // BLOCK, (offset + length - 1) // BLOCK
    if opcode == TEXT:
        data = b"".join(b"%07x\n" % (block & 0xFFFFFFF) + _TEXT_FILL for block in range(first, last + 1))
    else:
        data = b"".join(block.to_bytes(8, "big") + _BINARY_FILL for block in range(first, last + 1))
    start = offset - first * BLOCK
    return data[start : start + length]


@dataclass(frozen=True)
class Sized:
    """One rung of the size ladder: a generated ``opcode`` message of ``size`` bytes, sent in
    ``fragments`` frames (1: one frame; more: the first ones ``size // fragments`` bytes, the last
    the rest, RFC 6455 §5.4). The echo must be the same bytes, in any fragmentation."""

    opcode: int
    size: int
    fragments: int = 1

    @property
    def kind(self) -> str:
        return OPCODE_NAMES[self.opcode]

    @property
    def nbytes(self) -> int:
        """Payload bytes the step sends (and expects back)."""
        return self.size

    def describe(self) -> str:
        framing = "one frame" if self.fragments == 1 else f"{self.fragments} fragments"
        return f"{self.kind} message ({self.size:,} bytes, {framing})"

    def fragment_sizes(self) -> list[int]:
        part = self.size // self.fragments
        return [part] * (self.fragments - 1) + [self.size - part * (self.fragments - 1)]


@dataclass(frozen=True)
class Flood:
    """``count`` generated binary messages of ``size`` bytes each, written back to back without
    reading, ``pause`` seconds of not reading, then read back: message ``i`` carries bytes
    ``i * size`` to ``(i + 1) * size`` of the generated stream, so order is checked too."""

    count: int
    size: int
    pause: float = 0.0

    @property
    def nbytes(self) -> int:
        """Payload bytes the step sends (and expects back)."""
        return self.count * self.size

    def describe(self) -> str:
        return f"{self.count} binary messages of {self.size:,} bytes ({self.count * self.size:,} bytes), unread"


def frame_head(opcode: int, length: int, *, fin: bool = True, mask_key: bytes) -> bytes:
    """The head of one masked client frame whose payload is ``length`` bytes (RFC 6455 §5.2)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    return head + mask_key


def streamed(opcode: int, offset: int, sizes: list[int]) -> Iterator[bytes]:
    """The wire bytes of a generated message sent as frames of ``sizes`` bytes (one frame when
    ``sizes`` has one item), starting at ``offset`` of the generated stream: at most
    :data:`CHUNK` payload bytes at a time, each frame masked with a fresh key (§5.3)."""
    for index, size in enumerate(sizes):
        key = os.urandom(4)
        piece = frame_head(opcode if index == 0 else CONTINUATION, size, fin=index == len(sizes) - 1, mask_key=key)
        for start in range(0, size, CHUNK):
            piece += _mask(generated(opcode, offset + start, min(CHUNK, size - start)), key)
            yield piece
            piece = b""
        if piece:
            yield piece
        offset += size


class FrameStream:
    """Decodes a server's frames as bytes arrive, without holding a data frame's payload whole.

    :meth:`feed` returns events: ``("start", opcode, fin, rsv, masked, length)`` then
    ``("data", bytes)`` pieces then ``("end",)`` for a data frame; ``("control", Frame)`` for a
    control frame (at most 125 bytes, §5.5, so held whole). Raises :class:`FrameError` as
    :func:`decode` does for bytes that cannot be a server's frame.
    """

    def __init__(self) -> None:
        self.buffer = b""
        self.remaining = 0
        self.key = b""
        self.offset = 0
        self.in_frame = False

    def feed(self, data: bytes) -> list[tuple]:
        events: list[tuple] = []
        buffer = self.buffer + data if self.buffer else data
        position = 0
        while True:
            if self.in_frame:
                count = min(self.remaining, len(buffer) - position)
                if count:
                    piece = buffer[position : position + count]
                    if self.key:
                        shift = self.offset % 4
                        piece = _mask(piece, self.key[shift:] + self.key[:shift])
                    events.append(("data", piece))
                    position += count
                    self.remaining -= count
                    self.offset += count
                if self.remaining:
                    break
                events.append(("end",))
                self.in_frame = False
            head = _head(buffer, position)
            if head is None:
                break
            opcode, fin, rsv, masked, length, size = head
            if opcode >= CLOSE:
                if len(buffer) - position < size + length:
                    break
                key = buffer[position + size - 4 : position + size] if masked else b""
                payload = buffer[position + size : position + size + length]
                events.append(("control", Frame(opcode, _mask(payload, key) if masked else payload, fin, masked, rsv)))
                position += size + length
                continue
            events.append(("start", opcode, fin, rsv, masked, length))
            self.in_frame, self.remaining, self.offset = True, length, 0
            self.key = buffer[position + size - 4 : position + size] if masked else b""
            position += size
        self.buffer = buffer[position:]
        return events


def _head(buffer: bytes, position: int) -> tuple[int, bool, int, bool, int, int] | None:
    """(opcode, fin, rsv, masked, payload length, head size with the mask key) of the frame at
    ``position``, or None while its head is incomplete."""
    if len(buffer) - position < 2:
        return None
    first, second = buffer[position], buffer[position + 1]
    opcode, fin, rsv = first & 0x0F, bool(first & 0x80), (first >> 4) & 0x7
    masked, length, size = bool(second & 0x80), second & 0x7F, 2
    if opcode not in OPCODE_NAMES:
        raise FrameError(f"reserved opcode 0x{opcode:x} (RFC 6455 §5.2)")
    if length == 126:
        if len(buffer) - position < 4:
            return None
        (length,), size = struct.unpack("!H", buffer[position + 2 : position + 4]), 4
    elif length == 127:
        if len(buffer) - position < 10:
            return None
        (length,), size = struct.unpack("!Q", buffer[position + 2 : position + 10]), 10
    if opcode >= CLOSE and (length > 125 or not fin):
        raise FrameError("control frames must be final and carry at most 125 bytes (RFC 6455 §5.5)")
    size += 4 if masked else 0
    if len(buffer) - position < size:
        return None
    return opcode, fin, rsv, masked, length, size


class EchoMatcher:
    """Compares the data frames that come back with one generated message, piece by piece.

    ``problem`` is the first way the echo differs (then the rest is not compared), ``done`` that
    the whole message came back intact; ``received`` the payload bytes seen; ``frames`` how many
    frames carried it.
    """

    def __init__(self, opcode: int, size: int, offset: int = 0) -> None:
        self.opcode, self.size, self.base = opcode, size, offset
        self.received = 0
        self.frames = 0
        self.started = False
        self.fin = False
        self.problem: str | None = None
        self.done = False

    def start(self, opcode: int, fin: bool, rsv: int) -> None:
        name = OPCODE_NAMES.get(opcode, f"opcode 0x{opcode:x}")
        if not self.started and opcode == CONTINUATION:
            self.problem = "a continuation frame with no message to continue (RFC 6455 §5.4)"
        elif not self.started and opcode != self.opcode:
            self.problem = f"a {name} message came back instead of the {OPCODE_NAMES[self.opcode]} message"
        elif self.started and opcode != CONTINUATION:
            self.problem = (f"a new {name} message after {self.received:,} of {self.size:,} bytes: the message was cut "
                            f"(RFC 6455 §5.4)")
        elif rsv:
            self.problem = f"RSV bits 0x{rsv:x} set on a frame of the echo although no extension was negotiated"
        self.started, self.fin = True, fin
        self.frames += 1

    def data(self, piece: bytes) -> None:
        if self.problem is not None:
            return
        if self.received + len(piece) > self.size:
            self.problem = f"more than the {self.size:,} bytes sent came back"
            return
        expected = generated(self.opcode, self.base + self.received, len(piece))
        if piece != expected:
            index = next(i for i, (a, b) in enumerate(zip(piece, expected)) if a != b)
            self.problem = (f"byte {self.received + index:,} of {self.size:,} differs (got 0x{piece[index]:02x}, "
                            f"sent 0x{expected[index]:02x})")
            return
        self.received += len(piece)

    def end(self) -> None:
        if self.problem is None and self.fin:
            if self.received != self.size:
                self.problem = f"the message came back with {self.received:,} bytes instead of {self.size:,}"
            else:
                self.done = True
