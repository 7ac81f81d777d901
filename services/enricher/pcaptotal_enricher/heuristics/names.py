"""Domain-name helpers shared by the DNS heuristics.

Registered domains come from the Public Suffix List that ``publicsuffixlist`` ships (ICANN
section only, so ``d1.cloudfront.net`` stays under ``cloudfront.net``); nothing is downloaded.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager

from pcaptotal.memory import capture_cache
from publicsuffixlist import PublicSuffixList

from pcaptotal_enricher.heuristics.util import FlowDoc, is_ip_literal, strip_port, strs

_LOCAL_TLDS = {"local", "arpa", "lan", "home", "internal", "localdomain", "corp", "intranet"}
_CONSONANTS = re.compile(r"[bcdfghjklmnpqrstvwxz]+")
_VALID = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)+$")


# Memos of the names of the capture at hand (every name heuristic normalises the same names),
# emptied after each capture by ``release_memory``: kept, they pin a finished capture's memory.
@capture_cache(maxsize=65536)
def normalise(name: str) -> str | None:
    """Lower-case, no trailing dot or port; None for IP literals, single labels, local names."""
    n = strip_port(name)
    if not n or is_ip_literal(n) or not _VALID.match(n):
        return None
    if n.rsplit(".", 1)[-1] in _LOCAL_TLDS:
        return None
    return n


@capture_cache(maxsize=65536)
def registered_domain(name: str) -> str:
    """``a.b.example.co.uk`` → ``example.co.uk``; ``x.example.com`` → ``example.com``."""
    # a public suffix itself (``co.uk``) or a malformed name has none: the name stands for it
    return _suffixes().privatesuffix(name) or name


@functools.cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList(only_icann=True)  # parses the bundled list once (~0.1 s)


def longest_consonant_run(label: str) -> int:
    return max((len(m) for m in _CONSONANTS.findall(label)), default=0)


def digit_ratio(label: str) -> float:
    return sum(c.isdigit() for c in label) / len(label) if label else 0.0


def digit_switches(label: str) -> int:
    """How often the label switches between letters and digits (``a1b2`` → 3)."""
    kinds = [c.isdigit() for c in label if c.isalnum()]
    return sum(a != b for a, b in itertools.pairwise(kinds))


# Within ``remembered_names()``: each flow's names, worked out once (five heuristics ask for
# them, ~8 calls per flow). Keyed by id() and checked by identity, so a flow that is freed and
# whose id is reused is never mistaken for it; the heuristics read flows, never write them.
_remembered: dict[tuple[int, bool], tuple[FlowDoc, tuple[str, ...]]] | None = None


@contextmanager
def remembered_names() -> Iterator[None]:
    global _remembered
    _remembered = {}
    try:
        yield
    finally:
        _remembered = None


def flow_names(flow: FlowDoc, *, dns_only: bool = False) -> Iterator[str]:
    """Normalised names a flow asked for: DNS questions (and HTTP Host, TLS SNI)."""
    memo = _remembered
    if memo is None:
        return _flow_names(flow, dns_only)
    key = (id(flow), dns_only)
    hit = memo.get(key)
    if hit is None or hit[0] is not flow:
        hit = memo[key] = (flow, tuple(_flow_names(flow, dns_only)))
    return iter(hit[1])


def _flow_names(flow: FlowDoc, dns_only: bool) -> Iterator[str]:
    fields = ["dns.question.name"]
    if not dns_only:
        fields += ["url.domain", "tls.client.server_name"]
    seen: set[str] = set()
    for field in fields:
        for raw in strs(flow, field):
            n = normalise(raw)
            if n and n not in seen:
                seen.add(n)
                yield n


def under(name: str, suffix: str) -> bool:
    return name == suffix or name.endswith("." + suffix)
