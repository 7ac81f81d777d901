"""Batch bounds on real captures: no flows.enriched body exceeds MAX_BODY_BYTES, envelope
included, and the byte bound (not only the count bound) is what splits flow-heavy captures.

Before the whole body was counted, a batch of one shared capture measured 524,454 bytes,
over 524,288; this runs every shared capture through parser and enricher analysis and
publishes its flows exactly as the enricher does.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from pcaptotal.adapters.memory_bus import MemoryBus
from pcaptotal.messages import MAX_BATCH_FLOWS, MAX_BODY_BYTES, Envelope, FlowsEnriched, encode
from pcaptotal_enricher.events import Published, Run, flow_event_id, publish_enriched
from pcaptotal_enricher.verdict import analyse_capture
from pcaptotal_parser.parse import parse_capture

from tests.paths import shared_captures

pytestmark = pytest.mark.integration


class Recorder(MemoryBus):
    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []

    async def publish(self, event: Envelope, routing_key: str | None = None) -> None:
        self.bodies.append(encode(event))


@pytest.fixture(scope="module")
def bodies(tshark: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[bytes]]:
    work = tmp_path_factory.mktemp("bounds")

    async def one(capture: Path) -> tuple[list[bytes], list[dict[str, Any]]]:
        cid = "e" * 64
        parsed = await parse_capture(capture, cid, tshark_path=tshark, work_dir=work)
        flows = analyse_capture(list(parsed.flows.flows())).flows
        bus = Recorder()
        await publish_enriched(bus, Run(cid, uuid.uuid4(), 1), flows, Published())
        return bus.bodies, flows

    out: dict[str, list[bytes]] = {}
    for capture in shared_captures():
        got, flows = asyncio.run(one(capture))
        sent = [f["event.id"] for b in got for f in FlowsEnriched.model_validate_json(b).flows]
        assert sorted(sent) == sorted(flow_event_id(f) for f in flows), capture.name
        out[capture.name] = got
    return out


def test_no_body_exceeds_the_bound(bodies: dict[str, list[bytes]]) -> None:
    sizes = [(len(b), name) for name, bs in bodies.items() for b in bs]
    largest, where = max(sizes)
    byte_bound = [
        (len(b), name)
        for name, bs in bodies.items()
        for b in bs
        if len(FlowsEnriched.model_validate_json(b).flows) < MAX_BATCH_FLOWS
        and len(b) > MAX_BODY_BYTES * 0.9
    ]
    print(
        f"\n{len(sizes)} flows.enriched bodies from {len(bodies)} captures; largest {largest} "
        f"bytes ({where}); bound {MAX_BODY_BYTES}; {len(byte_bound)} batches split by bytes"
    )
    assert largest <= MAX_BODY_BYTES
    # The byte bound does the splitting on flow-heavy captures (a batch filled to >90 %).
    assert byte_bound, "no capture reached the byte bound: the test no longer exercises it"
