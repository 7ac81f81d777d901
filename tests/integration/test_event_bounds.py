"""Batch bounds on real captures: no flows.enriched body exceeds the byte bound, envelope
included, and the byte bound (not only the count bound) is what splits flow-heavy captures.

Before the whole body was counted, a batch measured 524,454 bytes against 524,288; on today's
documents the old rule (flow JSON only) still overshoots a 64 KiB bound: 65,724 bytes on
zeek_dns-edns-ecs.pcap. Every shared capture runs through the parser and the enricher's
analysis, and its flows are published exactly as the enricher publishes them; every body is
valid against docs/asyncapi.json, strictly (a flow field the document does not declare fails).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from pcaptotal.messages import (
    MAX_BATCH_FLOWS,
    MAX_BODY_BYTES,
    FlowsEnriched,
)
from pcaptotal_enricher.events import Published, Run, flow_event_id, publish_enriched
from pcaptotal_enricher.verdict import analyse_capture
from pcaptotal_parser.parse import parse_capture

from tests.buses import BodiesBus
from tests.paths import REPO, shared_captures

pytestmark = pytest.mark.integration
CID = "e" * 64


def _documented() -> Any:
    """The committed document's FlowsEnriched schema (its flows: the strict FlowEventRecord)."""
    doc = json.loads((REPO / "docs" / "asyncapi.json").read_text())
    ref = doc["components"]["messages"]["FlowsEnriched"]["payload"]["$ref"]
    return jsonschema_rs.validator_for({"$ref": ref, "components": doc["components"]})


DOCUMENTED = _documented()


@pytest.fixture(scope="module")
def flows(tshark: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    work = tmp_path_factory.mktemp("bounds")

    async def one(capture: Path) -> list[dict[str, Any]]:
        parsed = await parse_capture(capture, CID, tshark_path=tshark, work_dir=work)
        return analyse_capture(list(parsed.flows.flows())).flows

    return {c.name: asyncio.run(one(c)) for c in shared_captures()}


def _publish(flows: list[dict[str, Any]], max_bytes: int) -> list[bytes]:
    bus = BodiesBus()
    run = Run(CID, uuid.uuid4(), 1)
    asyncio.run(publish_enriched(bus, run, flows, Published(), max_bytes=max_bytes))
    for body in bus.bodies:
        DOCUMENTED.validate(json.loads(body))
    sent = [f["event.id"] for b in bus.bodies for f in FlowsEnriched.model_validate_json(b).flows]
    assert sorted(sent) == sorted(flow_event_id(f) for f in flows)  # each flow once
    return bus.bodies


@pytest.mark.parametrize("bound", [MAX_BODY_BYTES, 64 * 1024])
def test_no_body_exceeds_the_bound(flows: dict[str, list[dict[str, Any]]], bound: int) -> None:
    bodies = {name: _publish(fs, bound) for name, fs in flows.items()}
    sizes = [(len(b), name) for name, bs in bodies.items() for b in bs]
    largest, where = max(sizes)
    byte_bound = [
        size
        for name, bs in bodies.items()
        for b in bs
        if len(FlowsEnriched.model_validate_json(b).flows) < MAX_BATCH_FLOWS
        and (size := len(b)) > bound * 0.9
    ]
    print(
        f"\nbound {bound}: {len(sizes)} flows.enriched bodies from {len(bodies)} captures; "
        f"largest {largest} bytes ({where}); {len(byte_bound)} batches split by bytes"
    )
    assert largest <= bound
    # The byte bound does the splitting on flow-heavy captures (a batch filled to >90 %).
    assert byte_bound, "no capture reached the byte bound: the test no longer exercises it"
