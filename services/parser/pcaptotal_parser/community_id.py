"""Community ID v1 flow hashes (https://github.com/corelight/community-id-spec).

``1:`` + base64(sha1(seed · saddr · daddr · proto · 0 · sport · dport)) with the endpoints in
canonical order (smaller address first, then smaller port), so both directions of a flow hash
alike. ICMP/ICMPv6 use the message type as source "port" and the paired type (echo request ↔
reply, ...) as destination "port", as Zeek does; unpaired types are one-way (no reordering, the
code as destination port). Protocols without ports hash the addresses and protocol only.
The spec authors' ``communityid`` package is the test oracle; this is ~40 lines and cached.
"""

from __future__ import annotations

import base64
import hashlib
import socket

from pcaptotal.memory import capture_cache

ICMP = 1
ICMP6 = 58

_ICMP_PAIRS = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
_ICMP6_PAIRS = {
    128: 129, 129: 128, 130: 131, 131: 130, 133: 134, 134: 133, 135: 136, 136: 135,
    139: 140, 140: 139, 144: 145, 145: 144,
}  # fmt: skip


def icmp_ports(proto: int, icmp_type: int, icmp_code: int) -> tuple[int, int, bool]:
    """(source "port", destination "port", one_way) for an ICMP/ICMPv6 type and code."""
    pairs = _ICMP_PAIRS if proto == ICMP else _ICMP6_PAIRS
    other = pairs.get(icmp_type)
    if other is None:
        return icmp_type, icmp_code, True
    return icmp_type, other, False


# per capture (pcaptotal.memory): kept across captures, its entries pinned the arenas the
# capture's flows had filled (a parse of a 200 MB capture kept 309 MB instead of 175 MB)
@capture_cache(maxsize=65536)
def community_id(
    proto: int,
    saddr: str,
    daddr: str,
    sport: int | None = None,
    dport: int | None = None,
    *,
    one_way: bool = False,
    seed: int = 0,
    base64_encoded: bool = True,
) -> str | None:
    """The Community ID of a flow tuple; ``None`` when an address does not parse.

    For ICMP pass the type and code as ``sport``/``dport``: the mapping happens here.
    """
    src, dst = _packed(saddr), _packed(daddr)
    if src is None or dst is None:
        return None
    if proto in (ICMP, ICMP6) and sport is not None and dport is not None and not one_way:
        sport, dport, one_way = icmp_ports(proto, sport, dport)
    has_ports = sport is not None and dport is not None
    if not one_way:
        flip = src > dst or (src == dst and has_ports and (sport or 0) > (dport or 0))
        if flip:
            src, dst, sport, dport = dst, src, dport, sport
    data = seed.to_bytes(2, "big") + src + dst + bytes((proto & 0xFF, 0))
    if has_ports:
        data += (sport or 0).to_bytes(2, "big") + (dport or 0).to_bytes(2, "big")
    digest = hashlib.sha1(data, usedforsecurity=False).digest()
    if not base64_encoded:
        return "1:" + digest.hex()
    return "1:" + base64.b64encode(digest).decode("ascii")


def _packed(address: str) -> bytes | None:
    # inet_pton (C) instead of ipaddress (~13 us an address in Python): as strict (no
    # leading zeros, four parts), and tshark gives addresses without scope ids
    try:
        return socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET, address)
    except OSError:
        return None
