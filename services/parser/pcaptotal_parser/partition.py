"""Split a capture into parts by host pair, so that every conversation stays whole in one part.

Each packet goes to the part holding the bucket (``host_pairs.pair_bucket``, a hash symmetric
in the two addresses) of its outermost IP header (through VLAN/QinQ/MPLS, Linux cooked, BSD
loopback and raw-IP link layers), so a TCP or UDP stream, its fragments, an FTP data connection
(same hosts) and any tunnel (outer addresses) stay together, and tshark decodes each part exactly
as it would the whole file.
ICMP errors go with the packet they quote, so the TCP/UDP stream they refer to is in their part.
Packets that are not IP go to bucket 0. The buckets are dealt to the parts by size, in one
pass, so the parts can be piped into tshark while the file is still being read.

pcap and pcapng are read record by record (pcapng: every non-packet block - section and
interface descriptions, name resolution, decryption secrets - is copied to every part so that
interface ids and keys stay valid). Each part remembers the original frame number of each of its
packets, which lets the merge renumber streams exactly as one tshark pass would. Anything
unexpected (another format, a damaged record) makes ``split_capture`` return ``None``: the
caller then parses in one pass, which reports the damage as usual.
"""

from __future__ import annotations

import contextlib
import mmap
import struct
from array import array
from pathlib import Path
from typing import BinaryIO

from pcaptotal_parser.host_pairs import BUCKETS, ETHERNET, frame_bucket
from pcaptotal_parser.part import Part
from pcaptotal_parser.prefilter import SideWriter
from pcaptotal_parser.withholding import Withholding, has_secrets, interface_clock

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": "<",
    b"\xa1\xb2\xc3\xd4": ">",
    b"\x4d\x3c\xb2\xa1": "<",
    b"\xa1\xb2\x3c\x4d": ">",
}
_NANOSECOND_MAGICS = (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
_PCAPNG_SHB = 0x0A0D0D0A
_EPB, _SPB, _OLD_PB, _IDB = 6, 3, 2, 1
# blocks that describe rather than carry packets: section and interface descriptions, name
# resolution, interface statistics, decryption secrets, custom (copyable) blocks
_EVERYWHERE = frozenset({_PCAPNG_SHB, _IDB, 4, 5, 0x0000000A, 0x00000BAD, 0x40000BAD})
_FLUSH = 256 * 1024  # bytes buffered per part before a write (keeps each tshark fed)
PACKET_COST = 2048  # bytes a packet "weighs" beyond its length when balancing the parts
RELEASE_EVERY = 16 * 1024 * 1024


class _Dealer:
    """Hands records to the parts: buffers per part, and the bucket → part table.

    Consecutive packets of one part leave the file as one slice (a "run"); the hot loops keep
    the current run in locals and hand it over with ``emit``.
    """

    def __init__(
        self, parts: list[Part], files: list[BinaryIO], sides: list[SideWriter] | None = None
    ) -> None:
        self.parts = parts
        self.files = files
        self.sides = sides  # the prefilter's side channels, or None
        self.buffers: list[list[bytes]] = [[] for _ in parts]
        self.sizes = [0] * len(parts)
        self.sent = [0] * len(parts)  # bytes dealt to each part
        self.broken = [False] * len(parts)
        self.owner = [-1] * BUCKETS
        self.released = 0  # the file's pages before this offset are dropped from our RSS

    def assign(self, bucket: int, run_part: int, run_bytes: int) -> int:
        """Give a bucket seen for the first time to the part with the least work so far."""
        # tshark's work grows with packets more than with bytes
        loads = [
            PACKET_COST * len(p.frames) + sent
            for p, sent in zip(self.parts, self.sent, strict=True)
        ]
        if run_part >= 0:
            loads[run_part] += run_bytes
        target = self.owner[bucket] = loads.index(min(loads))
        return target

    def emit(self, mm: mmap.mmap, index: int, start: int, stop: int) -> None:
        if index < 0 or stop <= start:
            return
        size = stop - start
        self.sent[index] += size
        self.buffers[index].append(mm[start:stop])
        self.sizes[index] += size
        if self.sizes[index] >= _FLUSH:
            self.flush(index)
        if start - self.released > RELEASE_EVERY:
            # read pages of a mapped file count as resident: let them go, so the parser's
            # memory does not grow with the capture
            upto = start - start % mmap.PAGESIZE
            mm.madvise(mmap.MADV_DONTNEED, self.released, upto - self.released)
            self.released = upto

    def everywhere(self, record: bytes) -> None:
        for index in range(len(self.parts)):
            self.buffers[index].append(record)
            self.sizes[index] += len(record)

    def flush(self, index: int) -> None:
        if self.sides is not None:  # the records before these packets reach the builder first
            self.sides[index].flush()
        if self.broken[index]:
            self.buffers[index].clear()
            return
        try:
            self.files[index].writelines(self.buffers[index])
        except BrokenPipeError:  # that tshark died: its error is reported by its reader
            self.broken[index] = True
        self.buffers[index].clear()
        self.sizes[index] = 0

    def close(self) -> None:
        for index in range(len(self.parts)):
            self.flush(index)

    def pcap(self, mm: mmap.mmap) -> None:
        if len(mm) < 24:
            raise _Damaged
        order = _PCAP_MAGICS[mm[:4]]
        caplen_at = struct.Struct(order + "8xI").unpack_from
        header_at = struct.Struct(order + "IIII").unpack_from
        linktype = struct.unpack_from(order + "I", mm, 20)[0] & 0xFFFF
        # timestamps in microseconds, or in nanoseconds after the 0xa1b23c4d magic
        frac_ns, frac_max = (1, 10**9) if mm[:4] in _NANOSECOND_MAGICS else (1000, 10**6)
        self.everywhere(mm[0:24])
        owner, appenders = self.owner, [p.frames.append for p in self.parts]
        withhold = None
        if self.sides is not None and linktype == ETHERNET:
            withhold = Withholding(self.parts, self.sides)
        frame = 0
        run_part = run_start = run_end = -1
        pos, end = 24, len(mm)
        while pos < end:
            if pos + 16 > end:
                raise _Damaged
            caplen = caplen_at(mm, pos)[0]
            stop = pos + 16 + caplen
            if stop > end or caplen > 0x4000000:
                raise _Damaged
            base = pos + 16
            bucket = frame_bucket(linktype, mm, base, stop)
            target = owner[bucket]
            if target < 0:
                target = self.assign(bucket, run_part, run_end - run_start)
            frame += 1
            if withhold is not None:
                verdict = withhold.classify(mm, base, stop)
                if verdict:
                    ts_s, ts_frac, _, wire = header_at(mm, pos)
                    ts_ns = ts_s * 1_000_000_000 + ts_frac * frac_ns if ts_frac < frac_max else -1
                    if withhold.take(verdict, target, ts_ns, wire):
                        pos = stop
                        continue
            appenders[target](frame)
            if target == run_part and pos == run_end and stop - run_start <= _FLUSH:
                run_end = stop
            else:
                self.emit(mm, run_part, run_start, run_end)
                run_part, run_start, run_end = target, pos, stop
            pos = stop
        self.emit(mm, run_part, run_start, run_end)

    def pcapng(self, mm: mmap.mmap) -> None:
        end = len(mm)
        pos = 0
        head = struct.Struct("<II")
        epb = struct.Struct("<III8xI")  # type, length, interface, (timestamp), captured length
        times = struct.Struct("<12xII4xI")  # timestamp (high, low), original length
        linktypes: list[int] = []
        clocks: list[int] = []  # per interface: ns per timestamp unit (0: not prefiltered)
        owner, appenders = self.owner, [p.frames.append for p in self.parts]
        withhold = None
        if self.sides is not None and not has_secrets(mm):
            withhold = Withholding(self.parts, self.sides)
        frame = 0
        run_part = run_start = run_end = -1
        while pos < end:
            if pos + 24 <= end:
                btype, blen, iface, caplen = epb.unpack_from(mm, pos)
            elif pos + 12 <= end:
                btype, blen = head.unpack_from(mm, pos)
                iface = caplen = 0
            else:
                raise _Damaged
            if btype == _EPB:
                stop = pos + blen
                if blen % 4 or stop > end or 28 + caplen > blen or iface >= len(linktypes):
                    raise _Damaged
                linktype = linktypes[iface]
                base = pos + 28
                fend = base + caplen
                clock = clocks[iface]
            else:
                clock = 0  # (simple and obsolete packet blocks: not prefiltered)
                if btype == _PCAPNG_SHB:  # a section starts: its byte order
                    magic = mm[pos + 8 : pos + 12]
                    if magic not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                        raise _Damaged
                    order = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">"
                    head, epb = struct.Struct(order + "II"), struct.Struct(order + "III8xI")
                    times = struct.Struct(order + "12xII4xI")
                    linktypes, clocks = [], []
                    btype, blen = head.unpack_from(mm, pos)
                if blen < 12 or blen % 4 or pos + blen > end:
                    raise _Damaged
                stop = pos + blen
                order = head.format[0]
                if btype == _OLD_PB:
                    iface = int.from_bytes(
                        mm[pos + 8 : pos + 10], "little" if order == "<" else "big"
                    )
                    caplen = struct.unpack_from(order + "I", mm, pos + 20)[0]
                    if iface >= len(linktypes) or 28 + caplen > blen:
                        raise _Damaged
                    linktype, base, fend = linktypes[iface], pos + 28, pos + 28 + caplen
                elif btype == _SPB:
                    if not linktypes:
                        raise _Damaged
                    linktype, base, fend = linktypes[0], pos + 12, stop - 4
                elif btype in _EVERYWHERE:
                    if btype == _IDB:
                        linktypes.append(struct.unpack_from(order + "H", mm, pos + 8)[0])
                        clocks.append(interface_clock(mm, pos, stop, order))
                    self.emit(mm, run_part, run_start, run_end)
                    run_part = run_start = run_end = -1
                    self.everywhere(mm[pos:stop])
                    pos = stop
                    continue
                else:  # a block tshark might count as a frame (systemd journal, ...): do not guess
                    raise _Damaged
            bucket = frame_bucket(linktype, mm, base, fend)
            target = owner[bucket]
            if target < 0:
                target = self.assign(bucket, run_part, run_end - run_start)
            frame += 1
            if withhold is not None and clock and linktype == ETHERNET:
                verdict = withhold.classify(mm, base, fend)
                if verdict:
                    ts_high, ts_low, wire = times.unpack_from(mm, pos)
                    if withhold.take(verdict, target, (ts_high << 32 | ts_low) * clock, wire):
                        pos = stop
                        continue
            appenders[target](frame)
            if target == run_part and pos == run_end and stop - run_start <= _FLUSH:
                run_end = stop
            else:
                self.emit(mm, run_part, run_start, run_end)
                run_part, run_start, run_end = target, pos, stop
            pos = stop
        self.emit(mm, run_part, run_start, run_end)


class _Damaged(Exception):
    pass


def capture_format(capture: Path) -> str | None:
    """``pcap``, ``pcapng`` or ``None`` (a format the splitter does not read)."""
    with capture.open("rb") as fh:
        head = fh.read(4)
    if int.from_bytes(head, "little") == _PCAPNG_SHB:
        return "pcapng"
    return "pcap" if head in _PCAP_MAGICS else None


def split_into(
    capture: Path, sinks: list[BinaryIO], sides: list[BinaryIO] | None = None
) -> list[Part] | None:
    """Deal the packets of ``capture`` to ``sinks`` (files or pipes to tshark), one pass.

    A host-pair bucket (``pair_bucket``) goes, when first seen, to the sink that has received
    the least work so far, so the parts come out about equal without a first pass.
    Returns each part's original frame numbers, or ``None`` when the file is not a pcap/pcapng
    the splitter can read or is damaged (the sinks then hold a prefix). Blocking: use a thread.
    ``sides``: one side channel per sink turns the prefilter on (``prefilter``; Ethernet
    frames only).
    """
    kind = capture_format(capture)
    if kind is None:
        return None
    parts = [Part(Path(f"part-{i:03d}.{kind}")) for i in range(len(sinks))]
    writers = [SideWriter(side) for side in sides] if sides is not None else None
    dealer = _Dealer(parts, sinks, writers)
    with capture.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        try:
            if kind == "pcap":
                dealer.pcap(mm)
            else:
                dealer.pcapng(mm)
        except (_Damaged, struct.error, IndexError, KeyError):
            dealer.close()
            return None
    dealer.close()
    return parts


def split_capture(capture: Path, out_dir: Path, count: int) -> list[Part] | None:
    """``split_into`` part files ``out_dir/part-NNN.pcap[ng]`` (``None``: see there)."""
    kind = capture_format(capture)
    if kind is None:
        return None
    paths = [out_dir / f"part-{i:03d}.{kind}" for i in range(count)]
    files: list[BinaryIO] = [path.open("wb") for path in paths]
    try:
        parts = split_into(capture, files)
    finally:
        for f in files:
            f.close()
    if parts is None:
        for path in paths:
            path.unlink(missing_ok=True)
        return None
    for part, path in zip(parts, paths, strict=True):
        part.path = path
    return parts


# -- run as a process: ``python -m pcaptotal_parser.partition CAPTURE FRAMES SIDES FD...`` ---
# The parser runs the splitter in its own small process (stdlib only, ~30 ms to start) so that
# dealing packets to the tshark pipes never waits for the parser's thread, which is busy with
# the rows coming back. FRAMES receives each part's original frame numbers (and what the
# prefilter withheld); SIDES is the side channels' path prefix, or ``-`` for no prefilter.

CANNOT_SPLIT = 3  # exit status: not a pcap/pcapng this splitter reads, or damaged


def write_frames(parts: list[Part], path: Path) -> None:
    with path.open("wb") as fh:
        for part in parts:
            for number in (part.counted_packets, part.counted_bytes, part.withheld):
                fh.write(number.to_bytes(8, "little"))
            fh.write(len(part.frames).to_bytes(8, "little"))
            part.frames.tofile(fh)


def read_frames(path: Path, count: int) -> list[Part]:
    parts = []
    with path.open("rb") as fh:
        for i in range(count):
            counted, counted_bytes, withheld = (
                int.from_bytes(fh.read(8), "little") for _ in range(3)
            )
            frames: array[int] = array("L")
            frames.fromfile(fh, int.from_bytes(fh.read(8), "little"))
            parts.append(Part(Path(f"part-{i:03d}"), frames, counted, counted_bytes, withheld))
    return parts


def side_path(prefix: Path, index: int) -> Path:
    """Where part ``index``'s side channel is written (``main``'s SIDES argument)."""
    return prefix.with_name(f"{prefix.name}.{index:03d}")


def main(argv: list[str]) -> int:
    capture, frames_path, side_prefix, *fds = argv
    sinks: list[BinaryIO] = [open(int(fd), "wb", buffering=_FLUSH) for fd in fds]  # noqa: SIM115
    sides: list[BinaryIO] | None = None
    try:
        if side_prefix != "-":
            prefix = Path(side_prefix)
            sides = [side_path(prefix, i).open("wb") for i in range(len(sinks))]
        parts = split_into(Path(capture), sinks, sides)
    finally:
        for sink in sinks:  # end of input for every tshark
            with contextlib.suppress(OSError):
                sink.close()
        for side in sides or []:
            side.close()
    if parts is None:
        return CANNOT_SPLIT
    write_frames(parts, Path(frames_path))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
