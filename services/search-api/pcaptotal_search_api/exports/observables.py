"""Which values of an analysed capture are indicators, how sure we are, and the evidence.

A flow contributes when a feed named something on it (``threat.*``) or when its verdict is not
clean and a heuristic finding cites it. Its values then become ``Observable``s:

* destination IP (public addresses only; not for DNS-only flows, whose destination is a
  resolver), DNS question names, TLS SNI, HTTP hosts (IP literals are left to the IP), URLs
  (``http://host[:port]/uri``), client JA3 and carved-file hashes (SHA-256, else SHA-1, else MD5).
* When a flow carries several values of one kind (keep-alive HTTP, a resolver 5-tuple with many
  queries), only the values its evidence cites are kept (a feed hit's value, or a value quoted
  by a finding); if none is cited, all are.
* Scan findings (``port-scan``, ``host-sweep``) are victim-side: the flows they cite point AT
  the scanned hosts, so they never make those hosts indicators.

Tiers: ``known`` = a feed hit on the flow, or a malicious flow verdict backed by at least one
medium/high finding; ``likely`` = the rest (heuristics only). A JA3 names client software, not
infrastructure: it is ``known`` only when a feed listed the JA3 itself.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pcaptotal.fields import values_of


class Kind(StrEnum):
    """Where a value was seen; one Suricata rule shape per kind."""

    IP = "ip"
    DNS = "dns"
    SNI = "sni"
    HTTP_HOST = "http-host"
    URL = "url"
    JA3 = "ja3"
    SHA256 = "sha256"
    SHA1 = "sha1"
    MD5 = "md5"


class Tier(StrEnum):
    KNOWN = "known"
    LIKELY = "likely"


KIND_ORDER = {k: i for i, k in enumerate(Kind)}
SEVERITY_RANK = {"": 0, "low": 1, "medium": 2, "high": 3}
VICTIM_SIDE_FINDINGS = frozenset({"port-scan", "host-sweep"})
_LOCAL_SUFFIXES = (".arpa", ".local", ".localdomain", ".lan", ".internal", ".home")
_MAX_VALUES_PER_KIND = 20  # per flow: a noisy flow must not flood the rule set


@dataclass(frozen=True, slots=True)
class Observable:
    kind: Kind
    value: str
    tier: Tier
    severity: str = ""  # strongest (non victim-side) finding severity behind it
    feeds: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    findings: tuple[str, ...] = ()
    verdicts: tuple[str, ...] = ()  # of the captures it was seen in
    captures: tuple[str, ...] = ()
    flows: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind.value, self.value)


def _union(a: Iterable[str], b: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({*a, *b}))


def merge(a: Observable, b: Observable) -> Observable:
    """One observable from two sightings of the same (kind, value): the stronger tier wins."""
    assert a.key == b.key
    tier = Tier.KNOWN if Tier.KNOWN in (a.tier, b.tier) else Tier.LIKELY
    return Observable(
        kind=a.kind,
        value=a.value,
        tier=tier,
        severity=max(a.severity, b.severity, key=SEVERITY_RANK.__getitem__),
        feeds=_union(a.feeds, b.feeds),
        families=_union(a.families, b.families),
        findings=_union(a.findings, b.findings),
        verdicts=_union(a.verdicts, b.verdicts),
        captures=_union(a.captures, b.captures),
        flows=a.flows + b.flows,
    )


def merge_all(observables: Iterable[Observable]) -> list[Observable]:
    """Deduplicate by (kind, value), ordered known first, then by kind and value."""
    out: dict[tuple[str, str], Observable] = {}
    for o in observables:
        out[o.key] = merge(out[o.key], o) if o.key in out else o
    return sorted(out.values(), key=lambda o: (o.tier != Tier.KNOWN, KIND_ORDER[o.kind], o.value))


# -- one flow -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Evidence:
    feeds: set[str] = field(default_factory=set)
    families: set[str] = field(default_factory=set)
    hit_values: set[str] = field(default_factory=set)  # lowercased atomics the feeds matched
    hit_types: set[str] = field(default_factory=set)
    findings: dict[str, str] = field(default_factory=dict)  # name -> strongest severity
    text: str = ""  # explanations + evidence, lowercased: what "cited" means
    parents: set[str] = field(default_factory=set)  # domains a finding names (dns-tunnelling)


def _strs(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [] if value is None else [value]
    return [str(v) for v in items if v is not None and str(v) != ""]


def _evidence(flow: Mapping[str, Any]) -> _Evidence:
    ev = _Evidence()
    for hit in flow.get("threat.enrichments") or []:
        if not isinstance(hit, dict):
            continue
        ind, matched, sw = hit.get("indicator") or {}, hit.get("matched") or {}, hit.get("software")
        ev.feeds.update(_strs(ind.get("provider")))
        ev.hit_types.update(_strs(ind.get("type")))
        ev.hit_values.update(v.lower() for v in _strs(matched.get("atomic") or ind.get("name")))
        if isinstance(sw, dict):
            ev.families.update(_strs(sw.get("name")))
    texts: list[str] = []
    for finding in flow.get("pcaptotal.findings") or []:
        if not isinstance(finding, dict) or finding.get("name") in VICTIM_SIDE_FINDINGS:
            continue
        name, severity = str(finding.get("name")), str(finding.get("severity") or "low")
        if SEVERITY_RANK.get(severity, 0) > SEVERITY_RANK.get(ev.findings.get(name, ""), 0):
            ev.findings[name] = severity
        evidence = finding.get("evidence") or {}
        texts += [str(finding.get("explanation") or ""), json.dumps(evidence, default=str)]
        if isinstance(evidence, dict) and isinstance(evidence.get("parent"), str):
            ev.parents.add(evidence["parent"].lower().rstrip("."))
    ev.text = "\n".join(texts).lower()
    return ev


def _public_ip(value: str) -> str | None:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip) if ip.is_global and not ip.is_multicast else None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _hostname(value: str) -> str | None:
    name = value.strip().lower().rstrip(".")
    if not name or "." not in name or name.endswith(_LOCAL_SUFFIXES):
        return None
    return name


def _http_host(value: str) -> tuple[str, str]:
    """(host without port, the ':port' suffix or '') of a Host header value."""
    host = value.strip().lower()
    if host.startswith("["):  # [v6]:port
        end = host.find("]")
        return host[1:end] if end > 0 else host, host[end + 1 :] if end > 0 else ""
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and name:
        return name, f":{port}"
    return host, ""


def _candidates(flow: Mapping[str, Any], ev: _Evidence) -> dict[Kind, list[str]]:
    out: dict[Kind, list[str]] = {k: [] for k in Kind}
    protocols = set(_strs(flow.get("network.protocol")))
    dns_only = protocols == {"dns"} or (not protocols and flow.get("destination.port") == 53)
    if not dns_only and (ip := _public_ip(str(flow.get("destination.ip") or ""))):
        out[Kind.IP].append(ip)
    for field_name in ("source.ip", "destination.ip"):  # an IP a feed named, either side
        value = str(flow.get(field_name) or "")
        if value.lower() in ev.hit_values and (named := _public_ip(value)):
            out[Kind.IP].append(named)
    for name in _strs(values_of(flow, "dns.question.name")):
        if (host := _hostname(name)) and not any(host.endswith("." + p) for p in ev.parents):
            out[Kind.DNS].append(host)
    out[Kind.DNS] += sorted(ev.parents)
    out[Kind.SNI] += [h for v in _strs(flow.get("tls.client.server_name")) if (h := _hostname(v))]
    hosts = [_http_host(v) for v in _strs(flow.get("url.domain"))]
    for host, _ in hosts:
        if not _is_ip(host) and (hostname := _hostname(host)):
            out[Kind.HTTP_HOST].append(hostname)
    if len(set(hosts)) == 1:  # URIs pair with the host only when there is one
        host, port = hosts[0]
        if not port and flow.get("destination.port") not in (None, 80):
            port = f":{flow.get('destination.port')}"
        shown = f"[{host}]" if ":" in host else host
        for uri in _strs(flow.get("url.original")):
            out[Kind.URL].append(uri if "://" in uri else f"http://{shown}{port}{uri}")
    out[Kind.JA3] += [v.lower() for v in _strs(flow.get("tls.client.ja3"))]
    for kind, name in ((Kind.SHA256, "sha256"), (Kind.SHA1, "sha1"), (Kind.MD5, "md5")):
        values = [v.lower() for v in _strs(flow.get(f"file.hash.{name}"))]
        if values:
            out[kind] = values
            break
    return out


def _cited(values: list[str], ev: _Evidence) -> list[str]:
    unique = list(dict.fromkeys(values))
    if len(unique) > 1:
        cited = [v for v in unique if v.lower() in ev.hit_values or v.lower() in ev.text]
        unique = cited or unique
    return unique[:_MAX_VALUES_PER_KIND]


def flow_observables(
    flow: Mapping[str, Any], capture_id: str, capture_verdict: str
) -> list[Observable]:
    """The indicators one analysed flow yields (empty when it gives no reason to suspect)."""
    ev = _evidence(flow)
    verdict = str(flow.get("pcaptotal.verdict") or "clean")
    hit = bool(ev.feeds or ev.hit_values)
    if not hit and (verdict == "clean" or not ev.findings):
        return []
    severity = max(ev.findings.values(), key=SEVERITY_RANK.__getitem__, default="")
    strong = SEVERITY_RANK[severity] >= SEVERITY_RANK["medium"]
    tier = Tier.KNOWN if hit or (verdict == "malicious" and strong) else Tier.LIKELY
    out: list[Observable] = []
    for kind, values in _candidates(flow, ev).items():
        for value in _cited(values, ev):
            # a JA3 is client software: known only when a feed named that JA3
            own = tier if kind is not Kind.JA3 or value in ev.hit_values else Tier.LIKELY
            out.append(
                Observable(
                    kind=kind,
                    value=value,
                    tier=own,
                    severity=severity,
                    feeds=tuple(sorted(ev.feeds)),
                    families=tuple(sorted(ev.families)),
                    findings=tuple(sorted(ev.findings)),
                    verdicts=(capture_verdict,),
                    captures=(capture_id,),
                    flows=1,
                )
            )
    return out


def capture_observables(
    capture: Mapping[str, Any], flows: Iterable[Mapping[str, Any]]
) -> list[Observable]:
    """Every indicator of one capture, deduplicated (see ``merge_all`` for the order)."""
    cid, verdict = str(capture.get("id")), str(capture.get("verdict") or "clean")
    return merge_all(o for f in flows for o in flow_observables(f, cid, verdict))
