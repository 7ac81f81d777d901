"""Zeek intel framework TSV (``#fields indicator indicator_type meta.source ...``).

Intel::URL values have no scheme (Zeek sees ``host/path``); they are read as ``http://``.
Intel::SOFTWARE is what Zeek matches against HTTP User-Agent headers, so it becomes a
user-agent indicator. Intel::USER_AGENT and Intel::JA3 (used by some exporters) are read too;
EMAIL, FILE_NAME, USER_NAME, PUBKEY_HASH have no flow field to match and are skipped.
``meta.source`` becomes a tag; confidence Medium (the format has none).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pcaptotal_enricher.intel.formats.base import FeedContext, clean_tags, normalise_as
from pcaptotal_enricher.intel.model import Indicator, IndicatorType, Kind
from pcaptotal_enricher.intel.normalize import normalise_hash, normalise_ip

_T = Kind
_TYPES = {
    "Intel::DOMAIN": _T.DOMAIN,
    "Intel::URL": _T.URL,
    "Intel::CERT_HASH": _T.X509_SHA1,
    "Intel::SOFTWARE": _T.USER_AGENT,
    "Intel::USER_AGENT": _T.USER_AGENT,
    "Intel::JA3": _T.JA3,
}
_UNMATCHABLE = {"Intel::EMAIL", "Intel::FILE_NAME", "Intel::USER_NAME", "Intel::PUBKEY_HASH"}


def _typed(kind: str, value: str) -> tuple[IndicatorType, str] | str | None:
    if kind in ("Intel::ADDR", "Intel::SUBNET"):
        ip = normalise_ip(value)
        if ip is not None and ("/" in value) != (kind == "Intel::SUBNET"):
            return None  # an ADDR with a prefix, or a SUBNET without one
        return ip
    if kind == "Intel::FILE_HASH":
        return normalise_hash(value)
    if kind in _TYPES:
        return normalise_as(_TYPES[kind], value)
    return "unmatchable" if kind in _UNMATCHABLE else "unknown"


def parse_zeek(lines: Iterable[str], feed: FeedContext) -> Iterator[Indicator]:
    columns: list[str] | None = None
    for number, line in enumerate(lines, 1):
        text = line.rstrip("\r\n")
        if text.startswith("#fields"):
            columns = text.split("\t")[1:]
            continue
        if not text.strip() or text.startswith("#"):
            continue
        if columns is None:
            feed.stats.bad(number, "record before the #fields line")
            continue
        cells = text.split("\t")
        if len(cells) != len(columns):
            feed.stats.bad(number, f"expected {len(columns)} fields, got {len(cells)}")
            continue
        row = {k: ("" if v == "-" else v) for k, v in zip(columns, cells, strict=True)}
        kind = row.get("indicator_type", "")[:40]
        typed = _typed(kind, row.get("indicator", ""))
        if typed == "unmatchable":
            feed.stats.skip(f"{kind} has no flow field to match")
        elif typed == "unknown":
            feed.stats.skip(f"unsupported indicator_type {kind or '(empty)'}")
        elif typed is None or isinstance(typed, str):
            feed.stats.bad(number, f"bad {kind} value {row.get('indicator', '')[:80]!r}")
        else:
            tags = clean_tags([row.get("meta.source")])
            yield feed.indicator(typed[0], typed[1], None, tags)
    if columns is None:
        feed.stats.error = "no #fields line"
