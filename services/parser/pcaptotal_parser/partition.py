"""Split a capture into parts by host pair, so that every conversation stays whole in one part.

Each packet goes to part ``crc32(lower address + higher address) % parts`` of its outermost IP
header (through VLAN/QinQ/MPLS, Linux cooked, BSD loopback and raw-IP link layers), so a TCP or
UDP stream, its fragments, an FTP data connection (same hosts) and any tunnel (outer addresses)
stay together, and tshark decodes each part exactly as it would the whole file. ICMP errors go
with the packet they quote, so the TCP/UDP stream they refer to is in their part. Packets that
are not IP go to part 0.

pcap and pcapng are read record by record (pcapng: every non-packet block - section and
interface descriptions, name resolution, decryption secrets - is copied to every part so that
interface ids and keys stay valid). Each part remembers the original frame number of each of its
packets, which lets the merge renumber streams exactly as one tshark pass would. Anything
unexpected (another format, a damaged record) makes ``split_capture`` return ``None``: the
caller then parses in one pass, which reports the damage as usual.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": "<",
    b"\xa1\xb2\xc3\xd4": ">",
    b"\x4d\x3c\xb2\xa1": "<",
    b"\xa1\xb2\x3c\x4d": ">",
}
_PCAPNG_SHB = 0x0A0D0D0A
_EPB, _SPB, _OLD_PB, _IDB = 6, 3, 2, 1
_FLUSH = 1 << 20  # bytes buffered per part before a write

# link-layer types (LINKTYPE_*)
_ETHERNET, _NULL, _LOOP, _SLL, _SLL2 = 1, 0, 109, 113, 276
_RAW = frozenset({12, 14, 101, 228, 229})
_VLAN_TYPES = frozenset({0x8100, 0x88A8, 0x9100})
_MPLS_TYPES = frozenset({0x8847, 0x8848})
_ICMP4_ERRORS = frozenset({3, 4, 5, 11, 12})
_ICMP6_ERRORS = frozenset({1, 2, 3, 4})


@dataclass(slots=True)
class Part:
    path: Path
    frames: array[int] = field(default_factory=lambda: array("L"))  # original frame numbers

    @property
    def packets(self) -> int:
        return len(self.frames)


def _ip_start(linktype: int, data: bytes) -> int:
    """Offset of the outermost IP header in a frame, or -1."""
    if linktype == _ETHERNET:
        if len(data) < 14:
            return -1
        etype = int.from_bytes(data[12:14], "big")
        off = 14
        while etype in _VLAN_TYPES and len(data) >= off + 4:
            etype = int.from_bytes(data[off + 2 : off + 4], "big")
            off += 4
        if etype in _MPLS_TYPES:
            while len(data) >= off + 4:
                bottom = data[off + 2] & 1
                off += 4
                if bottom:
                    return off
            return -1
        return off if etype in (0x0800, 0x86DD) else -1
    if linktype in _RAW:
        return 0
    if linktype in (_NULL, _LOOP):
        return 4
    if linktype == _SLL:
        return 16 if data[14:16] in (b"\x08\x00", b"\x86\xdd") else -1
    if linktype == _SLL2:
        return 20 if data[0:2] in (b"\x08\x00", b"\x86\xdd") else -1
    return -1


def host_pair(linktype: int, data: bytes) -> bytes | None:
    """The unordered address pair a packet belongs to (ICMP errors: the quoted packet's)."""
    off = _ip_start(linktype, data)
    if off < 0 or len(data) <= off:
        return None
    version = data[off] >> 4
    if version == 4 and len(data) >= off + 20:
        src, dst = data[off + 12 : off + 16], data[off + 16 : off + 20]
        ihl = (data[off] & 0x0F) * 4
        first_fragment = data[off + 6] & 0x1F == 0 and data[off + 7] == 0
        icmp = off + ihl
        if (
            data[off + 9] == 1
            and first_fragment
            and len(data) >= icmp + 8 + 20
            and data[icmp] in _ICMP4_ERRORS
            and data[icmp + 8] >> 4 == 4
        ):
            inner = icmp + 8
            src, dst = data[inner + 12 : inner + 16], data[inner + 16 : inner + 20]
    elif version == 6 and len(data) >= off + 40:
        src, dst = data[off + 8 : off + 24], data[off + 24 : off + 40]
        icmp = off + 40
        if (
            data[off + 6] == 58
            and len(data) >= icmp + 8 + 40
            and data[icmp] in _ICMP6_ERRORS
            and data[icmp + 8] >> 4 == 6
        ):
            inner = icmp + 8
            src, dst = data[inner + 8 : inner + 24], data[inner + 24 : inner + 40]
    else:
        return None
    return src + dst if src <= dst else dst + src


class _Writer:
    def __init__(self, parts: list[Part], files: list[BinaryIO]) -> None:
        self.parts = parts
        self.files = files
        self.buffers: list[list[bytes]] = [[] for _ in parts]
        self.sizes = [0] * len(parts)

    def packet(self, index: int, frame: int, record: bytes) -> None:
        self.parts[index].frames.append(frame)
        self.buffers[index].append(record)
        self.sizes[index] += len(record)
        if self.sizes[index] >= _FLUSH:
            self.flush(index)

    def everywhere(self, record: bytes) -> None:
        for index in range(len(self.parts)):
            self.buffers[index].append(record)
            self.sizes[index] += len(record)

    def flush(self, index: int) -> None:
        self.files[index].writelines(self.buffers[index])
        self.buffers[index].clear()
        self.sizes[index] = 0

    def close(self) -> None:
        for index in range(len(self.parts)):
            self.flush(index)


def _which(linktype: int, data: bytes, count: int) -> int:
    pair = host_pair(linktype, data)
    return 0 if pair is None else zlib.crc32(pair) % count


def _split_pcap(mm: mmap.mmap, writer: _Writer, count: int) -> bool:
    order = _PCAP_MAGICS.get(mm[:4])
    if order is None or len(mm) < 24:
        return False
    header = struct.Struct(order + "IIII")
    linktype = struct.unpack_from(order + "I", mm, 20)[0] & 0xFFFF
    writer.everywhere(mm[:24])
    pos, end, frame = 24, len(mm), 0
    while pos < end:
        if pos + 16 > end:
            return False
        caplen = header.unpack_from(mm, pos)[2]
        stop = pos + 16 + caplen
        if stop > end or caplen > 0x4000000:
            return False
        frame += 1
        data = mm[pos + 16 : stop]
        writer.packet(_which(linktype, data, count), frame, mm[pos:stop])
        pos = stop
    return True


def _split_pcapng(mm: mmap.mmap, writer: _Writer, count: int) -> bool:
    end = len(mm)
    if end < 12 or int.from_bytes(mm[:4], "little") != _PCAPNG_SHB:
        return False
    pos, frame, order = 0, 0, "<"
    linktypes: list[int] = []
    while pos < end:
        if pos + 12 > end:
            return False
        if mm[pos : pos + 4] == b"\x0a\x0d\x0d\x0a":  # a section starts: its byte order
            magic = mm[pos + 8 : pos + 12]
            if magic == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif magic == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                return False
            linktypes = []
        btype, blen = struct.unpack_from(order + "II", mm, pos)
        if blen < 12 or blen % 4 or pos + blen > end:
            return False
        block = mm[pos : pos + blen]
        if btype == _IDB:
            linktypes.append(struct.unpack_from(order + "H", block, 8)[0])
            writer.everywhere(block)
        elif btype in (_EPB, _OLD_PB):
            if btype == _EPB:
                iface = struct.unpack_from(order + "I", block, 8)[0]
            else:
                iface = struct.unpack_from(order + "H", block, 8)[0]
            caplen = struct.unpack_from(order + "I", block, 20)[0]
            if iface >= len(linktypes) or 28 + caplen > blen:
                return False
            frame += 1
            writer.packet(_which(linktypes[iface], block[28 : 28 + caplen], count), frame, block)
        elif btype == _SPB:
            if not linktypes:
                return False
            frame += 1
            writer.packet(_which(linktypes[0], block[12 : blen - 4], count), frame, block)
        else:  # section header, name resolution, statistics, decryption secrets, custom
            writer.everywhere(block)
        pos += blen
    return True


def split_capture(capture: Path, out_dir: Path, count: int) -> list[Part] | None:
    """Write ``count`` part files under ``out_dir``; ``None`` when the file cannot be split.

    Blocking (file I/O and a loop over every packet): run it in a thread.
    """
    suffix = ".pcap"
    with capture.open("rb") as fh:
        head = fh.read(4)
    if int.from_bytes(head, "little") == _PCAPNG_SHB:
        suffix = ".pcapng"
    elif head not in _PCAP_MAGICS:
        return None
    parts = [Part(out_dir / f"part-{i:03d}{suffix}") for i in range(count)]
    files: list[BinaryIO] = [part.path.open("wb") for part in parts]
    try:
        writer = _Writer(parts, files)
        with (
            capture.open("rb") as fh,
            mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm,
        ):
            split = _split_pcapng if suffix == ".pcapng" else _split_pcap
            ok = split(mm, writer, count)
        writer.close()
    finally:
        for f in files:
            f.close()
    if not ok:
        for part in parts:
            part.path.unlink(missing_ok=True)
        return None
    return parts
