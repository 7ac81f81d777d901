"""Beaconing: regular check-ins from one host to one destination (across flows), and the
heartbeat pattern inside one long TCP session (within a flow only counts are visible)."""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict

from pcaptotal_enricher.heuristics.config import DetectionConfig
from pcaptotal_enricher.heuristics.lists import INFRA_PORTS
from pcaptotal_enricher.heuristics.model import Finding, Severity
from pcaptotal_enricher.heuristics.util import (
    FlowDoc,
    duration_s,
    endpoint,
    flow_id,
    is_loopback,
    is_multicast_or_broadcast,
    is_public,
    num,
    port,
    start_s,
    transport,
)

_Key = tuple[str, str, int, str]


def _check_ins(starts: list[float], burst_s: float) -> list[float]:
    """Merge connections opened within ``burst_s`` of the previous check-in."""
    merged: list[float] = []
    for t in sorted(starts):
        if not merged or t - merged[-1] > burst_s:
            merged.append(t)
    return merged


def beaconing(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    groups: dict[_Key, list[tuple[float, str]]] = defaultdict(list)
    for f in flows:
        dport, t = port(f), start_s(f)
        src, dst = str(f.get("source.ip") or ""), str(f.get("destination.ip") or "")
        if dport is None or t is None or dport in INFRA_PORTS or transport(f) not in ("tcp", "udp"):
            continue
        if is_multicast_or_broadcast(dst) or is_loopback(dst):
            continue
        groups[(src, dst, dport, transport(f))].append((t, flow_id(f)))
    out: list[Finding] = []
    for (src, dst, dport, proto), items in groups.items():
        checks = _check_ins([t for t, _ in items], cfg.beacon_burst_s)
        if len(checks) < cfg.beacon_min_connections:
            continue
        intervals = [b - a for a, b in itertools.pairwise(checks)]
        median = statistics.median(intervals)
        if median < cfg.beacon_min_interval_s:
            continue
        regular = [i for i in intervals if 0.5 * median <= i <= 1.5 * median]
        if len(regular) < max(2, cfg.beacon_min_regular_fraction * len(intervals)):
            continue
        mean = statistics.fmean(regular)
        sd = statistics.pstdev(regular)
        cv = sd / mean if mean else 1.0
        if cv > cfg.beacon_max_jitter:
            continue
        tight = cv <= cfg.beacon_tight_jitter and len(checks) >= 2 * cfg.beacon_min_connections
        shown = f"[{dst}]" if ":" in dst else dst
        out.append(
            Finding(
                name="beaconing",
                severity=Severity.HIGH if tight else Severity.MEDIUM,
                explanation=(
                    f"host {src} connected to {shown}:{dport}/{proto} {len(checks)} times every "
                    f"{mean:.1f} s ± {sd:.1f} s (jitter {cv:.1%}; {len(regular)} of "
                    f"{len(intervals)} intervals regular)"
                ),
                flow_ids=tuple(i for _, i in sorted(items)),
                evidence={
                    "source_ip": src,
                    "destination": f"{shown}:{dport}",
                    "connections": len(items),
                    "check_ins": len(checks),
                    "mean_interval_s": round(mean, 3),
                    "stdev_interval_s": round(sd, 3),
                    "jitter_cv": round(cv, 4),
                    "regular_intervals": len(regular),
                    "intervals_s": [round(i, 3) for i in intervals[:100]],
                },
            )
        )
    return out


def heartbeat_session(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """A long TCP session to a public address trickling small packets both ways at a low rate
    (keep-alive / heartbeat of an interactive or C2 channel)."""
    out: list[Finding] = []
    for f in flows:
        if transport(f) != "tcp" or not is_public(str(f.get("destination.ip") or "")):
            continue
        dur = duration_s(f)
        out_p, in_p = num(f, "source.packets"), num(f, "destination.packets")
        total_b = num(f, "source.bytes") + num(f, "destination.bytes")
        if dur < cfg.heartbeat_min_duration_s:
            continue
        if min(out_p, in_p) < cfg.heartbeat_min_packets:
            continue
        rate, avg = total_b / dur, total_b / (out_p + in_p)
        if rate > cfg.heartbeat_max_bytes_per_s or avg > cfg.heartbeat_max_avg_packet:
            continue
        every = dur / out_p
        out.append(
            Finding(
                name="heartbeat-session",
                severity=Severity.LOW,
                explanation=(
                    f"session {f.get('source.ip')} -> {endpoint(f)} stayed open {dur:.1f} s "
                    f"trickling {int(out_p + in_p)} small packets (one sent every {every:.1f} s, "
                    f"avg {avg:.0f} B, {rate:.0f} B/s): keep-alive/heartbeat pattern"
                ),
                flow_ids=(flow_id(f),),
                evidence={
                    "duration_s": round(dur, 3),
                    "packets_out": int(out_p),
                    "packets_in": int(in_p),
                    "seconds_per_packet_out": round(every, 3),
                    "avg_packet_bytes": round(avg, 1),
                    "bytes_per_s": round(rate, 1),
                },
            )
        )
    return out
