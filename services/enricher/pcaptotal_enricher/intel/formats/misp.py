"""MISP: event JSON (``{"Event": ...}``, REST ``{"response": [...]}``) and feed directories
(``manifest.json`` + ``<event-uuid>.json``).

Only ``to_ids: true`` attributes are detection indicators; the others are counted as skipped.
Pair types (``domain|ip``, ``ip-dst|port``, ``filename|sha256``, ``hostname|port``) yield their
indicator parts. Family: the first ``misp-galaxy:<cluster>="Name"`` tag of a malware-ish
cluster (attribute tags first, then event tags). Confidence: the event's ``threat_level_id``
(1 High, 2 Medium, 3 Low, 4 undefined → Medium).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pcaptotal_enricher.intel.formats.base import FeedContext, clean_tags, normalise_as
from pcaptotal_enricher.intel.limits import quote
from pcaptotal_enricher.intel.model import Confidence, Indicator, IndicatorType, Kind

_T = Kind
# attribute type → the indicator type of each '|'-separated part (None: not an indicator)
_PARTS: dict[str, tuple[IndicatorType | None, ...]] = {
    "ip-src": (_T.IPV4,),
    "ip-dst": (_T.IPV4,),
    "domain": (_T.DOMAIN,),
    "hostname": (_T.DOMAIN,),
    "url": (_T.URL,),
    "md5": (_T.MD5,),
    "sha1": (_T.SHA1,),
    "sha256": (_T.SHA256,),
    "ja3-fingerprint-md5": (_T.JA3,),
    "user-agent": (_T.USER_AGENT,),
    "x509-fingerprint-sha1": (_T.X509_SHA1,),
    "domain|ip": (_T.DOMAIN, _T.IPV4),
    "ip-dst|port": (_T.IPV4, None),
    "ip-src|port": (_T.IPV4, None),
    "hostname|port": (_T.DOMAIN, None),
    "filename|md5": (None, _T.MD5),
    "filename|sha1": (None, _T.SHA1),
    "filename|sha256": (None, _T.SHA256),
}
_UUID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")  # a file name in the feed directory
_LEVELS = {"1": Confidence.HIGH, "2": Confidence.MEDIUM, "3": Confidence.LOW}
_MALWARE_CLUSTERS = (
    "malpedia", "mitre-malware", "mitre-tool", "ransomware", "tool", "botnet", "rat",
    "banker", "stealer", "backdoor", "android", "exploit-kit", "malware",
)  # fmt: skip


def _tag_names(holder: dict[str, Any]) -> list[str]:
    return [str(t.get("name", "")) for t in holder.get("Tag") or [] if isinstance(t, dict)]


def _galaxy_family(tags: list[str]) -> str | None:
    for tag in tags:
        if tag.startswith("misp-galaxy:") and "=" in tag:
            cluster, _, name = tag[len("misp-galaxy:") :].partition("=")
            if cluster in _MALWARE_CLUSTERS:
                return name.strip().strip('"') or None
    return None


def _plain_tags(tags: list[str]) -> list[str]:
    """Tags worth putting on a flow: not TLP markings, not galaxies (those became the family)."""
    return [t for t in tags if not t.startswith(("tlp:", "misp-galaxy:"))]


def _attributes(event: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from event.get("Attribute") or []
    for obj in event.get("Object") or []:
        if isinstance(obj, dict):
            yield from obj.get("Attribute") or []


def parse_misp_event(
    event: dict[str, Any], feed: FeedContext, start: int = 0
) -> Iterator[Indicator]:
    """One ``Event`` object. ``start`` offsets the attribute ordinal used in error reports."""
    event_tags = _tag_names(event)
    confidence = _LEVELS.get(str(event.get("threat_level_id", "")), Confidence.MEDIUM)
    event_id = str(event.get("uuid", "?"))[:40]
    for index, attr in enumerate(_attributes(event), start + 1):
        if not isinstance(attr, dict):
            feed.stats.bad(index, f"event {event_id}: attribute is not an object")
            continue
        kind = str(attr.get("type", ""))[:40]
        if attr.get("deleted") in (True, "1"):
            feed.stats.skip("deleted attribute")
            continue
        if attr.get("to_ids") not in (True, "1", 1):
            feed.stats.skip("to_ids false")
            continue
        parts_types = _PARTS.get(kind)
        if parts_types is None:
            feed.stats.skip(f"unsupported attribute type {kind}")
            continue
        value = str(attr.get("value", ""))
        parts = value.split("|") if len(parts_types) > 1 else [value]
        if len(parts) != len(parts_types):
            feed.stats.bad(index, f"event {event_id}: {kind} value {value[:80]!r} is not a pair")
            continue
        attr_tags = _tag_names(attr)
        family = _galaxy_family(attr_tags) or _galaxy_family(event_tags)
        tags = clean_tags([*_plain_tags(event_tags), *_plain_tags(attr_tags)])
        for part, part_type in zip(parts, parts_types, strict=True):
            if part_type is None:
                continue
            typed = normalise_as(part_type, part)
            if typed is None:
                feed.stats.bad(index, f"event {event_id}: bad {kind} value {value[:80]!r}")
                break
            yield feed.indicator(typed[0], typed[1], family, tags, confidence)


def _events(doc: Any) -> list[Any]:
    if isinstance(doc, list):
        return [e for item in doc for e in _events(item)]
    if isinstance(doc, dict):
        if "Event" in doc:
            return [doc["Event"]]
        if "response" in doc:
            return _events(doc["response"])
    return []


def parse_misp_json(doc: Any, feed: FeedContext) -> Iterator[Indicator]:
    events = _events(doc)
    if not events:
        feed.stats.error = "no MISP Event in the document"
    seen = 0
    for event in events:
        if isinstance(event, dict):
            yield from parse_misp_event(event, feed, seen)
            seen += len(list(_attributes(event)))


def parse_misp_feed(
    directory: Path, feed: FeedContext, read: Callable[[Path], tuple[Any, str | None]]
) -> Iterator[Indicator]:
    """A MISP feed directory; an event named in the manifest but missing or broken is one
    malformed item (numbered by its position in the manifest), not a failed feed. ``read``
    decodes one JSON file within the feed limits: (document, None) or (None, why not)."""
    manifest, error = read(directory / "manifest.json")
    if error:
        feed.stats.error = f"manifest.json: {error}"
        return
    if not isinstance(manifest, dict):
        feed.stats.error = "manifest.json is not an object of event uuid → summary"
        return
    for number, uuid in enumerate(manifest, 1):
        if not _UUID.fullmatch(uuid):
            feed.stats.bad(number, f"manifest entry {quote(uuid)} is not an event uuid")
            continue
        doc, error = read(directory / f"{uuid}.json")
        if error:
            feed.stats.bad(number, f"event {uuid}: {error}")
            continue
        for event in _events(doc):
            if isinstance(event, dict):
                yield from parse_misp_event(event, feed)
