"""A STIX 2.1 bundle of a capture's observables, built and validated by ``stix2``.

* One ``indicator`` per STIX pattern: DNS names, SNI and HTTP hosts all become
  ``[domain-name:value = '...']`` (merged evidence); IPs ``ipv4-addr``/``ipv6-addr``; URLs
  ``url``; file hashes ``file:hashes.'SHA-256'`` (or SHA-1 / MD5). STIX has no JA3 object, so
  a JA3 is ``[network-traffic:extensions.'x-pcaptotal-tls'.ja3 = '...']`` (a custom ``x-``
  extension name, which ``stix2`` accepts).
* ``valid_from``/``created``/``modified`` = the capture's analysis time and ids are uuid5 of
  (capture id, pattern): exporting the same analysis twice gives the same bytes.
* ``malware`` objects (one per feed-named family, ids uuid5 of the name) with ``indicates``
  relationships; ``created_by_ref`` is the PcapTotal ``identity``.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import stix2

from pcaptotal_search_api.exports.observables import Kind, Observable, Tier, merge

MEDIA_TYPE = "application/stix+json;version=2.1"
NAMESPACE = uuid.UUID("5e0b6c1f-3f55-5c2a-9a51-2b8f1f1a7c11")  # PcapTotal's uuid5 namespace
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)  # creation time of the constant objects
IDENTITY = stix2.Identity(
    id=f"identity--{uuid.uuid5(NAMESPACE, 'identity:pcaptotal')}",
    name="PcapTotal",
    identity_class="system",
    description="Self-hosted pcap analysis service",
    created=_EPOCH,
    modified=_EPOCH,
)
_HASH_NAME = {Kind.SHA256: "'SHA-256'", Kind.SHA1: "'SHA-1'", Kind.MD5: "MD5"}
_DOMAIN_KINDS = {Kind.DNS: "DNS query", Kind.SNI: "TLS SNI", Kind.HTTP_HOST: "HTTP Host"}


def _quote(value: str) -> str:
    """A STIX pattern string literal: only ``\\`` and ``'`` need escaping."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pattern(o: Observable) -> str:
    if o.kind is Kind.IP:
        family = "ipv6-addr" if ipaddress.ip_address(o.value).version == 6 else "ipv4-addr"
        return f"[{family}:value = {_quote(o.value)}]"
    if o.kind in _DOMAIN_KINDS:
        return f"[domain-name:value = {_quote(o.value)}]"
    if o.kind is Kind.URL:
        return f"[url:value = {_quote(o.value)}]"
    if o.kind is Kind.JA3:
        return f"[network-traffic:extensions.'x-pcaptotal-tls'.ja3 = {_quote(o.value)}]"
    return f"[file:hashes.{_HASH_NAME[o.kind]} = {_quote(o.value)}]"


def _sid(kind: str, *parts: str) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, chr(0).join(parts))}"


def analysis_time(capture: Mapping[str, Any]) -> datetime:
    times = capture.get("status_times") or {}
    raw = times.get("done") or capture.get("updated") or capture.get("created")
    value = datetime.fromisoformat(str(raw)) if raw else _EPOCH
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _description(o: Observable, seen_as: list[str], capture: Mapping[str, Any]) -> str:
    parts = [
        f"Observed in PcapTotal capture {capture.get('id')} as {', '.join(seen_as)}",
        f"capture verdict {capture.get('verdict') or 'clean'}",
    ]
    if o.feeds:
        parts.append("listed by feed(s) " + ", ".join(o.feeds))
    if o.families:
        parts.append("malware family " + ", ".join(o.families))
    if o.findings:
        parts.append("heuristic findings " + ", ".join(o.findings))
    if o.kind is Kind.JA3:
        parts.append("a JA3 fingerprints client software and may be shared by benign clients")
    return "; ".join(parts) + "."


def _grouped(observables: Iterable[Observable]) -> dict[str, tuple[Observable, list[str]]]:
    """pattern -> (merged observable, the ways it was seen); DNS/SNI/Host merge by name."""
    out: dict[str, tuple[Observable, list[str]]] = {}
    for o in observables:
        p = pattern(o)
        seen = _DOMAIN_KINDS.get(o.kind, o.kind.value)
        if p not in out:
            out[p] = (o, [seen])
            continue
        first, ways = out[p]
        ways.append(seen)
        merged = merge(first, replace(o, kind=first.kind, value=first.value))
        out[p] = (merged, ways)
    return out


def bundle(capture: Mapping[str, Any], observables: Iterable[Observable]) -> stix2.Bundle:
    """The STIX bundle of one capture's observables (deterministic; see module doc)."""
    cid = str(capture.get("id"))
    when = analysis_time(capture)
    objects: list[Any] = [IDENTITY]
    malware: dict[str, stix2.Malware] = {}
    relationships: list[stix2.Relationship] = []
    for p, (o, ways) in sorted(_grouped(observables).items()):
        known = o.tier is Tier.KNOWN
        indicator = stix2.Indicator(
            id=_sid("indicator", cid, p),
            created=when,
            modified=when,
            valid_from=when,
            created_by_ref=IDENTITY.id,
            name=f"{o.value[:200]} ({'known' if known else 'likely'} bad)",
            description=_description(o, ways, capture),
            pattern=p,
            pattern_type="stix",
            indicator_types=["malicious-activity" if known else "anomalous-activity"],
            labels=["malicious-activity" if known else "anomalous-activity"],
            confidence=85 if known else 50 if o.severity in ("medium", "high") else 30,
        )
        objects.append(indicator)
        for family in o.families:
            if family not in malware:
                malware[family] = stix2.Malware(
                    id=_sid("malware", "malware", family.lower()),
                    created=_EPOCH,
                    modified=_EPOCH,
                    created_by_ref=IDENTITY.id,
                    name=family,
                    is_family=True,
                )
            relationships.append(
                stix2.Relationship(
                    id=_sid("relationship", indicator.id, malware[family].id),
                    created=when,
                    modified=when,
                    created_by_ref=IDENTITY.id,
                    relationship_type="indicates",
                    source_ref=indicator.id,
                    target_ref=malware[family].id,
                )
            )
    objects += sorted(malware.values(), key=lambda m: m.name) + relationships
    return stix2.Bundle(objects=objects, id=_sid("bundle", "bundle", cid, when.isoformat()))
