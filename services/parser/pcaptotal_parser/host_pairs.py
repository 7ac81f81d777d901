"""Which host pair a frame belongs to, and that pair's hash bucket (the splitter's key).

The outermost IP header is found through VLAN/QinQ/MPLS, Linux cooked, BSD loopback and raw-IP
link layers; an ICMP error counts for the packet it quotes, so the TCP/UDP stream it refers to
lands in the same part. The bucket is symmetric in the two addresses, so both directions of a
conversation share it; frames that are not IP go to bucket 0.
"""

from __future__ import annotations

import mmap
import struct
import zlib

Buffer = bytes | mmap.mmap  # indexing gives ints, slicing gives bytes

BUCKETS = 1024  # host-pair hash buckets, dealt to the parts by size

# link-layer types (LINKTYPE_*)
ETHERNET, _NULL, _LOOP, _SLL, _SLL2 = 1, 0, 109, 113, 276
_RAW = frozenset({12, 14, 101, 228, 229})
_VLAN_TYPES = frozenset({0x8100, 0x88A8, 0x9100})
_MPLS_TYPES = frozenset({0x8847, 0x8848})
_ICMP4_ERRORS = frozenset({3, 4, 5, 11, 12})
_ICMP6_ERRORS = frozenset({1, 2, 3, 4})


def _ip_start(linktype: int, buf: Buffer, base: int, end: int) -> int:
    """Offset in ``buf`` of the outermost IP header of the frame at ``base``, or -1."""
    if linktype == ETHERNET:
        off = base + 14
        if off > end:
            return -1
        etype = buf[off - 2] << 8 | buf[off - 1]
        while etype in _VLAN_TYPES and off + 4 <= end:
            etype = buf[off + 2] << 8 | buf[off + 3]
            off += 4
        if etype in _MPLS_TYPES:
            while off + 4 <= end:
                bottom = buf[off + 2] & 1
                off += 4
                if bottom:
                    return off
            return -1
        return off if etype in (0x0800, 0x86DD) else -1
    if linktype in _RAW:
        return base
    if linktype in (_NULL, _LOOP):
        return base + 4
    if linktype == _SLL:
        return base + 16 if buf[base + 14 : base + 16] in (b"\x08\x00", b"\x86\xdd") else -1
    if linktype == _SLL2:
        return base + 20 if buf[base : base + 2] in (b"\x08\x00", b"\x86\xdd") else -1
    return -1


def host_pair(linktype: int, buf: Buffer, base: int = 0, end: int = -1) -> bytes | None:
    """The unordered address pair of the frame ``buf[base:end]`` (ICMP errors: the quoted
    packet's pair)."""
    if end < 0:
        end = len(buf)
    off = _ip_start(linktype, buf, base, end)
    if off < 0 or off >= end:
        return None
    version = buf[off] >> 4
    if version == 4 and off + 20 <= end:
        src, dst = buf[off + 12 : off + 16], buf[off + 16 : off + 20]
        icmp = off + (buf[off] & 0x0F) * 4
        if (
            buf[off + 9] == 1
            and buf[off + 6] & 0x1F == 0
            and buf[off + 7] == 0
            and icmp + 28 <= end
            and buf[icmp] in _ICMP4_ERRORS
            and buf[icmp + 8] >> 4 == 4
        ):
            inner = icmp + 8
            src, dst = buf[inner + 12 : inner + 16], buf[inner + 16 : inner + 20]
    elif version == 6 and off + 40 <= end:
        src, dst = buf[off + 8 : off + 24], buf[off + 24 : off + 40]
        icmp = off + 40
        if (
            buf[off + 6] == 58
            and icmp + 48 <= end
            and buf[icmp] in _ICMP6_ERRORS
            and buf[icmp + 8] >> 4 == 6
        ):
            inner = icmp + 8
            src, dst = buf[inner + 8 : inner + 24], buf[inner + 24 : inner + 40]
    else:
        return None
    return src + dst if src <= dst else dst + src


def pair_bucket(pair: bytes | None) -> int:
    """The hash bucket of a ``host_pair`` (symmetric in the two addresses; non-IP: 0)."""
    if pair is None:
        return 0
    if len(pair) == 8:
        return _ipv4_bucket(int.from_bytes(pair[:4], "big"), int.from_bytes(pair[4:], "big"))
    return zlib.crc32(pair) % BUCKETS


def _ipv4_bucket(src: int, dst: int) -> int:
    # symmetric in src/dst, then a multiplicative hash keeps the top bits (the split loop
    # inlines this: keep the two in step)
    mixed = ((src + dst) ^ (src * dst)) & 0xFFFFFFFF
    return (mixed * _GOLDEN & 0xFFFFFFFF) >> _SHIFT


_GOLDEN = 0x9E3779B1
_SHIFT = 32 - 10  # BUCKETS == 1 << 10
# an Ethernet frame's EtherType, IP version/IHL, IP protocol and IPv4 addresses, in one unpack
_ETH_IP4 = struct.Struct(">12xHB8xB2xII")


def frame_bucket(linktype: int, mm: mmap.mmap, base: int, end: int) -> int:
    """The host-pair bucket of the frame ``mm[base:end]``: a fast path for Ethernet IPv4
    (not ICMP, whose errors follow the packet they quote), ``host_pair`` for the rest."""
    if linktype == ETHERNET and end - base >= 34:
        etype, vihl, proto, src, dst = _ETH_IP4.unpack_from(mm, base)
        if etype == 0x0800 and vihl >> 4 == 4 and proto != 1:
            mixed = ((src + dst) ^ (src * dst)) & 0xFFFFFFFF
            bucket: int = (mixed * _GOLDEN & 0xFFFFFFFF) >> _SHIFT
            return bucket
    return pair_bucket(host_pair(linktype, mm, base, end))
