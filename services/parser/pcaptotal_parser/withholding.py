"""The prefilter (``prefilter``) in the splitter's loops: what a withheld frame leaves behind
(a side-channel record, or a count), and what the file must say for frames to be withheld."""

from __future__ import annotations

import mmap
import struct

from pcaptotal_parser.part import Part
from pcaptotal_parser.prefilter import COUNT, KEEP_BIND, Prefilter, SideWriter

_DSB = 0x0000000A  # pcapng decryption secrets block
_SHB = 0x0A0D0D0A
_TSRESOL, _TSOFFSET = 9, 14  # interface description options


class Withholding:
    """One split's prefilter: ``classify`` a frame, then ``take`` it (or not)."""

    def __init__(self, parts: list[Part], sides: list[SideWriter]) -> None:
        self.prefilter = Prefilter()
        self.classify = self.prefilter.classify
        self.parts = parts
        self.sides = sides

    def take(self, verdict: int, target: int, ts_ns: int, wire: int) -> bool:
        """After a non-``KEEP`` ``classify``: True when the frame does not go to tshark.

        ``ts_ns``: the frame's time as tshark reads it (-1: not known exactly, so the frame
        goes to tshark); ``wire``: its original length. A kept frame that sealed its session is
        followed by its bind (applied once tshark's row for it, the part's next, is added)."""
        part = self.parts[target]
        if verdict == KEEP_BIND:
            self.sides[target].bind(len(part.frames) + 1, self.prefilter, wire)
            return False
        if ts_ns < 0:
            return False
        if verdict == COUNT:
            part.counted_packets += 1
            part.counted_bytes += wire
        else:
            self.sides[target].packet(len(part.frames), self.prefilter, wire, ts_ns)
            part.withheld += 1
        return True


def has_secrets(mm: mmap.mmap) -> bool:
    """Whether a pcapng file has a decryption secrets block (tshark would then read sealed
    sessions), walking the block headers only. An unreadable layout counts as yes."""
    pos, end, order = 0, len(mm), "<"
    while pos + 12 <= end:
        btype = int.from_bytes(mm[pos : pos + 4], "little" if order == "<" else "big")
        if btype == _SHB:
            order = "<" if mm[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        elif btype == _DSB:
            return True
        blen: int = struct.unpack_from(order + "I", mm, pos + 4)[0]
        if blen < 12 or blen % 4:
            return True
        pos += blen
    return False


def interface_clock(mm: mmap.mmap, start: int, stop: int, order: str) -> int:
    """Nanoseconds per timestamp unit of the pcapng interface description block at ``start``
    (``if_tsresol``; default microseconds), or 0 when tshark's reading of its times might not
    be that exact product: a binary resolution, finer than 1 ns, or an ``if_tsoffset``."""
    clock = 1000
    pos, end = start + 16, stop - 4  # options follow link type, reserved and snap length
    while pos + 4 <= end:
        code, length = struct.unpack_from(order + "HH", mm, pos)
        if code == 0:
            break
        value = pos + 4
        if code == _TSRESOL and length >= 1:
            resolution = mm[value]
            if resolution & 0x80 or resolution > 9:
                return 0
            clock = 10 ** (9 - resolution)
        elif code == _TSOFFSET:
            return 0
        pos = value + (length + 3) // 4 * 4
    return clock
