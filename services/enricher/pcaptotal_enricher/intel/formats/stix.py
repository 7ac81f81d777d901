"""STIX 2.1 bundles: indicators with single-comparison patterns, parsed with ``stix2`` (object
validation) and ``stix2-patterns`` (pattern structure).

Taken: one comparison, ``=`` (or ``ISSUBSET`` for an IP network), on ipv4-addr / ipv6-addr /
domain-name / url ``:value``, ``file:hashes.*``, ``x509-certificate:hashes.'SHA-1'`` or an
HTTP User-Agent header. Everything else is counted under ``skipped`` by reason — compound
patterns (AND / OR / FOLLOWEDBY, several comparisons), other operators, other object paths,
revoked or expired indicators, non-STIX pattern types. Malware family comes from ``indicates``
relationships to ``malware`` objects in the same bundle; confidence from the 0-100
``confidence`` property (default Medium). Each indicator costs ~1 ms (two ANTLR parses).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import stix2
from stix2patterns.v21.pattern import Pattern

from pcaptotal_enricher.intel.formats.base import FeedContext, clean_tags, normalise_as
from pcaptotal_enricher.intel.model import Indicator, IndicatorType, Kind, confidence_from_score

_T = Kind
_HASHES = {
    "sha-256": _T.SHA256,
    "sha256": _T.SHA256,
    "md5": _T.MD5,
    "sha-1": _T.SHA1,
    "sha1": _T.SHA1,
}
_UA_PATH = ("extensions", "http-request-ext", "request_header", "user-agent")


def _kind(object_type: str, path: list[Any]) -> IndicatorType | None:
    steps = tuple(str(step).lower() for step in path)
    if steps == ("value",):
        return {
            "ipv4-addr": _T.IPV4,
            "ipv6-addr": _T.IPV6,
            "domain-name": _T.DOMAIN,
            "url": _T.URL,
        }.get(object_type)
    if len(steps) == 2 and steps[0] == "hashes":
        if object_type == "file":
            return _HASHES.get(steps[1])
        if object_type == "x509-certificate" and _HASHES.get(steps[1]) is _T.SHA1:
            return _T.X509_SHA1
    if object_type == "network-traffic" and steps == _UA_PATH:
        return _T.USER_AGENT
    return None


def _literal(text: str) -> str:
    """A pattern string literal ``'a\\'b'`` → ``a'b`` (the only escapes are \\' and \\\\)."""
    body = text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text
    return body.replace("\\'", "'").replace("\\\\", "\\")


def _families(objects: list[Any]) -> dict[str, list[str]]:
    """indicator id → names of the malware it ``indicates``."""
    names = {
        o.get("id"): o.get("name")
        for o in objects
        if isinstance(o, dict) and o.get("type") == "malware" and o.get("name")
    }
    out: dict[str, list[str]] = {}
    for o in objects:
        if (
            isinstance(o, dict)
            and o.get("type") == "relationship"
            and o.get("relationship_type") == "indicates"
            and o.get("target_ref") in names
        ):
            out.setdefault(str(o.get("source_ref")), []).append(str(names[o["target_ref"]]))
    return out


def _single_comparison(pattern: str, feed: FeedContext) -> tuple[IndicatorType, str] | None:
    data = Pattern(pattern).inspect()
    comparisons = [(t, c) for t, cs in data.comparisons.items() for c in cs]
    if data.observation_ops or len(comparisons) != 1:
        feed.stats.skip("compound pattern")
        return None
    object_type, (path, operator, literal) = comparisons[0]
    kind = _kind(object_type, path)
    if kind is None:
        steps = ".".join(str(p) for p in path)
        feed.stats.skip(f"unsupported object path {object_type}:{steps}")
        return None
    if operator != "=" and not (operator == "ISSUBSET" and kind in (_T.IPV4, _T.IPV6)):
        feed.stats.skip(f"unsupported operator {operator}")
        return None
    typed = normalise_as(kind, _literal(literal))
    if typed is None:
        raise ValueError(f"bad {kind.value} value {literal[:80]}")
    return typed


def parse_stix(doc: Any, feed: FeedContext) -> Iterator[Indicator]:
    if isinstance(doc, dict):
        objects = doc.get("objects", []) if doc.get("type") == "bundle" else [doc]
    else:
        objects = doc
    if not isinstance(objects, list):
        feed.stats.error = "bundle 'objects' is not a list"
        return
    families = _families(objects)
    now = datetime.now(UTC)
    for index, raw in enumerate(objects, 1):
        if not isinstance(raw, dict) or raw.get("type") != "indicator":
            continue
        try:
            obj = stix2.parse(raw, allow_custom=True, version="2.1")
            if obj.get("pattern_type") != "stix":
                feed.stats.skip(f"pattern_type {str(obj.get('pattern_type'))[:40]}")
                continue
            if obj.get("revoked"):
                feed.stats.skip("revoked")
                continue
            valid_until = obj.get("valid_until")
            if valid_until is not None and valid_until <= now:
                feed.stats.skip("expired (valid_until passed)")
                continue
            typed = _single_comparison(obj["pattern"], feed)
        except Exception as exc:  # stix2 raises a dozen exception types; any is one bad object
            reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            feed.stats.bad(index, f"{str(raw.get('id', 'indicator'))[:80]}: {reason}")
            continue
        if typed is None:
            continue
        names = families.get(str(raw.get("id")), [])
        tags = clean_tags([*obj.get("indicator_types", []), *obj.get("labels", []), *names[1:]])
        confidence = confidence_from_score(obj.get("confidence"))
        yield feed.indicator(typed[0], typed[1], names[0] if names else None, tags, confidence)
