"""The echo behind every WebSocket the reference server accepts, over HTTP/1.1 or an HTTP/2 stream.

Sans-I/O: it reads frames from websockets' :class:`~websockets.protocol.Protocol` events and
answers through the same protocol object; the server shells (:mod:`.server`, :mod:`.http2`) move
the bytes. Complete text and binary messages are echoed whole (fragments reassembled); pings,
pongs and close frames are handled by websockets. The fault profile decides some details
(``ping_ends_message``, ``utf8_unchecked``, ``drop_above``, ``limit_above``, ``refragment``).

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import typing
from typing import Any

from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import Protocol, State

__all__ = ["Echo", "EchoFault"]


class EchoFault(typing.Protocol):
    """What the echo asks of a fault profile (:class:`.faults.Fault` has these fields; the strict
    profile's are all off). Declared here, not imported: faults imports the HTTP/2 server, which
    imports this module."""

    ping_ends_message: bool  # a ping between fragments ends the message (the rest relayed as it comes)
    utf8_unchecked: bool  # a text message is echoed without checking its UTF-8
    split_compressed_echo: bool  # under permessage-deflate, an echo goes out in two fragments
    drop_above: int  # messages above this many bytes vanish (0: none)
    limit_above: int  # messages above this many bytes end in close 1009 (0: no limit)
    refragment: int  # the echo goes out in frames of at most this many bytes (0: one frame)


class Echo:
    """Reassemble data frames into messages and echo each complete message."""

    def __init__(self, protocol: Protocol, fault: EchoFault) -> None:
        self.protocol = protocol
        self.fault = fault
        self.opcode: Opcode | None = None
        self.parts: list[bytes] = []
        self.relaying = False  # ping-ends-message: continuations after the ping go out as they come
        self.replied = False  # resets-on-half-close: the close frame was seen

    def process(self, events: list[Any]) -> None:
        for frame in events:
            opcode = frame.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                self.opcode, self.parts, self.relaying = opcode, [bytes(frame.data)], False
            elif opcode is Opcode.CONT and self.relaying:
                if self.protocol.state is State.OPEN:
                    self.protocol.send_frame(Frame(Opcode.CONT, bytes(frame.data), fin=frame.fin))
                self.relaying = not frame.fin
                continue
            elif opcode is Opcode.CONT:
                self.parts.append(bytes(frame.data))
            elif opcode is Opcode.PING and self.fault.ping_ends_message and self.opcode is not None:
                self._echo(self.opcode, b"".join(self.parts))
                self.opcode, self.parts, self.relaying = None, [], True
                continue
            else:
                continue  # ping/pong/close are handled by websockets
            if frame.fin and self.opcode is not None:
                self._echo(self.opcode, b"".join(self.parts))
                self.opcode, self.parts = None, []

    def _echo(self, opcode: Opcode, payload: bytes) -> None:
        protocol, fault = self.protocol, self.fault
        if protocol.state is not State.OPEN:
            return
        if fault.drop_above and len(payload) > fault.drop_above:
            return  # drops-big-messages: gone, without a word
        if fault.limit_above and len(payload) > fault.limit_above:
            protocol.fail(CloseCode.MESSAGE_TOO_BIG,
                          f"message of {len(payload)} bytes exceeds the limit of {fault.limit_above} bytes")
            return
        if opcode is Opcode.TEXT:
            try:
                payload.decode("utf-8") if not self.fault.utf8_unchecked else None
            except UnicodeDecodeError:
                protocol.fail(CloseCode.INVALID_DATA, "invalid UTF-8 in text message")
                return
            send = protocol.send_text
        else:
            send = protocol.send_binary
        if fault.refragment:  # refragments: the message in frames of at most `size` bytes
            size = fault.refragment
            parts = [payload[start : start + size] for start in range(0, len(payload), size)] or [b""]
            send(parts[0], fin=len(parts) == 1)
            for index, part in enumerate(parts[1:], 2):
                protocol.send_continuation(part, fin=index == len(parts))
        elif self.fault.split_compressed_echo and protocol.extensions and len(payload) > 1:
            send(payload[: len(payload) // 2], fin=False)
            protocol.send_continuation(payload[len(payload) // 2 :], fin=True)
        else:
            send(payload)
