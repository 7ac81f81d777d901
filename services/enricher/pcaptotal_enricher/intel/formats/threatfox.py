"""abuse.ch ThreatFox: the CSV export (``", "`` separators, commented quoted header, trailing
``# Number of entries``) and the JSON export (``{"<ioc_id>": [{...}]}``).

Confidence comes from ``confidence_level`` (0-100, STIX scale). ``is_compromised`` = 1 marks a
hacked legitimate site: tagged ``compromised`` and capped at Medium.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pcaptotal_enricher.intel.formats.base import FeedContext, clean_tags, normalise_as, split_tags
from pcaptotal_enricher.intel.formats.csvfeed import parse_csv_feed
from pcaptotal_enricher.intel.model import (
    Confidence,
    Indicator,
    IndicatorType,
    Kind,
    confidence_from_score,
)
from pcaptotal_enricher.intel.normalize import normalise_ip

_T = Kind
_TYPES = {
    "domain": _T.DOMAIN,
    "url": _T.URL,
    "md5_hash": _T.MD5,
    "sha1_hash": _T.SHA1,
    "sha256_hash": _T.SHA256,
}


def _endpoint_ip(value: str) -> tuple[IndicatorType, str] | None:
    """``64.227.143.36:5555`` / ``[2001:db8::1]:443`` / ``2001:db8::1:443``: the address."""
    value = value.strip()
    if value.startswith("[") and "]" in value:
        return normalise_ip(value[1 : value.index("]")])
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit():
        ip = normalise_ip(host)
        if ip is not None:
            return ip
    return normalise_ip(value)


def _record(row: dict[str, Any], feed: FeedContext) -> list[Indicator] | str:
    ioc_type = str(row.get("ioc_type") or "").strip().lower()
    value = str(row.get("ioc_value") or "")
    if ioc_type == "ip:port":
        typed = _endpoint_ip(value)
    elif ioc_type in _TYPES:
        typed = normalise_as(_TYPES[ioc_type], value)
    else:
        feed.stats.skip(f"unsupported ioc_type {ioc_type or '(empty)'}")
        return []
    if typed is None:
        return f"bad {ioc_type} value {value[:80]!r}"
    family = str(row.get("malware_printable") or "").strip()
    if not family or family.lower().startswith("unknown"):
        family = ""
    tags = clean_tags([*split_tags(row.get("tags")), row.get("threat_type")])
    confidence = confidence_from_score(row.get("confidence_level"))
    if str(row.get("is_compromised") or "0").strip() == "1":
        tags = clean_tags([*tags, "compromised"])
        confidence = min(confidence, Confidence.MEDIUM, key=_RANK.__getitem__)
    return [feed.indicator(typed[0], typed[1], family or None, tags, confidence)]


_RANK = {Confidence.LOW: 0, Confidence.MEDIUM: 1, Confidence.HIGH: 2}


def parse_threatfox_csv(lines: Iterable[str], feed: FeedContext) -> Iterator[Indicator]:
    return parse_csv_feed(lines, feed, ("ioc_value", "ioc_type"), _record)


def parse_threatfox_json(doc: dict[str, Any], feed: FeedContext) -> Iterator[Indicator]:
    index = 0
    for records in doc.values():
        for record in records if isinstance(records, list) else [records]:
            index += 1
            if not isinstance(record, dict):
                feed.stats.bad(index, "record is not an object")
                continue
            tags = record.get("tags")
            if isinstance(tags, list):  # the JSON export has a list where the CSV has "a,b"
                record = {**record, "tags": ",".join(str(t) for t in tags)}
            result = _record(record, feed)
            if isinstance(result, str):
                feed.stats.bad(index, result)
            else:
                yield from result
