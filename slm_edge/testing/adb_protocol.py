"""The adb transport's wire format (AOSP packages/modules/adb protocol.txt): a 24-byte
little-endian header, then the payload."""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

A_CNXN = 0x4E584E43
A_AUTH = 0x48545541
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_WRTE = 0x45545257
A_CLSE = 0x45534C43
A_STLS = 0x534C5453

# 0x01000001 lets both sides skip payload checksums; the host of adb 1.0.41 sends it.
A_VERSION = 0x01000001
A_VERSION_MIN = 0x01000000
MAX_PAYLOAD = 256 * 1024

AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3

_HEADER = struct.Struct("<6I")
NAMES = {A_CNXN: "CNXN", A_AUTH: "AUTH", A_OPEN: "OPEN", A_OKAY: "OKAY", A_WRTE: "WRTE", A_CLSE: "CLSE",
         A_STLS: "STLS"}


class ProtocolError(Exception):
    pass


@dataclass
class Packet:
    command: int
    arg0: int
    arg1: int
    data: bytes = b""

    def encode(self) -> bytes:
        # The checksum is still sent: an older host would check it.
        return _HEADER.pack(self.command, self.arg0, self.arg1, len(self.data), sum(self.data) & 0xFFFFFFFF,
                            self.command ^ 0xFFFFFFFF) + self.data

    def __repr__(self) -> str:
        return f"{NAMES.get(self.command, hex(self.command))}({self.arg0}, {self.arg1}, {self.data[:40]!r})"


async def read_packet(reader: asyncio.StreamReader, max_payload: int = 1024 * 1024) -> Packet:
    """The next packet; IncompleteReadError at end of connection, ProtocolError on garbage."""
    header = await reader.readexactly(_HEADER.size)
    command, arg0, arg1, length, _checksum, magic = _HEADER.unpack(header)
    if magic != command ^ 0xFFFFFFFF:
        raise ProtocolError(f"bad magic in packet header {header.hex()}")
    if length > max_payload:
        raise ProtocolError(f"payload of {length} bytes exceeds {max_payload}")
    return Packet(command, arg0, arg1, await reader.readexactly(length) if length else b"")
