"""All loaded indicators, indexed for constant-time lookups.

Layout (chosen for a million indicators in a few hundred MB and ~µs lookups):
- single addresses: ``dict[int, group]`` per IP version (ints are smaller than strings);
- networks: one ``pytricia`` prefix tree per IP version (longest match, then ``parent`` for the
  enclosing networks — every feed's network that contains the address is a hit);
- everything else: ``dict[str, group]`` per indicator type, keyed by the normalised value;
  domains also answer "subdomain of" by walking the queried name's label suffixes.
A *group* is the tuple of ``IndicatorMeta`` of every feed entry with that value. Groups are
interned (and loaders intern metas), so a million entries of one feed share one group object.
The set is built once and then only read (the FeedStore swaps whole sets), so readers need no
lock.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from pathlib import Path
from socket import AF_INET, inet_pton
from typing import Any

import pytricia
import structlog

from pcaptotal_enricher.intel.limits import DEFAULT_LIMITS, FeedLimits, size_text
from pcaptotal_enricher.intel.load import iter_feed
from pcaptotal_enricher.intel.matching import Hit, match_flow
from pcaptotal_enricher.intel.model import (
    FeedStats,
    Group,
    Indicator,
    IndicatorMeta,
    IndicatorType,
    Kind,
)
from pcaptotal_enricher.intel.normalize import parse_ip

log = structlog.get_logger(__name__)
_T = Kind
_MISS: list[tuple[str, Group]] = []  # shared empty result; callers never mutate it
_DOMAIN = IndicatorType.DOMAIN.value
_EXACT_TYPES = tuple(t for t in IndicatorType if t not in (_T.IPV4, _T.IPV6))


class IndicatorSet:
    def __init__(self) -> None:
        self._ips: dict[int, dict[int, Group]] = {4: {}, 6: {}}
        self._nets: dict[int, Any] = {4: pytricia.PyTricia(32), 6: pytricia.PyTricia(128)}
        self._has_nets = {4: False, 6: False}
        # Keyed by the plain-str type value: hashing a StrEnum member runs Python code.
        self._exact: dict[str, dict[str, Group]] = {t.value: {} for t in _EXACT_TYPES}
        self._singles: dict[int, Group] = {}
        self._extended: dict[tuple[int, int], tuple[Group, Group]] = {}
        self._joined: dict[tuple[int, int], tuple[Group, Group, Group]] = {}
        self.feeds: dict[str, FeedStats] = {}
        self._active: frozenset[str] | None = None

    # -- building -------------------------------------------------------------------------

    def _grouped(self, old: Group | None, meta: IndicatorMeta) -> Group:
        """``old`` plus ``meta``, interned. Keyed by object ids (int hashing is cheap; hashing
        a dataclass is not): the values keep the keyed objects alive, so ids stay unique."""
        if old is None:
            single = self._singles.get(id(meta))
            if single is None:
                single = self._singles[id(meta)] = (meta,)
            return single
        if meta in old:
            return old  # the same entry listed twice
        key = (id(old), id(meta))
        extended = self._extended.get(key)
        if extended is None:
            extended = self._extended[key] = (old, (*old, meta))
        return extended[1]

    def add(self, indicator: Indicator) -> None:
        meta, value = indicator.meta, indicator.value
        self._active = None
        if meta.type in (_T.IPV4, _T.IPV6):
            version = 4 if meta.type is _T.IPV4 else 6
            if "/" in value:
                tree = self._nets[version]
                # has_key is exact; ``in`` and ``get`` are longest-prefix matches in pytricia
                tree[value] = self._grouped(tree[value] if tree.has_key(value) else None, meta)
                self._has_nets[version] = True
                return
            parsed = parse_ip(value)
            if parsed is None:  # loaders normalise; a bad value here is a programming error
                raise ValueError(f"not a canonical address: {value!r}")
            table = self._ips[parsed[0]]
            table[parsed[1]] = self._grouped(table.get(parsed[1]), meta)
            return
        table_s = self._exact[meta.type]
        table_s[value] = self._grouped(table_s.get(value), meta)

    @classmethod
    def merge(cls, parts: Sequence[IndicatorSet]) -> IndicatorSet:
        """One set answering for all ``parts`` (each typically one feed's set), without
        re-reading any feed: groups are shared with the parts, only the tables are new. A single
        part is returned as is (sets are never mutated once built)."""
        if len(parts) == 1:
            return parts[0]
        merged = cls()
        for part in parts:
            merged.feeds.update(part.feeds)
            for version in (4, 6):
                merged._merge_table(merged._ips[version], part._ips[version])
                if part._has_nets[version]:
                    tree, into = part._nets[version], merged._nets[version]
                    for prefix in tree:
                        group = tree[prefix]
                        old = into[prefix] if into.has_key(prefix) else None
                        into[prefix] = group if old is None else merged._join(old, group)
                    merged._has_nets[version] = True
            for kind, table in part._exact.items():
                merged._merge_table(merged._exact[kind], table)
        return merged

    def _merge_table(self, into: dict[Any, Group], table: dict[Any, Group]) -> None:
        if not into:
            into.update(table)  # the common case: no overlap to resolve, a C-speed copy
            return
        for key, group in table.items():
            old = into.get(key)
            into[key] = group if old is None else self._join(old, group)

    def _join(self, old: Group, more: Group) -> Group:
        """``old + more``, interned by object ids like ``_grouped`` (the cache keeps both)."""
        key = (id(old), id(more))
        joined = self._joined.get(key)
        if joined is None:
            joined = self._joined[key] = (old, more, (*old, *more))
        return joined[2]

    def add_all(self, indicators: Iterable[Indicator]) -> None:
        for indicator in indicators:
            self.add(indicator)

    def add_feed(
        self,
        path: Path,
        name: str | None = None,
        hash_kinds: tuple[IndicatorType, ...] | None = None,
    ) -> FeedStats:
        """Load one feed file/directory into the set; its report is kept in ``feeds``."""
        stats = FeedStats(name or path.name)
        self.add_all(iter_feed(path, stats, hash_kinds))
        self.feeds[stats.name] = stats
        return stats

    # -- lookups (hot path) -----------------------------------------------------------------

    def __len__(self) -> int:
        nets = sum(len(tree) for tree in self._nets.values())
        return nets + sum(map(len, self._ips.values())) + sum(map(len, self._exact.values()))

    def lookup_ip(self, text: str) -> list[tuple[str, Group]] | None:
        """The address itself and every listed network containing it (empty on a miss; None
        if ``text`` is not an address)."""
        if ":" not in text:  # parse_ip's IPv4 branch, inlined: this runs twice per flow
            try:
                version, number = 4, int.from_bytes(inet_pton(AF_INET, text), "big")
            except (OSError, ValueError):
                return None
        else:
            parsed = parse_ip(text)
            if parsed is None:
                return None
            version, number = parsed
        group = self._ips[version].get(number)
        found = _MISS if group is None else [(_ip_text(version, number), group)]
        if self._has_nets[version]:
            tree = self._nets[version]
            # pytricia parses the text itself (faster than formatting the int back) unless
            # the address was rewritten: a zone id or an IPv4-mapped IPv6 address.
            plain = "%" not in text and (version == 6 or ":" not in text)
            key = tree.get_key(text if plain else _ip_text(version, number))
            while key is not None:
                found = [*found, (key, tree[key])]
                key = tree.parent(key)
        return found

    def lookup_domain(self, name: str) -> list[tuple[str, Group]]:
        """The name and each parent domain: a.b.evil.com → a.b.evil.com, b.evil.com, evil.com."""
        table = self._exact[_DOMAIN]
        if not table:
            return _MISS
        name = name.lower().rstrip(".")
        found = _MISS
        start = 0
        while True:
            suffix = name[start:] if start else name
            group = table.get(suffix)
            if group is not None:
                found = [*found, (suffix, group)]
            start = name.find(".", start) + 1
            if start == 0 or name.find(".", start) < 0:
                return found  # no dot left: a bare TLD is never an indicator

    def lookup(self, kind: str, value: str) -> Group | None:
        """Exact lookup; ``kind`` is an ``IndicatorType`` or its plain-str value."""
        return self._exact[kind].get(value)

    def active(self) -> frozenset[str]:
        """Values of the indicator types present (cached, plain str for fast membership tests:
        the hot path skips fields nothing can match)."""
        if self._active is None:
            kinds = {t for t, table in self._exact.items() if table}
            if self._ips[4] or self._has_nets[4]:
                kinds.add(_T.IPV4.value)
            if self._ips[6] or self._has_nets[6]:
                kinds.add(_T.IPV6.value)
            self._active = frozenset(kinds)
        return self._active

    def match_flow(self, flow: dict[str, Any]) -> list[Hit]:
        """Every indicator the flow touches (see ``matching.match_flow``)."""
        return match_flow(self, flow)


def _ip_text(version: int, number: int) -> str:
    if version == 4:
        return f"{number >> 24}.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255}"
    return str(ipaddress.IPv6Address(number))


def load_feed(
    path: Path, name: str, limits: FeedLimits = DEFAULT_LIMITS
) -> tuple[IndicatorSet, FeedStats]:
    """One feed's own set and report. Never raises for what the file holds: a feed that cannot
    be loaded, or yields no indicators, has ``stats.error`` set and an empty set."""
    indicators, stats = IndicatorSet(), FeedStats(name)
    try:
        size = path.stat().st_size if path.is_file() else 0  # a MISP dir: per-file limits
        if size > limits.max_feed_bytes:
            stats.error = (
                f"feed of {size_text(size)} is over the {size_text(limits.max_feed_bytes)} limit"
            )
        else:
            indicators.add_all(iter_feed(path, stats, limits=limits))
    except OSError as exc:
        stats.error = f"cannot read: {exc.strerror or type(exc).__name__}"
    except Exception as exc:  # a loader bug on hostile input fails this feed, not the store
        log.warning("intel feed loader failed", feed=name, exc_info=exc)
        stats.error = f"the loader failed on this feed ({type(exc).__name__})"
    if stats.error is None and stats.indicators == 0:
        skipped = sum(stats.skipped.values())
        stats.error = (
            f"the feed yields no indicators ({stats.malformed} malformed, {skipped} skipped)"
        )
    if stats.error is not None:  # all or nothing: a failed feed contributes no indicators
        indicators, stats.indicators, stats.by_type = IndicatorSet(), 0, {}
    indicators.feeds[name] = stats
    return indicators, stats


def build_indicator_set(
    feeds: Iterable[tuple[str, Path]],
) -> IndicatorSet:
    """A fresh set from ``(name, path)`` feeds; each feed's report is in ``.feeds``."""
    indicators = IndicatorSet()
    for name, path in feeds:
        indicators.add_feed(path, name)
    return indicators
