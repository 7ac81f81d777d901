"""The splitter's prefilter: packets tshark need not see, and what the flow builder needs of them.

tshark's dissection of every packet was the parse's floor (issue 12). Two kinds of packet carry
nothing tshark reads for us beyond what raw headers give:

- **sealed TCP**: once a TCP conversation on a port tshark decodes as TLS or SSH
  (``SEALABLE_PORTS``) showed a TLS handshake record (``16 03`` at a segment start) and then
  each direction sent a segment starting with a TLS record of application data (``17 03``), or
  each direction sent its SSH banner (``SSH-``), its later segments are encrypted: tshark
  finds no fact, no summary number and no exported object in them. They still count in their
  flow (packets, bytes, times, bursts, TCP flags, VLAN ids), and the splitter reads those from
  the headers.
- **ARP and spanning-tree BPDUs**: in no flow and without facts, they only count in the
  capture's packets and bytes.

Everything else reaches tshark: every SYN (any SYN ends a sealed epoch: later packets are kept
until the conversation seals again, so tshark alone decides its stream numbers), non-Ethernet
link types, fragments, IPv6 extension headers, tunnels, UDP (QUIC short headers were measured
to be 0.7 % of the flow-heavy capture's packets and are not withheld), more than two VLAN tags,
frames whose time tshark might read otherwise than the splitter (``withholding``), and every
frame of a pcapng file with a decryption secrets block (tshark would read sealed sessions).

The splitter writes, per part, a side channel of fixed-size records (``SIDE``) in frame order.
Each record's ``pos`` is how many of the part's packets went to tshark before it, so the flow
builder applies it between the same two rows (``lockstep``): a ``BIND`` right after the packet
that sealed the conversation (its row tells the builder the flow and the direction), then each
``PACKET`` of that epoch. Records are flushed before the packets that follow them reach tshark,
so a record the builder needs is always on disk. ``parse`` checks the result: split parses with
and without the prefilter equal one tshark pass on every shared capture.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path
from typing import BinaryIO, NamedTuple

# pos (packets sent to tshark before), epoch, frame length, timestamp ns, kind, direction
# (relative to the epoch's first TLS/SSH sender), TCP flags (tshark's tcp.flags), two VLAN ids
SIDE = struct.Struct("<QIIqBBHHH")
BIND, PACKET = 1, 2
NO_VLAN = 0xFFFF
# classify() results
KEEP, KEEP_BIND, COUNT, WITHHOLD = 0, 1, 2, 3
# conversations tracked at once (~250 B each, ~60 MB at most in the splitter's process): past
# this, new ones are simply kept
MAX_CONVERSATIONS = 250_000
# records decoded at a time by the reader (its memory stays flat however far behind it is)
_READ_RECORDS = 4096

_VLAN_TYPES = frozenset({0x8100, 0x88A8, 0x9100})
# TCP ports tshark 4.0 decodes as TLS or SSH by default (``tshark -G decodes``). A session is
# only sealed when the lower of its ports is one of them: tshark tries the lower port's
# dissector first, and on any other port some dissector (DNS on 53, FTP on 21, SMTP on 25, ...)
# might read the encrypted bytes as its own protocol and find "facts" in them.
SEALABLE_PORTS = frozenset(
    {22, 324, 443, 465, 636, 802, 853, 993, 995, 1300, 2221, 2443, 3249, 3250, 3251, 3252, 3496,
     5061, 5671, 5684, 5868, 8883, 11207, 19999, 27017, 29418}
)  # fmt: skip


class _Conv:
    __slots__ = ("epoch", "first", "sealed", "tls")

    def __init__(self, first: bytes, tls: bool) -> None:
        self.first = first  # address + port of whoever sent the first handshake/banner: direction 0
        self.tls = tls  # a TLS handshake record was seen at a segment start
        self.sealed = [False, False]  # per direction: application data / banner seen
        self.epoch = 0  # set when both directions are sealed


class Prefilter:
    """Classifies the frames of one classic-pcap Ethernet capture, in file order.

    ``classify`` returns ``KEEP``, ``KEEP_BIND`` (kept, and it sealed epoch ``epoch`` with
    ``direction``), ``COUNT`` (withheld: totals only) or ``WITHHOLD`` (withheld: a packet of
    epoch ``epoch`` with ``direction``, ``flags`` and ``vlans``).
    """

    def __init__(self) -> None:
        self._convs: dict[bytes, _Conv] = {}
        self._epochs = 0
        self.epoch = 0
        self.direction = 0
        self.flags = 0
        self.vlans = (NO_VLAN, NO_VLAN)

    def classify(self, buf: bytes | mmap.mmap, base: int, end: int) -> int:
        if end - base < 14:
            return KEEP
        off = base + 14
        etype = buf[off - 2] << 8 | buf[off - 1]
        vlan_a = vlan_b = NO_VLAN
        tags = 0
        while etype in _VLAN_TYPES:
            if tags == 2 or off + 4 > end:
                return KEEP
            vid = (buf[off] << 8 | buf[off + 1]) & 0x0FFF
            if tags:
                vlan_b = vid
            else:
                vlan_a = vid
            etype = buf[off + 2] << 8 | buf[off + 3]
            off += 4
            tags += 1
        if etype == 0x0800:
            if off + 20 > end:
                return KEEP
            vihl = buf[off]
            # IPv4 carrying TCP, not a fragment (no MF, offset 0)
            if vihl >> 4 != 4 or buf[off + 9] != 6 or buf[off + 6] & 0x3F or buf[off + 7]:
                return KEEP
            ihl = (vihl & 0x0F) * 4
            if ihl < 20:
                return KEEP
            ip_end = min(off + (buf[off + 2] << 8 | buf[off + 3]), end)
            t = off + ihl
            addrs = off + 12, off + 16, off + 20
        elif etype == 0x86DD:
            if off + 40 > end or buf[off] >> 4 != 6 or buf[off + 6] != 6:
                return KEEP  # not TCP right after the fixed header (extension headers: kept)
            ip_end = min(off + 40 + (buf[off + 4] << 8 | buf[off + 5]), end)
            t = off + 40
            addrs = off + 8, off + 24, off + 40
        elif etype == 0x0806 or (
            etype <= 1500 and off + 2 <= end and buf[off] == 0x42 == buf[off + 1]
        ):
            return COUNT  # ARP; 802.3 LLC from and to the spanning-tree SAP
        else:
            return KEEP
        if t + 20 > ip_end:
            return KEEP
        sport, dport = buf[t] << 8 | buf[t + 1], buf[t + 2] << 8 | buf[t + 3]
        if (sport if sport < dport else dport) not in SEALABLE_PORTS:
            return KEEP  # (most packets: decided before any bytes are copied)
        doff = (buf[t + 12] >> 4) * 4
        if doff < 20:
            return KEEP
        first, middle, last = addrs
        me, peer = buf[first:middle] + buf[t : t + 2], buf[middle:last] + buf[t + 2 : t + 4]
        key = me + peer if me < peer else peer + me
        convs = self._convs
        conv = convs.get(key)
        syn = buf[t + 13] & 0x02
        p = t + doff
        if conv is None:
            if syn or p + 4 > ip_end:
                return KEEP
            b0 = buf[p]
            if b0 == 0x16 and buf[p + 1] == 0x03:
                if len(convs) < MAX_CONVERSATIONS:
                    convs[key] = _Conv(me, True)
            elif b0 == 0x53 and buf[p : p + 4] == b"SSH-" and len(convs) < MAX_CONVERSATIONS:
                conv = convs[key] = _Conv(me, False)
                conv.sealed[0] = True
            return KEEP
        if syn:  # a new or repeated handshake: tshark decides what follows (kept until sealed)
            del convs[key]
            return KEEP
        direction = 0 if me == conv.first else 1
        if conv.epoch:
            self.epoch, self.direction = conv.epoch, direction
            self.flags = (buf[t + 12] & 0x0F) << 8 | buf[t + 13]
            self.vlans = (vlan_a, vlan_b)
            return WITHHOLD
        if p + 2 <= ip_end:
            b0, b1 = buf[p], buf[p + 1]
            if b0 == 0x16 and b1 == 0x03:
                conv.tls = True
            elif (b0 == 0x17 and b1 == 0x03 and conv.tls) or (
                b0 == 0x53 and buf[p : p + 4] == b"SSH-"
            ):
                sealed = conv.sealed
                sealed[direction] = True
                if sealed[0] and sealed[1]:
                    self._epochs += 1
                    conv.epoch = self.epoch = self._epochs
                    self.direction = direction
                    return KEEP_BIND
        return KEEP


class SideWriter:
    """One part's side channel: records buffered, written before the part's next packets."""

    def __init__(self, sink: BinaryIO) -> None:
        self._sink = sink
        self._buffer = bytearray()

    def bind(self, pos: int, prefilter: Prefilter, frame_len: int) -> None:
        """The ``pos``-th packet sent to tshark sealed ``prefilter.epoch``."""
        self._buffer += SIDE.pack(
            pos, prefilter.epoch, frame_len, 0, BIND, prefilter.direction, 0, NO_VLAN, NO_VLAN
        )

    def packet(
        self,
        pos: int,
        prefilter: Prefilter,
        frame_len: int,
        ts_ns: int,
    ) -> None:
        vlan_a, vlan_b = prefilter.vlans
        self._buffer += SIDE.pack(
            pos,
            prefilter.epoch,
            frame_len,
            ts_ns,
            PACKET,
            prefilter.direction,
            prefilter.flags,
            vlan_a,
            vlan_b,
        )

    def flush(self) -> None:
        if self._buffer:
            self._sink.write(self._buffer)
            self._sink.flush()
            self._buffer.clear()


class SideRecord(NamedTuple):
    pos: int  # the part's packets that went to tshark before this one
    epoch: int
    frame_len: int
    ts_ns: int
    kind: int  # BIND or PACKET
    direction: int
    flags: int
    vlan_a: int  # NO_VLAN: none
    vlan_b: int


class SideReader:
    """Reads a part's side channel as the splitter writes it: ``next_pos`` sees every record
    on disk so far (those the rows tshark printed need are there, see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        self._records: list[SideRecord] = []
        self._at = 0  # the next record of ``_records``
        self._tail = b""  # the start of a record not wholly written yet

    def close(self) -> None:
        self._file.close()

    def next_pos(self) -> int | None:
        """The next record's position, or None when none is on disk (yet)."""
        if self._at == len(self._records):
            data = self._tail + self._file.read(_READ_RECORDS * SIDE.size)
            whole = len(data) - len(data) % SIDE.size
            self._records = list(map(SideRecord._make, SIDE.iter_unpack(data[:whole])))
            self._tail = data[whole:]
            self._at = 0
            if not self._records:
                return None
        return self._records[self._at].pos

    def pop(self) -> SideRecord:
        """The record ``next_pos`` saw."""
        record = self._records[self._at]
        self._at += 1
        return record
