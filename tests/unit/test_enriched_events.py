"""Flow events: bounded batches (whole body counted), every flow exactly once, routed by
verdict; retractions for flows that left a verdict."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from pcaptotal.adapters.memory_bus import MemoryBus
from pcaptotal.messages import (
    MAX_BODY_BYTES,
    VERDICTS,
    Envelope,
    FlowsEnriched,
    FlowsRetracted,
    decode,
    encode,
    encode_items,
)
from pcaptotal.ports import Delivery
from pcaptotal_enricher.events import (
    OMITTED_FIELDS,
    Published,
    Run,
    publish_enriched,
    publish_retractions,
)
from pcaptotal_enricher.published import PublishedState, by_verdict, plan_retractions

CID = "c" * 64


def _flow(i: int, verdict: str, pad: int = 0) -> dict[str, Any]:
    return {"_id": f"{CID}-tcp-{i}", "pcaptotal.verdict": verdict, "pad": "x" * pad}


class Recorder(MemoryBus):
    """A memory bus that also keeps every body it published."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[tuple[str, bytes]] = []

    async def publish(self, event: Envelope, routing_key: str | None = None) -> None:
        self.bodies.append((event.type, encode(event)))
        await super().publish(event, routing_key)

    async def publish_items(
        self,
        event: Envelope,
        field: str,
        items: Sequence[bytes],
        routing_key: str | None = None,
    ) -> None:
        self.bodies.append((event.type, encode_items(event, field, items)))
        await super().publish_items(event, field, items, routing_key)


def _run() -> Run:
    return Run(CID, uuid.uuid4(), 1)


async def test_bodies_bounded_by_count_and_whole_body_bytes() -> None:
    bus = Recorder()
    flows = [_flow(i, "clean", pad=900 + (i % 7) * 13) for i in range(300)]
    sent = Published()
    await publish_enriched(bus, _run(), flows, sent, max_flows=40, max_bytes=20_000)
    events = [decode(b) for _, b in bus.bodies]
    assert all(isinstance(e, FlowsEnriched) for e in events)
    sizes = [len(b) for _, b in bus.bodies]
    assert max(sizes) <= 20_000 and max(sizes) > 19_000  # bound reached, not exceeded
    got = [f["event.id"] for e in events if isinstance(e, FlowsEnriched) for f in e.flows]
    assert got == [f["_id"] for f in flows]  # every flow once, in order
    assert all("_id" not in f for e in events if isinstance(e, FlowsEnriched) for f in e.flows)
    assert sent.per_verdict().clean.batches == len(events)
    assert sent.per_verdict().clean.flows == 300


async def test_flow_bigger_than_a_body_travels_with_largest_fields_left_out() -> None:
    bus = Recorder()
    big = _flow(0, "malicious", pad=MAX_BODY_BYTES)
    big["dns.question.name"] = ["a.example"]
    await publish_enriched(bus, _run(), [big], Published())
    ((_, body),) = bus.bodies
    assert len(body) <= MAX_BODY_BYTES
    event = decode(body)
    assert isinstance(event, FlowsEnriched)
    (flow,) = event.flows
    assert flow[OMITTED_FIELDS] == ["pad"] and flow["dns.question.name"] == ["a.example"]
    assert flow["event.id"] == big["_id"]


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
    sent = Published()
    await publish_enriched(bus, _run(), flows, sent, max_flows=2)
    await asyncio.wait_for(bus.wait_idle(), 5)
    tallies = sent.per_verdict()
    assert (tallies.clean.batches, tallies.malicious.batches, tallies.suspicious.batches) == (
        4,
        3,
        1,
    )
    mal = sorted(got["malicious"], key=lambda e: e.seq)
    assert [e.seq for e in mal] == [0, 1, 2] and [e.last for e in mal] == [False, False, True]
    assert sorted(f["event.id"] for e in mal for f in e.flows) == sorted(
        f["_id"] for f in flows if f["pcaptotal.verdict"] == "malicious"
    )
    assert sorted(f["event.id"] for e in got["all"] for f in e.flows) == sorted(
        f["_id"] for f in flows
    )


async def test_same_run_republishes_the_same_message_ids() -> None:
    run, flows = _run(), [_flow(i, "clean") for i in range(5)]
    ids = []
    for _ in range(2):
        bus = Recorder()
        await publish_enriched(bus, run, flows, Published(), max_flows=2)
        ids.append([decode(b).id for _, b in bus.bodies])
    assert ids[0] == ids[1] and len(set(ids[0])) == 3


def test_retractions_name_exactly_the_flows_that_left_a_verdict() -> None:
    first = by_verdict([_flow(0, "clean"), _flow(1, "suspicious"), _flow(2, "suspicious")])
    second = by_verdict([_flow(0, "malicious"), _flow(1, "suspicious"), _flow(2, "malicious")])
    before = PublishedState("run-1", 1, first)
    plan = plan_retractions(before, "run-2", second)
    assert plan == {"clean": [f"{CID}-tcp-0"], "suspicious": [f"{CID}-tcp-2"]}
    assert plan_retractions(None, "run-1", first) == {}
    # A redelivered run repeats what it retracted the first time.
    after = PublishedState("run-2", 2, second, plan)
    assert plan_retractions(after, "run-2", second) == plan
    # A flow that is gone altogether is retracted too.
    assert plan_retractions(after, "run-3", by_verdict([_flow(0, "malicious")])) == {
        "suspicious": [f"{CID}-tcp-1"],
        "malicious": [f"{CID}-tcp-2"],
    }


async def test_retraction_batches_bounded_and_routed_to_the_old_verdict() -> None:
    bus = Recorder()
    ids = [f"{CID}-tcp-{i}" for i in range(3000)]
    sent = Published()
    await publish_retractions(bus, _run(), {"suspicious": ids}, sent, max_bytes=50_000)
    events = [decode(b) for _, b in bus.bodies]
    assert all(isinstance(e, FlowsRetracted) and e.verdict == "suspicious" for e in events)
    assert max(len(b) for _, b in bus.bodies) <= 50_000
    assert [i for e in events if isinstance(e, FlowsRetracted) for i in e.event_ids] == ids
    tally = sent.per_verdict().suspicious
    assert (tally.retracted_flows, tally.retraction_batches) == (3000, len(events))
    assert {v for v in VERDICTS if sent.per_verdict().of(v).retracted_flows} == {"suspicious"}
