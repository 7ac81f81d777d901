"""Beaconing across flows and the heartbeat pattern inside one long session."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pcaptotal_enricher.heuristics import DetectionConfig, Severity
from pcaptotal_enricher.heuristics.beaconing import beaconing, heartbeat_session

CFG = DetectionConfig()
T0 = datetime(2024, 3, 5, 18, 0, tzinfo=UTC)


def flow(i: int, at: float, **kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": f"cap-tcp-{i}",
        "source.ip": "10.0.0.5",
        "source.port": 40000 + i,
        "destination.ip": "185.255.114.40",
        "destination.port": 8219,
        "network.transport": "tcp",
        "event.start": (T0 + timedelta(seconds=at)).isoformat(),
    }
    doc.update(kw)
    return doc


def test_regular_check_ins_are_beaconing_with_numbers() -> None:
    jitter = [0.3, -0.4, 0.2, 0.0, -0.1, 0.4, -0.3, 0.1, 0.2, -0.2, 0.0, 0.3]
    flows = [flow(i, 30 * i + j) for i, j in enumerate(jitter)]
    [f] = beaconing(flows, CFG)
    assert f.name == "beaconing"
    assert f.severity is Severity.HIGH  # 12 check-ins, jitter ~1 %
    assert "10.0.0.5" in f.explanation and "185.255.114.40:8219" in f.explanation
    assert "12 times over 330 s, every 30.1 s" in f.explanation and "deviation 1%" in f.explanation
    assert f.evidence["check_ins"] == 12 and f.evidence["mad_ratio"] < 0.05
    assert set(f.flow_ids) == {d["_id"] for d in flows}


def test_jittered_beacon_with_bursts_is_medium() -> None:
    # 30-60 s sleep (Caldera-like), plus one extra connection right after a check-in
    starts = [0, 41, 75, 131, 175, 232, 288, 339, 373, 373.5]
    [f] = beaconing([flow(i, t) for i, t in enumerate(starts)], CFG)
    assert f.severity is Severity.MEDIUM
    assert f.evidence["check_ins"] == 9 and f.evidence["connections"] == 10


def test_irregular_or_few_connections_are_not_beaconing() -> None:
    irregular = [0, 3, 50, 52, 200, 201, 480, 900]
    assert beaconing([flow(i, t) for i, t in enumerate(irregular)], CFG) == []
    few = [0, 30, 60, 90]
    assert beaconing([flow(i, t) for i, t in enumerate(few)], CFG) == []


def test_dns_polling_and_fast_bursts_are_not_beaconing() -> None:
    dns = [flow(i, 30 * i, **{"destination.port": 53}) for i in range(10)]
    burst = [flow(i, 0.5 * i) for i in range(20)]  # one page load, merged into one check-in
    assert beaconing(dns, CFG) == [] and beaconing(burst, CFG) == []


def test_heartbeat_session_in_one_long_flow() -> None:
    f = flow(
        0,
        0,
        **{
            "event.duration": int(177.5e9),
            "source.packets": 80,
            "destination.packets": 66,
            "source.bytes": 10808,
            "destination.bytes": 3708,
        },
    )
    [h] = heartbeat_session([f], CFG)
    assert h.severity is Severity.LOW
    assert "177.5 s" in h.explanation and "146 small packets" in h.explanation
    assert h.evidence["bytes_per_s"] == 81.8


def test_bulk_short_or_private_sessions_are_no_heartbeat() -> None:
    base = {"source.packets": 80, "destination.packets": 66, "event.duration": int(300e9)}
    bulk = flow(0, 0, **base, **{"source.bytes": 10_000_000, "destination.bytes": 50_000})
    short = flow(1, 0, **{**base, "event.duration": int(30e9), "source.bytes": 9000})
    private = flow(2, 0, **base, **{"destination.ip": "192.168.1.1", "source.bytes": 9000})
    assert heartbeat_session([bulk, short, private], CFG) == []


def test_fast_beacon_below_the_old_five_second_floor() -> None:
    # the miss: HTTPS every 2.2 s +- 0.1 s, ~300 times, near-identical sizes
    rng = random.Random(7)
    flows, t = [], 0.0
    for i in range(300):
        flows.append(
            flow(i, t, **{"destination.port": 443, "source.bytes": 1500 + rng.randint(-4, 4)})
        )
        t += 2.2 + rng.uniform(-0.1, 0.1)
    [f] = beaconing(flows, CFG)
    assert f.severity is Severity.HIGH and f.evidence["check_ins"] == 300
    assert "every 2.2 s" in f.explanation and "B sent per check-in" in f.explanation


@pytest.mark.parametrize("period", [1.0, 10.0, 60.0, 300.0])
def test_fifty_percent_jitter_is_found_from_one_second_to_minutes(period: float) -> None:
    rng = random.Random(int(period))
    starts, t = [], 0.0
    for _ in range(40):
        starts.append(t)
        t += period * rng.uniform(0.5, 1.5)
    flows = [
        flow(i, s, **{"source.bytes": 900 + rng.randint(-20, 20)}) for i, s in enumerate(starts)
    ]
    [f] = beaconing(flows, CFG)
    assert f.severity in (Severity.MEDIUM, Severity.HIGH), f.explanation
    assert f.evidence["check_ins"] == 40


def test_polling_of_well_known_services_is_low_and_ntp_is_ignored() -> None:
    poll = [
        flow(
            i, 60 * i, **{"destination.port": 443, "tls.client.server_name": "update.microsoft.com"}
        )
        for i in range(20)
    ]
    [f] = beaconing(poll, CFG)
    assert f.severity is Severity.LOW and "well-known service" in f.explanation
    ntp = [
        flow(i, 64 * i, **{"destination.port": 123, "network.transport": "udp"}) for i in range(20)
    ]
    assert beaconing(ntp, CFG) == []


def test_varying_sizes_and_skewed_gaps_lower_the_score() -> None:
    rng = random.Random(3)
    starts = [0.0]
    for _ in range(30):  # bursty: mostly short gaps, a few very long ones
        starts.append(
            starts[-1] + (rng.uniform(1, 3) if rng.random() < 0.7 else rng.uniform(40, 90))
        )
    flows = [flow(i, s, **{"source.bytes": rng.randint(200, 20000)}) for i, s in enumerate(starts)]
    assert beaconing(flows, CFG) == []
