"""Private captures' events never reach a subscriber bound to the public keys, over RabbitMQ.

The pipeline (ingest's registration, parser, enricher) runs in-process on real tshark, file
blobs and tantivy over the machine's RabbitMQ (a unique exchange and queue prefix). One capture
is uploaded public (Bob), another private (Alice); a feed is then added and both are analysed
again, so each run also retracts flows that changed verdict. A subscriber bound as the README
says (``capture.*``, ``flows.#``) must see the public capture's events (batches and retractions
included) and no byte of the private one's; a subscriber bound to ``private.#`` gets exactly
the private capture's (stored, parsed, batches, retractions, analyzed), marked private with
its owner, and nothing public.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from pcaptotal.adapters.factory import close_context, make_context, start_context
from pcaptotal.context import Context
from pcaptotal.messages import Event, FlowsEnriched, FlowsRetracted, decode, routing_key
from pcaptotal.query import parse_query
from pcaptotal.settings import Settings
from pcaptotal_enricher.app import start_enricher
from pcaptotal_enricher.intel import FeedStore
from pcaptotal_ingest.service import register_capture
from pcaptotal_parser.worker import ParserWorker

from tests.integration.test_detection_with_feeds import FEODO, THREATFOX
from tests.paths import PCAPS
from tests.spool import spooled

pytestmark = pytest.mark.integration

RABBIT_URL = os.environ.get("PCAPTOTAL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
PUBLIC_PCAP = "corelight_asyncrat-c2.pcap"  # the feed moves a flow suspicious -> malicious
PRIVATE_PCAP = "corelight_agenttesla-ftp-exfil.pcap"  # and here clean -> malicious
WAIT_S = 180


@dataclass(slots=True)
class Sink:
    got: list[tuple[str, bytes, Event]] = field(default_factory=list)

    def flow_events(self) -> list[FlowsEnriched | FlowsRetracted]:
        return [e for _, _, e in self.got if isinstance(e, FlowsEnriched | FlowsRetracted)]


@dataclass(slots=True)
class Stack:
    ctx: Context
    feeds: FeedStore
    public: Sink
    private: Sink
    work: Path


async def _bind(
    ch: aio_pika.abc.AbstractChannel, exchange: str, keys: list[str], sink: Sink
) -> None:
    ex = await ch.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    q = await ch.declare_queue(exclusive=True)
    for key in keys:
        await q.bind(ex, key)

    async def on_message(msg: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with msg.process():
            sink.got.append((msg.routing_key or "", msg.body, decode(msg.body)))

    await q.consume(on_message)


@pytest.fixture
async def stack(tmp_path: Path, tshark: str) -> AsyncIterator[Stack]:
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        data_dir=tmp_path / "data",
        bus_url=RABBIT_URL,
        bus_exchange=f"test.private.{run}",
        bus_queue_prefix=f"test.private.{run}.",
        blob_url=f"file://{tmp_path / 'blobs'}",
        index_url=f"tantivy://{tmp_path / 'index'}",
        tshark_path=tshark,
        intel_poll_interval_s=3600,  # the test reloads the feeds itself
    )
    ctx = make_context(settings)
    await start_context(ctx)
    conn = await aio_pika.connect(RABBIT_URL, timeout=15)
    public, private = Sink(), Sink()
    ch = await conn.channel()
    # The README's subscriber, one bound to a single public verdict, and a private consumer.
    await _bind(ch, settings.bus_exchange, ["capture.*", "flows.#"], public)
    await _bind(ch, settings.bus_exchange, ["flows.enriched.malicious"], public)
    await _bind(ch, settings.bus_exchange, ["private.#"], private)
    await ParserWorker(ctx).start()
    feeds = await start_enricher(ctx)
    try:
        yield Stack(ctx, feeds, public, private, tmp_path)
    finally:
        await ctx.bus.stop_consuming()
        await feeds.stop()
        await conn.close()
        delete = getattr(ctx.bus, "delete_declared_queues", None)
        if delete is not None:
            await delete()
        await close_context(ctx)


async def _upload(s: Stack, name: str, *, reanalyze: bool, visibility: Any, owner: str) -> str:
    upload = spooled((PCAPS / name).read_bytes(), s.work, name)
    reg = await register_capture(
        s.ctx, upload, reanalyze=reanalyze, visibility=visibility, owner=owner
    )
    assert reg.queued
    return reg.capture_id


async def _analysed(s: Stack, cids: list[str], generation: int) -> None:
    """Until every capture's document says this run is done (not by its events: which keys
    capture.* events use is not what this test is about)."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        docs = [await s.ctx.captures.get(c) for c in cids]
        if all(d and d.get("status") == "done" and d.get("generation") == generation for d in docs):
            break
        assert asyncio.get_running_loop().time() < deadline, f"run {generation} not done"
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # the run's events were published before the document said done


async def _indexed(s: Stack, cid: str) -> set[str]:
    result = await s.ctx.index.search_flows(
        parse_query("pcaptotal.verdict:(clean OR suspicious OR malicious)"),
        capture_id=cid,
        limit=10_000,
    )
    return {
        str(h.get("event.id") or h["_id"])
        for h in result.hits
        if h.get("event.dataset", "flow") == "flow"
    }


async def test_public_subscribers_never_receive_private_flows(stack: Stack) -> None:
    s = stack
    pub = await _upload(s, PUBLIC_PCAP, reanalyze=False, visibility="public", owner="bob")
    priv = await _upload(s, PRIVATE_PCAP, reanalyze=False, visibility="private", owner="alice")
    await _analysed(s, [pub, priv], 1)
    intel = s.ctx.settings.resolved_intel_dir
    intel.mkdir(parents=True, exist_ok=True)
    (intel / "feodo_ipblocklist.csv").write_text(FEODO)
    (intel / "threatfox_export.csv").write_text(THREATFOX)
    assert await s.feeds.reload(force=True)
    await _upload(s, PUBLIC_PCAP, reanalyze=True, visibility="public", owner="bob")
    await _upload(s, PRIVATE_PCAP, reanalyze=True, visibility="private", owner="alice")
    await _analysed(s, [pub, priv], 2)

    # Public keys: the public capture's events, nothing of the private one.
    public_flows = s.public.flow_events()
    assert {e.capture_id for _, _, e in s.public.got} == {pub}
    assert all(e.visibility == "public" and e.owner is None for _, _, e in s.public.got)
    assert all(not k.startswith("private.") for k, _, _ in s.public.got)
    assert all(priv.encode() not in b and b"alice" not in b for _, b, _ in s.public.got)
    assert {e.type for _, _, e in s.public.got} >= {"capture.stored", "capture.analyzed"}
    assert any(isinstance(e, FlowsRetracted) for e in public_flows)  # the rule covers both
    assert any(k == "flows.enriched.malicious" for k, _, _ in s.public.got)
    published = {
        f["event.id"] for e in public_flows if isinstance(e, FlowsEnriched) for f in e.flows
    }
    assert published == await _indexed(s, pub)

    # Private keys: exactly the private capture's events, marked private with the owner.
    private_flows = s.private.flow_events()
    assert {e.capture_id for _, _, e in s.private.got} == {priv}
    for key, _, e in s.private.got:
        assert key == routing_key(e) and key.startswith("private.")
        assert (e.visibility, e.owner) == ("private", "alice")
    types = {e.type for _, _, e in s.private.got}
    assert types == {"capture.stored", "capture.parsed", "flows.enriched", "flows.retracted",
                     "capture.analyzed"}  # fmt: skip
    second = [e for e in private_flows if e.generation == 2]
    enriched = {f["event.id"] for e in second if isinstance(e, FlowsEnriched) for f in e.flows}
    assert enriched == await _indexed(s, priv)
    retracted = [e for e in second if isinstance(e, FlowsRetracted)]
    assert retracted and {e.verdict for e in retracted} == {"clean"}
    assert {k for k, _, e in s.private.got if isinstance(e, FlowsRetracted)} == {
        "private.flows.retracted.clean"
    }
