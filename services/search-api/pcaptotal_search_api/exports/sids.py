"""Stable Suricata ``sid``s: derived from the indicator, never stored.

Why derived and not a registry: the search-api runs as several stateless replicas. A registry
in the blob store would need an atomic compare-and-set the ``BlobStore`` port does not offer,
so two replicas could hand one sid to two indicators (or two sids to one). A pure function of
the indicator gives every replica, every call and every rule set the same answer with no I/O.

Scheme: ``sid = SID_BASE + int(sha256(f"{kind}\\0{value}\\0{probe}")[:8 bytes]) % SID_SPACE``
with ``probe = 0``. ``SID_BASE`` = 3,000,000,000 and ``SID_SPACE`` = 2**30 keep every sid in
3,000,000,000 .. 4,073,741,823: inside Suricata's 32-bit sid, clear of the local range
(1,000,000-1,999,999), Emerging Threats (2,000,000-2,999,999) and Suricata's own rules.

Collisions (two indicators of one rule set on one sid): the indicators are ordered by
``(kind, value)``; the first keeps its sid, each later one takes ``probe = 1, 2, ...`` until
the sid is free. So an indicator's sid is the same in every call unless another indicator that
hashes to the same sid enters or leaves the set; the chance for a given pair is 2**-30 (about
one pair in a set of 46,000 indicators). ``rev`` stays 1: the match part of a rule is a pure
function of (kind, value) too, only its message and metadata grow with the evidence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

SID_BASE = 3_000_000_000
SID_SPACE = 1 << 30


def sid_for(kind: str, value: str, probe: int = 0) -> int:
    digest = hashlib.sha256(f"{kind}\0{value}\0{probe}".encode()).digest()
    return SID_BASE + int.from_bytes(digest[:8], "big") % SID_SPACE


def assign_sids(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """A sid for every distinct ``(kind, value)``, by the collision rule of the module doc."""
    taken: set[int] = set()
    out: dict[tuple[str, str], int] = {}
    for kind, value in sorted(set(keys)):
        probe = 0
        sid = sid_for(kind, value)
        while sid in taken:
            probe += 1
            sid = sid_for(kind, value, probe)
        taken.add(sid)
        out[(kind, value)] = sid
    return out
