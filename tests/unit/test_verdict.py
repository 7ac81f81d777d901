"""Verdict rules: feed hits, finding weights, per-flow annotation, capture result."""

from __future__ import annotations

from typing import Any

import pytest
from pcaptotal_enricher.heuristics import DetectionConfig, Finding, Severity
from pcaptotal_enricher.verdict import (
    Verdict,
    VerdictEnrichment,
    analyse_capture,
    combine,
    findings_score,
    intel_judgement,
    judge,
)

CFG = DetectionConfig()
NO_INTEL: tuple[float, bool, list[str]] = (0.0, False, [])


def _hit(name: str, confidence: str, family: str | None = None) -> dict[str, Any]:
    """One threat.enrichments entry as the intel enrichment writes it."""
    hit: dict[str, Any] = {"indicator": {"name": name, "confidence": confidence}}
    if family:
        hit["software"] = {"name": family}
    return hit


def finding(name: str, sev: Severity, *ids: str) -> Finding:
    return Finding(name=name, severity=sev, explanation=f"{name} happened 3 times", flow_ids=ids)


def test_combine_is_noisy_or() -> None:
    assert combine([]) == 0.0
    assert combine([35.0, 35.0]) == pytest.approx(57.7, abs=0.1)
    assert combine([100.0, 10.0]) == 100.0


@pytest.mark.parametrize(
    ("severities", "expected"),
    [
        ([], Verdict.CLEAN),
        ([Severity.LOW] * 4, Verdict.CLEAN),  # lows alone never reach suspicious
        ([Severity.MEDIUM], Verdict.SUSPICIOUS),
        ([Severity.MEDIUM, Severity.MEDIUM], Verdict.SUSPICIOUS),
        ([Severity.MEDIUM] * 3, Verdict.MALICIOUS),
        ([Severity.HIGH], Verdict.MALICIOUS),
    ],
)
def test_findings_to_verdict(severities: list[Severity], expected: Verdict) -> None:
    fs = [finding(f"h{i}", s) for i, s in enumerate(severities)]
    assert judge(fs, NO_INTEL, CFG).verdict is expected


def test_same_heuristic_counts_once() -> None:
    fs = [finding("http-raw-ip", Severity.MEDIUM, str(i)) for i in range(5)]
    assert findings_score(fs, CFG) == 35.0


def test_intel_confidence_rules() -> None:
    high = {"threat.enrichments": [_hit("1.2.3.4", "High")]}
    medium = {"threat.enrichments": [_hit("1.2.3.4", "Medium")]}
    score, forced, reasons = intel_judgement(high, CFG)
    assert forced and score == 95.0 and "1.2.3.4" in reasons[0]
    assert judge([], intel_judgement(medium, CFG), CFG).verdict is Verdict.SUSPICIOUS
    trusting = DetectionConfig(verdict_malicious_min_confidence="Medium")
    assert judge([], intel_judgement(medium, trusting), trusting).verdict is Verdict.MALICIOUS
    assert intel_judgement({}, CFG) == NO_INTEL


def test_intel_from_enrichments_names_family() -> None:
    flow = {
        "threat.enrichments": [
            {
                "indicator": {"name": "evil.example", "provider": "urlhaus", "confidence": "High"},
                "software": {"name": "AsyncRAT"},
            }
        ]
    }
    _, forced, reasons = intel_judgement(flow, CFG)
    assert forced and reasons == [
        "feed urlhaus lists evil.example (confidence High, family AsyncRAT)"
    ]


def flows() -> list[dict[str, Any]]:
    base: dict[str, Any] = {"network.transport": "tcp", "source.ip": "10.0.0.5"}
    raw_ip = {
        **base,
        "_id": "c-tcp-0",
        "destination.ip": "74.120.55.163",
        "destination.port": 80,
        "network.protocol": ["http"],
        "http.request.method": ["POST"],
        "url.domain": ["74.120.55.163"],
        "user_agent.original": ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/120.0"],
    }
    fed = {
        **base,
        "_id": "c-tcp-1",
        "destination.ip": "8.8.8.8",
        "destination.port": 443,
        "threat.enrichments": [_hit("8.8.8.8", "Low", "Emotet")],
    }
    quiet = {**base, "_id": "c-tcp-2", "destination.ip": "10.0.0.1", "destination.port": 445}
    return [raw_ip, fed, quiet]


def test_analyse_capture_annotates_flows_and_capture() -> None:
    result = analyse_capture(flows(), CFG)
    raw_ip, fed, quiet = result.flows
    assert raw_ip["pcaptotal.verdict"] == "suspicious" and raw_ip["event.risk_score"] == 35.0
    assert raw_ip["pcaptotal.finding.name"] == ["http-raw-ip"]
    assert raw_ip["pcaptotal.finding.severity"] == ["medium"]
    assert raw_ip["pcaptotal.findings"][0]["flow_ids"] == ["c-tcp-0"]
    assert fed["pcaptotal.verdict"] == "suspicious" and "pcaptotal.findings" not in fed
    assert quiet["pcaptotal.verdict"] == "clean" and quiet["event.risk_score"] == 0.0
    assert result.verdict is Verdict.SUSPICIOUS
    assert result.tags == ["Emotet"]
    assert result.flow_verdicts == {"clean": 1, "suspicious": 2, "malicious": 0}
    assert any("74.120.55.163" in r for r in result.reasons)
    assert result.findings[0]["name"] == "http-raw-ip"


def test_capture_combines_findings_across_flows() -> None:
    # three different medium findings on three different flows: each flow is only suspicious,
    # the capture as a whole is malicious
    result = analyse_capture(
        [
            flows()[0],
            {"_id": "d", "dns.question.name": ["api.ipify.org"]},
            {
                "_id": "t",
                "destination.ip": "181.131.218.39",
                "destination.port": 4041,
                "network.transport": "tcp",
                "tls.client.ja3": ["x"],
            },
        ],
        CFG,
    )
    assert {f["pcaptotal.verdict"] for f in result.flows} == {"suspicious"}
    assert result.verdict is Verdict.MALICIOUS and result.score >= 70


def test_enrichment_step_and_settings() -> None:
    from pcaptotal.settings import Settings

    step = VerdictEnrichment(Settings(verdict_suspicious_score=40.0))
    out = step(flows())
    assert step.last is not None and out is step.last.flows
    assert out[0]["pcaptotal.verdict"] == "clean"  # 35 < 40 now
    assert analyse_capture([], None).verdict is Verdict.CLEAN
