"""Finding records: one per heuristic finding and per feed hit, linked to their flows, with
deterministic ids; the capture keeps only a summary."""

from __future__ import annotations

from typing import Any

from pcaptotal.fields import declared, leaf_paths
from pcaptotal_enricher.intel.enrichment import apply_hits
from pcaptotal_enricher.intel.matching import Hit
from pcaptotal_enricher.intel.model import Confidence, IndicatorType
from pcaptotal_enricher.records import finding_records, finding_summary, split_records
from pcaptotal_enricher.verdict import analyse_capture

CID = "c" * 64


def flow(i: int, **fields: Any) -> dict[str, Any]:
    return {
        "event.id": f"{CID}-tcp-{i}",
        "event.dataset": "flow",
        "pcaptotal.capture_id": CID,
        "pcaptotal.flow_key": f"tcp-{i}",
        "@timestamp": f"2024-01-01T00:00:{i:02d}.000000Z",
        "event.start": f"2024-01-01T00:00:{i:02d}.000000Z",
        "network.community_id": f"1:flow{i}=",
        "source.ip": "10.0.0.5",
        "destination.ip": "185.255.114.40",
        "destination.port": 8219,
        "network.transport": "tcp",
        **fields,
    }


def test_split_keeps_flows_for_the_heuristics() -> None:
    records = [flow(0), {"event.dataset": "dns", "event.id": "x"}, {"event.id": "legacy"}]
    flows, others = split_records(records)
    assert [f["event.id"] for f in flows] == [f"{CID}-tcp-0", "legacy"]
    assert [o["event.id"] for o in others] == ["x"]


def test_heuristic_findings_become_linked_records() -> None:
    flows = [flow(i) for i in range(3)]
    findings = [
        {
            "name": "beaconing",
            "severity": "high",
            "explanation": "host 10.0.0.5 connected 12 times",
            "flow_ids": [f["event.id"] for f in flows],
            "flow_count": 3,
            "evidence": {"connections": 12},
        }
    ]
    (record,) = finding_records(CID, flows, findings)
    assert record["event.dataset"] == "finding" and record["event.kind"] == "alert"
    assert record["pcaptotal.finding.name"] == "beaconing"
    assert record["pcaptotal.finding.source"] == "heuristic"
    assert record["pcaptotal.flow_id"] == [f["event.id"] for f in flows]
    assert record["network.community_id"] == ["1:flow0=", "1:flow1=", "1:flow2="]
    assert record["@timestamp"] == flows[0]["@timestamp"]
    assert record["pcaptotal.finding.evidence"] == {"connections": 12}
    assert record["event.id"].startswith(f"{CID}-finding-")
    # the same analysis writes the same record (an upsert on re-analysis, not a copy)
    assert finding_records(CID, flows, findings) == [record]
    assert all(declared(p) for p in leaf_paths(record))


def test_feed_hits_become_intel_records_with_threat_enrichments() -> None:
    hit = Hit(
        indicator="185.255.114.40",
        type=IndicatorType.IPV4,
        feed="abuse.ch",
        confidence=Confidence.HIGH,
        field="destination.ip",
        atomic="185.255.114.40",
        family="AsyncRAT",
        tags=(),
    )
    flows = [apply_hits(flow(0), [hit]), flow(1)]
    analysis = analyse_capture(flows)
    records = finding_records(CID, analysis.flows, analysis.findings)
    intel = [r for r in records if r["pcaptotal.finding.source"] == "intel"]
    assert len(intel) == 1
    (record,) = intel
    assert record["pcaptotal.finding.severity"] == "high"
    assert record["pcaptotal.flow_id"] == [f"{CID}-tcp-0"]
    (enrichment,) = record["threat.enrichments"]
    assert enrichment["indicator"]["name"] == "185.255.114.40"
    assert "abuse.ch" in record["message"] and "AsyncRAT" in record["message"]
    assert all(declared(p) for p in leaf_paths(record))
    summary = finding_summary(records)
    assert {"name": "threat-intel-match", "severity": "high", "source": "intel", "count": 1} in (
        summary
    )
