"""What every parser shares: the per-feed context (stats, metadata interning) and the
"normalise a value whose type the feed told us" helper."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pcaptotal_enricher.intel.model import (
    Confidence,
    FeedStats,
    Indicator,
    IndicatorMeta,
    IndicatorType,
    Kind,
)
from pcaptotal_enricher.intel.normalize import (
    normalise_domain,
    normalise_hash,
    normalise_ip,
    normalise_ua,
    normalise_url,
)

_T = Kind
_MetaKey = tuple[IndicatorType, str | None, tuple[str, ...], Confidence]


@dataclass(slots=True)
class FeedContext:
    """One feed being loaded. ``hash_kinds`` says what a bare 32-hex value is (see plain.py)."""

    name: str
    stats: FeedStats
    hash_kinds: tuple[IndicatorType, ...] | None = None
    _metas: dict[_MetaKey, IndicatorMeta] = field(default_factory=dict)

    def indicator(
        self,
        kind: IndicatorType,
        value: str,
        family: str | None = None,
        tags: tuple[str, ...] = (),
        confidence: Confidence = Confidence.MEDIUM,
    ) -> Indicator:
        key = (kind, family, tags, confidence)
        meta = self._metas.get(key)
        if meta is None:
            meta = self._metas[key] = IndicatorMeta(kind, self.name, family, tags, confidence)
        self.stats.took(kind)
        return Indicator(value, meta)


def clean_tags(values: Iterable[str | None]) -> tuple[str, ...]:
    """Stripped, non-empty, first occurrence kept, order kept."""
    seen: dict[str, None] = {}
    for value in values:
        if value:
            tag = value.strip()
            if tag and tag != "-":
                seen.setdefault(tag, None)
    return tuple(seen)


def split_tags(text: str | None) -> list[str]:
    return [] if not text else text.split(",")


def normalise_as(kind: IndicatorType, raw: str) -> tuple[IndicatorType, str] | None:
    """Normalise a value the feed already typed. IP kinds come back with the actual family
    (a MISP ``ip-dst`` may hold IPv6); None when the value does not fit the type."""
    if kind in (_T.IPV4, _T.IPV6):
        return normalise_ip(raw)
    if kind is _T.DOMAIN:
        domain = normalise_domain(raw)
        return None if domain is None else (kind, domain)
    if kind is _T.URL:
        url = normalise_url(raw)
        return None if url is None else (kind, url)
    if kind is _T.USER_AGENT:
        ua = normalise_ua(raw)
        return None if ua is None else (kind, ua)
    digest = normalise_hash(raw)
    if digest is None:
        return None
    hash_kind, value = digest
    expected = {_T.JA3: _T.MD5, _T.JA3S: _T.MD5, _T.X509_SHA1: _T.SHA1}.get(kind, kind)
    return (kind, value) if hash_kind is expected else None


def parse_csv_line(line: str) -> list[str]:
    """One CSV record; ``skipinitialspace`` also reads ThreatFox's ``", "`` separators.
    Raises ``csv.Error`` on a malformed record."""
    return next(csv.reader((line,), skipinitialspace=True), [])


def header_cells(line: str) -> list[str]:
    """Column names of a header line that may itself be a ``#`` comment (SSLBL, URLhaus)."""
    text = line.strip().lstrip("#").strip()
    try:
        return [cell.strip().lower() for cell in parse_csv_line(text)]
    except csv.Error:  # not a header (detection tries every early line)
        return []


def column(cells: Sequence[str], *names: str) -> int | None:
    for name in names:
        if name in cells:
            return cells.index(name)
    return None
