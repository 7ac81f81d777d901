"""abuse.ch feeds: URLhaus CSV, Feodo Tracker CSV/JSON, SSLBL JA3 / certificate / IP CSVs.

Confidence defaults (these publishers curate their lists): Feodo and SSLBL High; URLhaus High
for ``online`` URLs, Medium otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pcaptotal_enricher.intel.formats.base import FeedContext, clean_tags, normalise_as, split_tags
from pcaptotal_enricher.intel.formats.csvfeed import RowBuilder, first, parse_csv_feed
from pcaptotal_enricher.intel.limits import quote
from pcaptotal_enricher.intel.model import Confidence, Indicator, IndicatorType, Kind
from pcaptotal_enricher.intel.normalize import normalise_ip, normalise_url

_T = Kind
_HIGH = Confidence.HIGH


def _urlhaus_row(row: dict[str, str], feed: FeedContext) -> list[Indicator] | str:
    url = normalise_url(row["url"])
    if url is None:
        return f"unparseable URL {row['url'][:80]!r}"
    tags = clean_tags([*split_tags(row.get("tags")), row.get("threat")])
    online = row.get("url_status", "").strip().lower() == "online"
    return [feed.indicator(_T.URL, url, None, tags, _HIGH if online else Confidence.MEDIUM)]


def parse_urlhaus(lines: Iterable[str], feed: FeedContext) -> Iterator[Indicator]:
    return parse_csv_feed(lines, feed, ("url",), _urlhaus_row)


def _c2_ip_row(row: dict[str, str], feed: FeedContext) -> list[Indicator] | str:
    raw = first(row, "dst_ip", "dstip")
    ip = normalise_ip(raw)
    if ip is None:
        return f"not an IP address: {raw[:80]!r}"
    family = first(row, "malware") or None
    return [feed.indicator(ip[0], ip[1], family, ("c2",), _HIGH)]


def parse_feodo_csv(lines: Iterable[str], feed: FeedContext) -> Iterator[Indicator]:
    """Feodo ``ipblocklist.csv`` (both header styles) and SSLBL ``sslipblacklist.csv``."""
    return parse_csv_feed(lines, feed, ("dst_ip|dstip",), _c2_ip_row)


def parse_feodo_json(doc: list[Any], feed: FeedContext) -> Iterator[Indicator]:
    for index, item in enumerate(doc, 1):
        raw = item.get("ip_address") if isinstance(item, dict) else None
        ip = normalise_ip(str(raw)) if raw else None
        if ip is None:
            feed.stats.bad(index, f"item without a valid ip_address: {quote(str(raw))}")
            continue
        family = str(item.get("malware") or "").strip() or None
        yield feed.indicator(ip[0], ip[1], family, ("c2",), _HIGH)


def family_from_reason(reason: str) -> tuple[str | None, tuple[str, ...]]:
    """SSLBL listing reasons: ``Dridex``, ``Tofsee C&C``, ``TrickBot malware C&C``."""
    text = reason.strip()
    tags: tuple[str, ...] = ()
    if text.endswith("C&C"):
        text, tags = text[:-3].strip(), ("c2",)
    if text.lower().endswith(" malware"):
        text = text[: -len(" malware")].strip()
    return (text if text and text.lower() != "malware" else None), tags


def _sslbl_row(kind: IndicatorType, col: str) -> RowBuilder:
    def build(row: dict[str, str], feed: FeedContext) -> list[Indicator] | str:
        typed = normalise_as(kind, row[col])
        if typed is None:
            return f"not a {kind.value}: {row[col][:80]!r}"
        family, tags = family_from_reason(row.get("listingreason", ""))
        return [feed.indicator(kind, typed[1], family, tags, _HIGH)]

    return build


def parse_sslbl_ja3(lines: Iterable[str], feed: FeedContext) -> Iterator[Indicator]:
    return parse_csv_feed(lines, feed, ("ja3_md5",), _sslbl_row(_T.JA3, "ja3_md5"))


def parse_sslbl_certs(lines: Iterable[str], feed: FeedContext) -> Iterator[Indicator]:
    return parse_csv_feed(lines, feed, ("sha1",), _sslbl_row(_T.X509_SHA1, "sha1"))
