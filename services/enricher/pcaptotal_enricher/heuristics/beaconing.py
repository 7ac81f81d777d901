"""Beaconing: regular check-ins from one host to one destination (across flows), scored with
robust statistics as RITA does, and the heartbeat pattern inside one long TCP session (within
a flow only counts are visible)."""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict

from pcaptotal_enricher.heuristics.config import DetectionConfig
from pcaptotal_enricher.heuristics.lists import COMMON_DOMAINS, INFRA_PORTS
from pcaptotal_enricher.heuristics.model import Finding, Severity
from pcaptotal_enricher.heuristics.names import flow_names, registered_domain
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
    values,
)

_Key = tuple[str, str, int, str]
_TIGHT_SPREAD = 0.10


def _check_ins(items: list[tuple[float, float]], burst_s: float) -> list[tuple[float, float]]:
    """(start, bytes) per check-in: connections opened within ``burst_s`` of the previous
    check-in's start are part of it (their bytes add up)."""
    merged: list[tuple[float, float]] = []
    for t, b in sorted(items):
        if not merged or t - merged[-1][0] > burst_s:
            merged.append((t, b))
        else:
            merged[-1] = (merged[-1][0], merged[-1][1] + b)
    return merged


def _quartiles(xs: list[float]) -> tuple[float, float, float]:
    q1, q2, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return q1, q2, q3


def dispersion(xs: list[float]) -> tuple[float, float, float]:
    """(median, MAD / median, Bowley skew) of ``xs`` (RITA's robust beacon statistics)."""
    q1, med, q3 = _quartiles(xs)
    mad = statistics.median([abs(x - med) for x in xs])
    madm = mad / med if med > 0 else (0.0 if mad == 0 else 1.0)
    # As RITA: a median equal to a quartile (near-identical values) is not skew. Nor is the
    # shape of a spread within 10 % of the median (sizes +-4 B, gaps +-0.1 s): it is noise.
    tight = q3 - q1 <= _TIGHT_SPREAD * abs(med)
    skew = (q3 + q1 - 2 * med) / (q3 - q1) if q1 != med and q3 != med and not tight else 0.0
    return med, madm, skew


def beacon_score(
    intervals: list[float], sizes: list[float], persistence: float
) -> tuple[float, dict[str, float]]:
    """0-1: mean of the timing score (skew, MAD, persistence over the capture) and, when the
    check-ins carry byte counts, the size score (skew, MAD) - RITA's beacon score."""
    _, ts_madm, ts_skew = dispersion(intervals)
    parts = {
        "ts_skew": 1.0 - min(abs(ts_skew), 1.0),
        "ts_madm": max(0.0, 1.0 - ts_madm),
        "persistence": min(max(persistence, 0.0), 1.0),
    }
    ts = (parts["ts_skew"] + parts["ts_madm"] + parts["persistence"]) / 3
    if len(sizes) >= 3 and any(sizes):
        _, ds_madm, ds_skew = dispersion(sizes)
        parts["ds_skew"] = 1.0 - min(abs(ds_skew), 1.0)
        parts["ds_madm"] = max(0.0, 1.0 - ds_madm)
        return (ts + (parts["ds_skew"] + parts["ds_madm"]) / 2) / 2, parts
    return ts, parts


def beaconing(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    groups: dict[_Key, list[tuple[float, float, str]]] = defaultdict(list)
    by_id: dict[str, FlowDoc] = {}
    first = last = None
    for f in flows:
        t = start_s(f)
        if t is not None:
            first = t if first is None else min(first, t)
            last = t if last is None else max(last, t)
        dport = port(f)
        src, dst = str(f.get("source.ip") or ""), str(f.get("destination.ip") or "")
        if dport is None or t is None or dport in INFRA_PORTS or transport(f) not in ("tcp", "udp"):
            continue
        if is_multicast_or_broadcast(dst) or is_loopback(dst):
            continue
        groups[(src, dst, dport, transport(f))].append((t, num(f, "source.bytes"), flow_id(f)))
        by_id[flow_id(f)] = f
    capture_span = (last - first) if first is not None and last is not None else 0.0
    out: list[Finding] = []
    for (src, dst, dport, proto), items in groups.items():
        if len(items) < cfg.beacon_min_connections:
            continue
        starts = sorted(t for t, _, _ in items)
        raw_gaps = [b - a for a, b in itertools.pairwise(starts)]
        burst = min(cfg.beacon_burst_s, 0.25 * statistics.median(raw_gaps))
        checks = _check_ins([(t, b) for t, b, _ in items], burst)
        span = checks[-1][0] - checks[0][0]
        if len(checks) < cfg.beacon_min_connections or span < cfg.beacon_min_span_s:
            continue
        intervals = [b[0] - a[0] for a, b in itertools.pairwise(checks)]
        median, madm, _ = dispersion(intervals)
        if median <= 0 or madm > cfg.beacon_max_jitter:
            continue
        score, parts = beacon_score(
            intervals, [b for _, b in checks], span / capture_span if capture_span else 1.0
        )
        if score < cfg.beacon_min_score:
            continue
        names = {n for _, _, i in items for n in flow_names(by_id[i])}
        well_known = sorted(n for n in names if registered_domain(n) in COMMON_DOMAINS)
        strong = score >= cfg.beacon_high_score and len(checks) >= 2 * cfg.beacon_min_connections
        severity = Severity.LOW if well_known else Severity.HIGH if strong else Severity.MEDIUM
        shown = f"[{dst}]" if ":" in dst else dst
        sizes = [b for _, b in checks]
        size_text = ""
        if any(sizes):
            size_med, size_madm, _ = dispersion(sizes)
            size_text = f", {size_med:.0f} B sent per check-in ± {size_madm:.0%}"
        note = f"; well-known service {well_known[0]}" if well_known else ""
        out.append(
            Finding(
                name="beaconing",
                severity=severity,
                explanation=(
                    f"host {src} connected to {shown}:{dport}/{proto} {len(checks)} times over "
                    f"{span:.0f} s, every {median:.1f} s (median; deviation {madm:.0%} of it"
                    f"{size_text}); beacon score {score:.2f}{note}"
                ),
                flow_ids=tuple(i for _, _, i in sorted(items)),
                evidence={
                    "source_ip": src,
                    "destination": f"{shown}:{dport}",
                    "connections": len(items),
                    "check_ins": len(checks),
                    "median_interval_s": round(median, 3),
                    "mad_ratio": round(madm, 4),
                    "score": round(score, 3),
                    "score_parts": {k: round(v, 3) for k, v in parts.items()},
                    "span_s": round(span, 1),
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


def session_beaconing(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """Regular check-ins INSIDE one long or keep-alive session: the client's bursts of payload
    (``pcaptotal.client.burst_offset_ms`` / ``burst_bytes`` from the parser) scored like
    connection beacons. Low severity: protocol keep-alives (MQTT PINGREQ, SSH/WebSocket
    pings) are periodic by design, so this corroborates other evidence about the destination
    (see ``correlate``) rather than deciding alone."""
    out: list[Finding] = []
    for f in flows:
        offsets = [float(v) / 1000.0 for v in values(f, "pcaptotal.client.burst_offset_ms")]
        if len(offsets) < cfg.beacon_min_connections:
            continue
        dport, dst = port(f), str(f.get("destination.ip") or "")
        if dport in INFRA_PORTS or is_multicast_or_broadcast(dst) or is_loopback(dst):
            continue
        span = offsets[-1] - offsets[0]
        if span < cfg.beacon_min_span_s:
            continue
        intervals = [b - a for a, b in itertools.pairwise(offsets)]
        median, madm, _ = dispersion(intervals)
        if median <= 0 or madm > cfg.beacon_max_jitter:
            continue
        sizes = [float(v) for v in values(f, "pcaptotal.client.burst_bytes")]
        duration = duration_s(f)
        score, parts = beacon_score(intervals, sizes, span / duration if duration else 1.0)
        if score < cfg.beacon_min_score:
            continue
        size_text = ""
        if sizes:
            size_med, size_madm, _ = dispersion(sizes)
            size_text = f", {size_med:.0f} B per check-in ± {size_madm:.0%}"
        out.append(
            Finding(
                name="session-beaconing",
                severity=Severity.LOW,
                explanation=(
                    f"inside one session {f.get('source.ip')} -> {endpoint(f)} the client sent "
                    f"{len(offsets)} bursts over {span:.0f} s, every {median:.1f} s (median; "
                    f"deviation {madm:.0%}{size_text}); beacon score {score:.2f}"
                ),
                flow_ids=(flow_id(f),),
                evidence={
                    "check_ins": len(offsets),
                    "median_interval_s": round(median, 3),
                    "mad_ratio": round(madm, 4),
                    "score": round(score, 3),
                    "score_parts": {k: round(v, 3) for k, v in parts.items()},
                },
            )
        )
    return out
