"""Long-lived connections and large outbound transfers to public addresses."""

from __future__ import annotations

from pcaptotal_enricher.heuristics.config import DetectionConfig
from pcaptotal_enricher.heuristics.model import Finding, Severity
from pcaptotal_enricher.heuristics.util import (
    FlowDoc,
    duration_s,
    endpoint,
    flow_id,
    human_bytes,
    is_public,
    num,
    transport,
)


def long_connections(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    out: list[Finding] = []
    for f in flows:
        dur = duration_s(f)
        if transport(f) != "tcp" or dur < cfg.long_connection_s:
            continue
        if not is_public(str(f.get("destination.ip") or "")):
            continue
        out.append(
            Finding(
                name="long-connection",
                severity=Severity.LOW,
                explanation=(
                    f"connection {f.get('source.ip')} -> {endpoint(f)} lasted {dur / 3600:.1f} h "
                    f"(threshold {cfg.long_connection_s / 3600:.1f} h)"
                ),
                flow_ids=(flow_id(f),),
                evidence={"duration_s": round(dur, 3)},
            )
        )
    return out


def large_outbound(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    out: list[Finding] = []
    for f in flows:
        sent, got = num(f, "source.bytes"), num(f, "destination.bytes")
        if sent < cfg.large_outbound_bytes or sent < cfg.large_outbound_ratio * max(got, 1.0):
            continue
        if not is_public(str(f.get("destination.ip") or "")):
            continue
        out.append(
            Finding(
                name="large-outbound-transfer",
                severity=Severity.MEDIUM,
                explanation=(
                    f"{f.get('source.ip')} sent {human_bytes(sent)} to {endpoint(f)} and received "
                    f"{human_bytes(got)} ({sent / max(got, 1.0):.0f}x more out than in)"
                ),
                flow_ids=(flow_id(f),),
                evidence={"bytes_out": sent, "bytes_in": got},
            )
        )
    return out
