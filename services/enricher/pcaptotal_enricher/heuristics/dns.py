"""Name-based heuristics: DGA-like domains, DNS tunnelling, dynamic-DNS hosts."""

from __future__ import annotations

from collections import defaultdict

from pcaptotal.memory import capture_cache

from pcaptotal_enricher.heuristics.config import DetectionConfig
from pcaptotal_enricher.heuristics.lists import COMMON_DOMAINS, DYNAMIC_DNS_SUFFIXES
from pcaptotal_enricher.heuristics.model import Finding, Severity
from pcaptotal_enricher.heuristics.names import (
    digit_ratio,
    digit_switches,
    flow_names,
    longest_consonant_run,
    registered_domain,
    under,
)
from pcaptotal_enricher.heuristics.util import FlowDoc, entropy, flow_id, strs


def _dga_reason(label: str, cfg: DetectionConfig) -> str | None:
    if len(label) < cfg.dga_min_length:
        return None
    ent = entropy(label)
    if ent < cfg.dga_min_entropy:
        return None
    run, digits = longest_consonant_run(label), digit_ratio(label)
    switches = digit_switches(label)
    if (
        run > cfg.dga_max_consonant_run
        or digits >= cfg.dga_min_digit_ratio
        or switches >= cfg.dga_min_digit_switches
    ):
        return (
            f"{len(label)} chars, entropy {ent:.2f} bits/char, consonant run {run}, "
            f"digits {digits:.0%}, {switches} letter/digit switches"
        )
    return None


def dga_domains(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    hits: dict[str, str] = {}
    cited: dict[str, list[str]] = defaultdict(list)
    nx: set[str] = set()
    for f in flows:
        for name in flow_names(f):
            reg = registered_domain(name)
            if reg in COMMON_DOMAINS:
                continue
            reason = hits.get(name) or _dga_reason(reg.split(".")[0], cfg)
            if reason:
                hits[name] = reason
                cited[name].append(flow_id(f))
                if "NXDOMAIN" in {c.upper() for c in strs(f, "dns.response_code")}:
                    nx.add(name)
    if not hits:
        return []
    names = sorted(hits)
    many = len(names) >= cfg.dga_many_names
    first = names[0]
    more = f" and {len(names) - 1} more" if len(names) > 1 else ""
    return [
        Finding(
            name="dga-domain",
            severity=Severity.HIGH if many else Severity.MEDIUM,
            explanation=(
                f"{len(names)} algorithmically generated-looking domain name(s), e.g. {first} "
                f"({hits[first]}){more}; {len(nx)} answered NXDOMAIN"
            ),
            flow_ids=tuple(dict.fromkeys(i for n in names for i in cited[n])),
            evidence={"names": {n: hits[n] for n in names[:50]}, "nxdomain": sorted(nx)[:50]},
        )
    ]


def encoded_names(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """Per client, across parents: names carrying a long high-entropy label. Tunnels without
    a parent domain of their own (dnscat2 direct mode: ``dnscat.<hex>.<hex>``) spread over
    "parents" made of data, so the per-parent rule never adds them up. DNS labels of >= 40
    chars are data (RFC 1035 caps them at 63); measured benign: none in the 39 benign
    captures (NSEC3 hash labels are 32 chars)."""
    names: dict[str, dict[str, str]] = defaultdict(dict)
    cited: dict[str, list[str]] = defaultdict(list)
    for f in flows:
        for name in flow_names(f, dns_only=True):
            long = [x for x in name.split(".") if len(x) >= cfg.tunnel_long_label]
            if long and entropy(long[0]) >= cfg.dga_min_entropy:
                src = str(f.get("source.ip"))
                names[src][name] = long[0]
                cited[src].append(flow_id(f))
    out: list[Finding] = []
    for src, hits in names.items():
        if len(hits) < cfg.tunnel_min_long_labels:
            continue
        first = sorted(hits)[0]
        out.append(
            Finding(
                name="dns-encoded-names",
                severity=Severity.MEDIUM,
                explanation=(
                    f"{src} asked for {len(hits)} names with a label of >= "
                    f"{cfg.tunnel_long_label} random-looking chars, e.g. {first[:80]}"
                ),
                flow_ids=tuple(dict.fromkeys(cited[src])),
                evidence={"names": len(hits), "examples": sorted(hits)[:10]},
            )
        )
    return out


def _reversed_ip(sub: str) -> bool:
    """``4.3.2.1.zen`` → True: four leading labels that are IPv4 octets (a DNSBL query)."""
    labels = sub.split(".")
    return len(labels) >= 4 and all(x.isdigit() and int(x) < 256 for x in labels[:4])


def dns_tunnelling(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    subs: dict[str, set[str]] = defaultdict(set)
    txt: dict[str, int] = defaultdict(int)
    cited: dict[str, list[str]] = defaultdict(list)
    for f in flows:
        is_txt = "TXT" in {t.upper() for t in strs(f, "dns.question.type")}
        for name in flow_names(f, dns_only=True):
            parent = registered_domain(name)
            if parent in COMMON_DOMAINS:
                continue
            sub = name[: -len(parent)].rstrip(".")
            if sub:
                subs[parent].add(sub)
            txt[parent] += is_txt
            cited[parent].append(flow_id(f))
    out: list[Finding] = []
    for parent in sorted(set(subs) | set(txt)):
        labels = [lab for s in subs[parent] for lab in s.split(".")]
        long_labels = [lab for lab in labels if len(lab) >= cfg.tunnel_long_label]
        random_labels = [
            lab for lab in labels if len(lab) >= 16 and entropy(lab) >= cfg.tunnel_label_entropy
        ]
        signals: list[str] = []
        # DNSBL/reputation lookups (RFC 5782: reversed IPv4 octets under the list's zone) make
        # many unique but short numeric subdomains; a tunnel's labels carry encoded data
        numeric = sum(_reversed_ip(s) for s in subs[parent])
        dnsbl = numeric >= 0.9 * max(len(subs[parent]), 1)
        if len(subs[parent]) >= cfg.tunnel_min_unique_subdomains and not dnsbl:
            signals.append(f"{len(subs[parent])} unique subdomains")
        if len(long_labels) >= cfg.tunnel_min_long_labels:
            signals.append(f"{len(long_labels)} labels of >= {cfg.tunnel_long_label} chars")
        if len(random_labels) >= cfg.tunnel_min_long_labels:
            signals.append(f"{len(random_labels)} high-entropy labels")
        if txt[parent] >= cfg.tunnel_min_txt_queries:
            signals.append(f"{txt[parent]} TXT queries")
        if not signals:
            continue
        longest = max((len(lab) for lab in labels), default=0)
        out.append(
            Finding(
                name="dns-tunnelling",
                severity=Severity.HIGH if len(signals) >= 2 else Severity.MEDIUM,
                explanation=f"DNS under {parent}: "
                + ", ".join(signals)
                + f" (longest label {longest} chars)",
                flow_ids=tuple(dict.fromkeys(cited[parent])),
                evidence={
                    "parent": parent,
                    "unique_subdomains": len(subs[parent]),
                    "long_labels": len(long_labels),
                    "high_entropy_labels": len(random_labels),
                    "txt_queries": txt[parent],
                    "longest_label": longest,
                    "examples": sorted(subs[parent])[:10],
                },
            )
        )
    return out


@capture_cache(maxsize=65536)  # the capture's names; emptied by release_memory
def _dynamic(name: str) -> bool:
    return any(under(name, s) for s in DYNAMIC_DNS_SUFFIXES)


def dynamic_dns(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """Names under a dynamic-DNS provider; medium when the host then connected to the address."""
    answers: dict[str, set[str]] = defaultdict(set)
    cited: dict[str, list[str]] = defaultdict(list)
    for f in flows:
        for name in flow_names(f):
            if _dynamic(name):
                cited[name].append(flow_id(f))
                answers[name].update(strs(f, "dns.answers.data"))
    out: list[Finding] = []
    for name in sorted(cited):
        used = [
            f
            for f in flows
            if str(f.get("destination.ip") or "") in answers[name]
            or (
                name in flow_names(f)
                and "dns" not in {p.lower() for p in strs(f, "network.protocol")}
            )
        ]
        ids = tuple(dict.fromkeys([*cited[name], *(flow_id(f) for f in used)]))
        addrs = sorted({str(f.get("destination.ip")) for f in used})
        tail = f", then connected to {', '.join(addrs[:3])}" if used else ""
        out.append(
            Finding(
                name="dynamic-dns-domain",
                severity=Severity.MEDIUM if used else Severity.LOW,
                explanation=f"{name} is a dynamic-DNS hostname{tail}",
                flow_ids=ids,
                evidence={"name": name, "connections": len(used), "addresses": addrs[:20]},
            )
        )
    return out
