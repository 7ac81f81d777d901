"""What the enricher writes besides the annotated flows: the capture's other records passed
through, and one ``finding`` record per heuristic finding and per intel hit.

Findings used to ride on the capture document (up to 200, with flow ids and evidence, up to
750 KB); they are records of their own now, linked to their flows by ``pcaptotal.flow_id`` and
``network.community_id``, and the capture document keeps a count and a per-name summary.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from pcaptotal.fields import DATASET_KINDS, ECS_VERSION

FINDING = "finding"
INTEL_FINDING = "threat-intel-match"  # pcaptotal.finding.name of a feed hit
_CONFIDENCE_SEVERITY = {"high": "high", "medium": "medium", "low": "low"}
# flow fields a finding record copies from the first flow it cites (who talked to whom)
_ENDPOINT_FIELDS = ("source.ip", "source.port", "destination.ip", "destination.port")


def is_flow(record: dict[str, Any]) -> bool:
    """A record without ``event.dataset`` (parsed before records had kinds) is a flow."""
    return bool(record.get("event.dataset", "flow") == "flow")


def split_records(
    records: Iterable[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(flows, every other record): heuristics and intel look at flows only. A record without
    ``event.dataset`` (parsed before records had kinds) is a flow."""
    flows: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for record in records:
        (flows if is_flow(record) else others).append(record)
    return flows, others


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def _finding_base(capture_id: str, key: str) -> dict[str, Any]:
    return {
        "event.id": f"{capture_id}-{key}",
        "event.dataset": FINDING,
        "event.kind": DATASET_KINDS[FINDING],
        "ecs.version": ECS_VERSION,
        "pcaptotal.capture_id": capture_id,
    }


def _link(doc: dict[str, Any], cited: Sequence[dict[str, Any]]) -> None:
    """Flow ids, Community IDs, endpoints of the first cited flow, earliest time."""
    if not cited:
        return
    doc["pcaptotal.flow_id"] = [str(f["event.id"]) for f in cited if f.get("event.id")]
    cids = [f["network.community_id"] for f in cited if f.get("network.community_id")]
    if cids:
        doc["network.community_id"] = list(dict.fromkeys(cids))
    first = min(cited, key=lambda f: str(f.get("@timestamp") or "~"))
    for name in _ENDPOINT_FIELDS:
        if name in first:
            doc[name] = first[name]
    if first.get("@timestamp"):
        doc["@timestamp"] = first["@timestamp"]


def finding_records(
    capture_id: str, flows: Sequence[dict[str, Any]], findings: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One record per heuristic finding (``Finding.to_dict`` form) and per feed hit on a flow
    (each entry of the flow's ``threat.enrichments``). Ids are deterministic: the same
    analysis of the same capture writes the same records."""
    by_id = {str(f.get("event.id")): f for f in flows if f.get("event.id")}
    out: list[dict[str, Any]] = []
    for finding in findings:
        flow_ids = [str(i) for i in finding.get("flow_ids") or []]
        name = str(finding.get("name"))
        explanation = str(finding.get("explanation") or "")
        key = f"finding-{_digest(name, explanation, *flow_ids)}"
        doc = _finding_base(capture_id, key)
        doc["pcaptotal.finding.name"] = name
        doc["pcaptotal.finding.severity"] = str(finding.get("severity"))
        doc["pcaptotal.finding.source"] = "heuristic"
        doc["message"] = explanation
        doc["pcaptotal.finding.flow_count"] = int(finding.get("flow_count") or len(flow_ids))
        if finding.get("evidence"):
            doc["pcaptotal.finding.evidence"] = finding["evidence"]
        if finding.get("families"):  # a published fingerprint named them (``families``)
            doc["threat.software.name"] = list(finding["families"])
        _link(doc, [by_id[i] for i in flow_ids if i in by_id])
        if "pcaptotal.flow_id" not in doc and flow_ids:
            doc["pcaptotal.flow_id"] = flow_ids
        out.append(doc)
    for flow in flows:
        for hit in flow.get("threat.enrichments") or []:
            if isinstance(hit, dict):
                out.append(_intel_record(capture_id, flow, hit))
    # one record per id (a flow may list the same hit twice; the heuristics may repeat one)
    return list({d["event.id"]: d for d in out}.values())


def _intel_record(capture_id: str, flow: dict[str, Any], hit: dict[str, Any]) -> dict[str, Any]:
    indicator = hit.get("indicator") or {}
    matched = hit.get("matched") or {}
    provider = str(indicator.get("provider") or "?")
    value = str(indicator.get("name") or "?")
    confidence = str(indicator.get("confidence") or "")
    key = f"intel-{flow.get('pcaptotal.flow_key')}-"
    key += _digest(provider, value, str(matched.get("field") or ""))
    doc = _finding_base(capture_id, key)
    doc["pcaptotal.finding.name"] = INTEL_FINDING
    doc["pcaptotal.finding.severity"] = _CONFIDENCE_SEVERITY.get(confidence.lower(), "medium")
    doc["pcaptotal.finding.source"] = "intel"
    family = (hit.get("software") or {}).get("name")
    doc["message"] = f"feed {provider} lists {value}" + (
        f" (confidence {confidence}" + (f", family {family})" if family else ")")
        if confidence
        else ""
    )
    doc["pcaptotal.finding.flow_count"] = 1
    doc["threat.enrichments"] = [hit]
    _link(doc, [flow])
    return doc


def finding_summary(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per finding name: severity (the highest seen), source and how many records; the small
    form the capture document keeps."""
    rank = {"low": 1, "medium": 2, "high": 3}
    summary: dict[str, dict[str, Any]] = {}
    for doc in records:
        name = str(doc["pcaptotal.finding.name"])
        severity = str(doc["pcaptotal.finding.severity"])
        entry = summary.setdefault(
            name,
            {"name": name, "severity": severity, "source": doc["pcaptotal.finding.source"]},
        )
        entry["count"] = entry.get("count", 0) + 1
        if rank.get(severity, 0) > rank.get(entry["severity"], 0):
            entry["severity"] = severity
    return sorted(
        summary.values(), key=lambda e: (-rank.get(e["severity"], 0), -e["count"], e["name"])
    )
