"""Delivery semantics of the events, as a subscriber sees them, across a re-analysis that
changes verdicts.

The pipeline (ingest's registration, parser, enricher with its feed store) runs in-process on
real tshark, file blobs and an index, over the machine's RabbitMQ (a unique exchange and queue
prefix per test) or the memory bus. A subscriber of our own binds ``capture.*`` and ``flows.#``
(on RabbitMQ with aio-pika, as a consumer written from the README would). Two shared captures
are analysed, a feed naming their C2 infrastructure is added, and they are analysed again:
asyncrat moves a flow from suspicious to malicious, agenttesla one from clean to malicious.
A redelivered ``capture.parsed`` then repeats the second run, as at-least-once delivery may.

Checked: one analysis id per run on every event, generations 1 and 2 (also on the capture
document), every body within the bound and valid against docs/asyncapi.json, per-verdict
counts equal to the batches and flows received, retractions on exactly the old verdict's key
for exactly the flows that moved, and a consumer deduping on (event.id, analysis_id) ending
with the index's verdicts even though the second run arrived twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import jsonschema_rs
import pytest
from pcaptotal.adapters.factory import close_context, make_context, start_context
from pcaptotal.adapters.memory_bus import MemoryBus
from pcaptotal.context import Context
from pcaptotal.messages import (
    MAX_BODY_BYTES,
    VERDICTS,
    CaptureAnalyzed,
    CaptureParsed,
    Event,
    FlowsEnriched,
    FlowsRetracted,
    decode,
    encode,
    routing_key,
)
from pcaptotal.ports import Delivery
from pcaptotal.query import parse_query
from pcaptotal.settings import Settings
from pcaptotal_enricher.app import start_enricher
from pcaptotal_enricher.intel import FeedStore
from pcaptotal_ingest.service import register_capture
from pcaptotal_parser.worker import ParserWorker
from pcaptotal_search_api.capture_view import CaptureView, api_names

from tests.integration.test_detection_with_feeds import FEODO, THREATFOX
from tests.paths import PCAPS, REPO
from tests.spool import spooled

pytestmark = pytest.mark.integration

RABBIT_URL = os.environ.get("PCAPTOTAL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
# (capture, the verdict move the feed causes): both move one flow to malicious.
CAPTURES = {
    "corelight_asyncrat-c2.pcap": ("suspicious", "malicious"),
    "corelight_agenttesla-ftp-exfil.pcap": ("clean", "malicious"),
}
WAIT_S = 180


@dataclass(slots=True)
class Received:
    key: str
    body: bytes
    event: Event
    message_id: str | None = None  # AMQP property (RabbitMQ only)
    amqp_type: str | None = None


@dataclass(slots=True)
class Subscriber:
    got: list[Received] = field(default_factory=list)

    def of(self, capture_id: str, generation: int | None = None) -> list[Received]:
        return [
            r
            for r in self.got
            if r.event.capture_id == capture_id
            and (generation is None or r.event.generation == generation)
        ]

    def analyzed(self, capture_id: str, generation: int) -> list[CaptureAnalyzed]:
        return [
            r.event for r in self.of(capture_id, generation) if isinstance(r.event, CaptureAnalyzed)
        ]


@dataclass(slots=True)
class Pipeline:
    ctx: Context
    feeds: FeedStore
    sub: Subscriber
    work: Path


async def _subscribe_rabbit(exchange: str, sub: Subscriber) -> aio_pika.abc.AbstractConnection:
    conn = await aio_pika.connect(RABBIT_URL, timeout=15)
    ch = await conn.channel()
    ex = await ch.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    q = await ch.declare_queue(exclusive=True)
    for key in ("capture.*", "flows.#"):
        await q.bind(ex, key)

    async def on_message(msg: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with msg.process():
            sub.got.append(
                Received(
                    msg.routing_key or "", msg.body, decode(msg.body), msg.message_id, msg.type
                )
            )

    await q.consume(on_message)
    return conn


@pytest.fixture(
    params=[
        pytest.param(("rabbitmq", "tantivy"), id="rabbitmq-tantivy"),
        pytest.param(("memory", "tantivy"), id="memory-tantivy"),
        pytest.param(("rabbitmq", "es"), id="rabbitmq-osmem"),
    ]
)
async def pipeline(
    request: pytest.FixtureRequest, tmp_path: Path, tshark: str
) -> AsyncIterator[Pipeline]:
    bus_kind, index_kind = request.param
    run = uuid.uuid4().hex[:8]
    index_url = (
        f"{request.getfixturevalue('es_url')}?prefix=ev-{run}"
        if index_kind == "es"
        else f"tantivy://{tmp_path / 'index'}"
    )
    settings = Settings(
        data_dir=tmp_path / "data",
        bus_url=RABBIT_URL if bus_kind == "rabbitmq" else "memory://",
        bus_exchange=f"test.events.{run}",
        bus_queue_prefix=f"test.events.{run}.",
        blob_url=f"file://{tmp_path / 'blobs'}",
        index_url=index_url,
        tshark_path=tshark,
        intel_poll_interval_s=3600,  # the test reloads the feeds itself
    )
    ctx = make_context(settings)
    await start_context(ctx)
    sub = Subscriber()
    conn = None
    if bus_kind == "rabbitmq":
        conn = await _subscribe_rabbit(settings.bus_exchange, sub)
    else:

        async def on_event(d: Delivery) -> None:
            sub.got.append(Received(routing_key(d.event), encode(d.event), d.event))

        await ctx.bus.subscribe("subscriber", ["capture.*", "flows.#"], on_event, prefetch=1)
    await ParserWorker(ctx).start()
    feeds = await start_enricher(ctx)
    try:
        yield Pipeline(ctx, feeds, sub, tmp_path)
    finally:
        await ctx.bus.stop_consuming()
        await feeds.stop()
        if conn is not None:
            await conn.close()
        delete = getattr(ctx.bus, "delete_declared_queues", None)
        if delete is not None:
            await delete()
        await close_context(ctx)


async def _analyse(p: Pipeline, name: str, *, reanalyze: bool) -> str:
    upload = spooled((PCAPS / name).read_bytes(), p.work, name)
    registration = await register_capture(p.ctx, upload, reanalyze=reanalyze)
    assert registration.queued
    return registration.capture_id


async def _until(cond: Any, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # anything published after it would show now


def _schema_validators() -> dict[str, Any]:
    doc = json.loads((REPO / "docs" / "asyncapi.json").read_text())
    out = {}
    for message in doc["components"]["messages"].values():
        schema = {"$ref": message["payload"]["$ref"], "components": doc["components"]}
        out[message["title"]] = jsonschema_rs.validator_for(schema)
    return out


def _flows_by_verdict(received: list[Received]) -> dict[str, str]:
    """event.id → verdict, from one run's flows.enriched batches."""
    out: dict[str, str] = {}
    for r in received:
        if isinstance(r.event, FlowsEnriched):
            for f in r.event.flows:
                assert f["event.id"] not in out, "a flow twice in one run"
                out[f["event.id"]] = r.event.verdict
    return out


def _check_run(p: Pipeline, cid: str, generation: int, validators: dict[str, Any]) -> str:
    """One run's events: one analysis id, bounded valid bodies, counts matching batches."""
    run = p.sub.of(cid, generation)
    ids = {r.event.analysis_id for r in run}
    assert len(ids) == 1, ids
    (analyzed,) = {
        r.event.id: r.event for r in run if isinstance(r.event, CaptureAnalyzed)
    }.values()
    for r in run:
        assert len(r.body) <= MAX_BODY_BYTES
        validators[r.event.type].validate(json.loads(r.body))
        assert json.loads(r.body)["time"].endswith("Z")
        if r.message_id is not None:  # AMQP properties agree with the body
            assert (r.message_id, r.amqp_type) == (str(r.event.id), r.event.type)
        assert r.key == routing_key(r.event)
    types = [r.event.type for r in run]
    assert types[0] == "capture.stored" and types[1] == "capture.parsed"
    assert types[-1] == "capture.analyzed"
    # Retractions come before the run's flow batches.
    enriched_at = [i for i, t in enumerate(types) if t == "flows.enriched"]
    retracted_at = [i for i, t in enumerate(types) if t == "flows.retracted"]
    assert not retracted_at or max(retracted_at) < min(enriched_at)
    for verdict in VERDICTS:
        tally = analyzed.per_verdict.of(verdict)
        batches = [
            r.event
            for r in run
            if isinstance(r.event, FlowsEnriched) and r.event.verdict == verdict
        ]
        retractions = [
            r.event
            for r in run
            if isinstance(r.event, FlowsRetracted) and r.event.verdict == verdict
        ]
        assert tally.batches == len(batches)
        assert tally.flows == sum(len(b.flows) for b in batches)
        assert [b.seq for b in batches] == list(range(len(batches)))
        assert [b.last for b in batches] == [False] * (len(batches) - 1) + [True] * bool(batches)
        assert tally.retraction_batches == len(retractions)
        assert tally.retracted_flows == sum(len(b.event_ids) for b in retractions)
        for b in batches:
            for f in b.flows:
                assert f["pcaptotal.verdict"] == verdict and "_id" not in f
                for stamp in ("@timestamp", "event.start", "event.end"):
                    assert f.get(stamp, "Z").endswith("Z"), (stamp, f.get(stamp))
                assert f["event.id"].startswith(f"{cid}-")
    assert analyzed.flows_indexed == sum(analyzed.per_verdict.of(v).flows for v in VERDICTS)
    return str(ids.pop())


def _retracted(received: list[Received]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for r in received:
        if isinstance(r.event, FlowsRetracted):
            out[r.event.verdict] |= set(r.event.event_ids)
    return dict(out)


def readme_flow_state() -> Any:
    """The ``FlowState`` class of the README's subscriber, run as written there."""
    text = (REPO / "README.md").read_text()
    start = text.index("<!-- events-consumer -->")
    block = text[start : text.index("<!-- /events-consumer -->", start)]
    code = block.split("```python\n", 1)[1].rsplit("```", 1)[0]
    namespace: dict[str, Any] = {"__name__": "readme_events_consumer"}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace["FlowState"]


class DedupingConsumer:
    """The README's consumer: drop (event.id, analysis_id) seen before; keep per event.id the
    highest generation; a retraction removes the flow from that verdict."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()
        self.flows: dict[str, tuple[int, str]] = {}  # event.id → (generation, verdict)
        self.duplicates = 0

    def apply(self, event: Event) -> None:
        if isinstance(event, FlowsEnriched):
            for f in event.flows:
                key = (f["event.id"], str(event.analysis_id))
                if key in self.seen:
                    self.duplicates += 1
                    continue
                self.seen.add(key)
                held = self.flows.get(f["event.id"])
                if held is None or held[0] <= event.generation:
                    self.flows[f["event.id"]] = (event.generation, event.verdict)
        elif isinstance(event, FlowsRetracted):
            for eid in event.event_ids:
                held = self.flows.get(eid)
                if held is not None and held[0] < event.generation and held[1] == event.verdict:
                    del self.flows[eid]


async def test_reanalysis_with_a_new_feed(pipeline: Pipeline) -> None:
    p = pipeline
    validators = _schema_validators()
    cids = {name: await _analyse(p, name, reanalyze=False) for name in CAPTURES}
    await _until(lambda: all(p.sub.analyzed(c, 1) for c in cids.values()), "first runs")

    intel = p.ctx.settings.resolved_intel_dir
    intel.mkdir(parents=True, exist_ok=True)
    (intel / "feodo_ipblocklist.csv").write_text(FEODO)
    (intel / "threatfox_export.csv").write_text(THREATFOX)
    assert await p.feeds.reload(force=True)

    for name in CAPTURES:
        await _analyse(p, name, reanalyze=True)
    await _until(lambda: all(p.sub.analyzed(c, 2) for c in cids.values()), "second runs")

    consumer = DedupingConsumer()
    for name, (old, new) in CAPTURES.items():
        cid = cids[name]
        first = _check_run(p, cid, 1, validators)
        second = _check_run(p, cid, 2, validators)
        assert first != second
        doc = await p.ctx.captures.get(cid)
        assert doc is not None and (doc["analysis_id"], doc["generation"]) == (second, 2)
        # strict: a field the API view does not declare fails
        CaptureView.model_validate(api_names(doc))

        before = _flows_by_verdict(p.sub.of(cid, 1))
        after = _flows_by_verdict(p.sub.of(cid, 2))
        moved = {eid for eid in before if after.get(eid) != before[eid]}
        expected: dict[str, set[str]] = defaultdict(set)
        for eid in moved:
            expected[before[eid]].add(eid)
        assert _retracted(p.sub.of(cid, 2)) == dict(expected)
        assert _retracted(p.sub.of(cid, 1)) == {}
        assert {(before[e], after.get(e)) for e in moved} == {(old, new)}, name
        for r in p.sub.of(cid):
            consumer.apply(r.event)

    # At least once: the enricher gets the second run's capture.parsed again.
    cid = cids["corelight_asyncrat-c2.pcap"]
    (parsed,) = [r.event for r in p.sub.of(cid, 2) if isinstance(r.event, CaptureParsed)]
    n_before = len(p.sub.of(cid, 2))
    await p.ctx.bus.publish(parsed)
    await _until(lambda: len(p.sub.analyzed(cid, 2)) == 2, "the repeated run")
    repeat = [r for r in p.sub.of(cid, 2)[n_before:] if r.event.type != "capture.parsed"]
    original = [r for r in p.sub.of(cid, 2)[:n_before] if r.event.type != "capture.parsed"]
    assert [r.event.id for r in repeat] == [r.event.id for r in original[1:]]  # same ids
    assert _retracted(repeat) == _retracted(original)
    flows_before = dict(consumer.flows)
    for r in repeat:
        consumer.apply(r.event)
    assert consumer.duplicates == sum(
        len(r.event.flows) for r in repeat if isinstance(r.event, FlowsEnriched)
    )
    assert consumer.flows == flows_before

    # The README's subscriber, one per verdict, fed every message it would be bound to
    # (the repeated run included), holds what the index holds.
    flow_state = readme_flow_state()
    readers: dict[str, Any] = {v: flow_state() for v in VERDICTS}
    for r in p.sub.got:
        if r.key.startswith(("flows.enriched.", "flows.retracted.")):
            readers[r.key.rsplit(".", 1)[1]].apply(json.loads(r.body))

    # The deduped state equals what the index now holds, flow by flow.
    for name in CAPTURES:
        cid = cids[name]
        result = await p.ctx.index.search_flows(
            parse_query("pcaptotal.verdict:(clean OR suspicious OR malicious)"),
            capture_id=cid,
            limit=10_000,
        )
        indexed = {
            str(h.get("event.id") or h["_id"]): h["pcaptotal.verdict"]
            for h in result.hits
            if h.get("event.dataset", "flow") == "flow"
        }
        mine = {e: v for e, (g, v) in consumer.flows.items() if e.startswith(f"{cid}-")}
        assert mine == indexed and indexed
        for v in VERDICTS:
            held = {e for e in readers[v].flows if e.startswith(f"{cid}-")}
            assert held == {e for e, verdict in indexed.items() if verdict == v}, (name, v)
        counts = Counter(indexed.values())
        (last,) = {a.id: a for a in p.sub.analyzed(cid, 2)}.values()
        assert {v: last.per_verdict.of(v).flows for v in VERDICTS} == {
            v: counts.get(v, 0) for v in VERDICTS
        }
    if isinstance(p.ctx.bus, MemoryBus):
        assert p.ctx.bus.dead_letters == []
