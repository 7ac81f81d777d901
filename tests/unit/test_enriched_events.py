"""Enriched-flow events: bounded batches, every flow exactly once, routed by verdict."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pcaptotal.adapters.memory_bus import MemoryBus
from pcaptotal.messages import FlowsEnriched
from pcaptotal.ports import Delivery
from pcaptotal_enricher.events import batches, publish_enriched


def _flow(i: int, verdict: str, pad: int = 0) -> dict[str, Any]:
    return {"_id": f"c-tcp-{i}", "pcaptotal.verdict": verdict, "pad": "x" * pad}


def test_batches_bounded_by_count_and_bytes() -> None:
    flows = [_flow(i, "clean", pad=1000) for i in range(50)]
    parts = list(batches(flows, max_flows=20, max_bytes=5000))
    assert [f for p in parts for f in p] == flows
    for p in parts:
        assert len(p) <= 20
        assert len(p) == 1 or sum(len(json.dumps(f)) for f in p) <= 5000
    # one oversized flow still travels, alone
    assert list(batches([_flow(0, "clean", pad=10_000)], max_bytes=100)) == [
        [_flow(0, "clean", pad=10_000)]
    ]


async def test_subscriber_binds_by_verdict() -> None:
    bus = MemoryBus()
    got: dict[str, list[FlowsEnriched]] = {"malicious": [], "all": []}

    async def on_malicious(d: Delivery) -> None:
        assert isinstance(d.event, FlowsEnriched)
        got["malicious"].append(d.event)

    async def on_all(d: Delivery) -> None:
        assert isinstance(d.event, FlowsEnriched)
        got["all"].append(d.event)

    await bus.subscribe("soar", ["flows.enriched.malicious"], on_malicious)
    await bus.subscribe("archive", ["flows.enriched.#"], on_all)
    flows = [_flow(i, v) for i, v in enumerate(["clean"] * 7 + ["malicious"] * 5 + ["suspicious"])]
    sent = await publish_enriched(bus, "c" * 64, flows, max_flows=2)
    await asyncio.wait_for(bus.wait_idle(), 5)
    assert sent == 4 + 3 + 1
    mal = sorted(got["malicious"], key=lambda e: e.seq)
    assert [e.seq for e in mal] == [0, 1, 2] and [e.last for e in mal] == [False, False, True]
    assert sorted(f["_id"] for e in mal for f in e.flows) == sorted(
        f["_id"] for f in flows if f["pcaptotal.verdict"] == "malicious"
    )
    assert sorted(f["_id"] for e in got["all"] for f in e.flows) == sorted(f["_id"] for f in flows)
