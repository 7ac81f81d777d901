"""Correlation: distinct findings about the same destination address add up.

Several weak signals pointing at one C2 server (an odd port, a raw IP, a retried connection, an
upload-heavy session) make that destination suspicious, while the same number of weak findings
spread over unrelated destinations of a busy capture do not: only findings whose cited flows go
to at most ``correlation_max_destinations`` addresses are about a destination at all.
"""

from __future__ import annotations

from collections import defaultdict

from pcaptotal_enricher.heuristics.config import DetectionConfig
from pcaptotal_enricher.heuristics.model import Finding, Severity
from pcaptotal_enricher.heuristics.util import FlowDoc, flow_id, is_multicast_or_broadcast

NAME = "correlated-destination"


def correlate(findings: list[Finding], flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    dest_of = {flow_id(f): str(f.get("destination.ip") or "") for f in flows}
    best: dict[str, dict[str, Finding]] = defaultdict(dict)
    cited: dict[str, dict[str, None]] = defaultdict(dict)
    for finding in findings:
        if finding.name == NAME:
            continue
        dests = {dest_of.get(i, "") for i in finding.flow_ids} - {""}
        if not dests or len(dests) > cfg.correlation_max_destinations:
            continue
        for d in dests:
            if is_multicast_or_broadcast(d):
                continue
            held = best[d].get(finding.name)
            if held is None or finding.severity.rank > held.severity.rank:
                best[d][finding.name] = finding
            for i in finding.flow_ids:
                if dest_of.get(i) == d:
                    cited[d][i] = None
    out: list[Finding] = []
    for dest, by_name in best.items():
        k = len(by_name)
        if k < cfg.correlation_min_findings:
            continue
        strong = sum(f.severity.rank >= Severity.MEDIUM.rank for f in by_name.values())
        high = k >= cfg.correlation_high_findings and strong >= 2
        parts = sorted(by_name.values(), key=lambda f: (-f.severity.rank, f.name))
        shown = ", ".join(f"{f.name} ({f.severity.value})" for f in parts)
        rule = f"{cfg.correlation_min_findings}"
        if high:
            rule += f"; {cfg.correlation_high_findings} with 2 medium for high"
        out.append(
            Finding(
                name=NAME,
                severity=Severity.HIGH if high else Severity.MEDIUM,
                explanation=(f"{k} different findings point at {dest}: {shown} (threshold {rule})"),
                flow_ids=tuple(cited[dest]),
                evidence={
                    "destination_ip": dest,
                    "findings": {f.name: f.severity.value for f in parts},
                },
            )
        )
    return out
