"""No capture stays stuck: outbox relay, stuck-capture re-drive with a bound, dead letters.

Runs on the embedded adapters (in-process bus, local blob directory, tantivy): no servers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pcaptotal import outbox
from pcaptotal.adapters.factory import close_context, make_context, start_context
from pcaptotal.captures import Status
from pcaptotal.context import Context
from pcaptotal.keys import capture_key
from pcaptotal.messages import CaptureFailed, CaptureStored, Envelope
from pcaptotal.ports import Delivery
from pcaptotal.reconcile import (
    Action,
    Reconciler,
    StuckPolicy,
    decide_interrupted,
    decide_stuck,
    fail_dead_letter,
)
from pcaptotal.settings import Settings

POLICY = StuckPolicy(stored_s=3600, parsing_s=1200, enriching_s=1800, max_redrives=3)
CID = "ab" * 32
RUN = uuid.uuid4()


def _doc(status: str, age_s: float, redrives: int = 0) -> dict[str, object]:
    updated = datetime.fromtimestamp(time.time() - age_s, UTC).isoformat()
    return {"id": CID, "status": status, "updated": updated, "redrives": redrives}


@pytest.mark.parametrize(
    ("status", "age", "redrives", "action"),
    [
        ("stored", 60, 0, Action.KEEP),  # queued behind others: normal
        ("stored", 4000, 0, Action.REDRIVE),
        ("parsing", 600, 0, Action.KEEP),  # within parse_timeout + margin
        ("parsing", 1300, 1, Action.REDRIVE),
        ("parsing", 1300, 3, Action.FAIL),
        ("enriching", 2000, 2, Action.REDRIVE),
        ("done", 10**6, 0, Action.KEEP),
        ("failed", 10**6, 9, Action.KEEP),
    ],
)
def test_decide_stuck(status: str, age: float, redrives: int, action: Action) -> None:
    decision = decide_stuck(_doc(status, age, redrives), time.time(), POLICY)
    assert decision.action is action
    if action is Action.FAIL:
        assert f"'{status}'" in decision.reason and "re-drives" in decision.reason


def test_interrupted_work_counts_but_queued_work_does_not() -> None:
    queued = decide_interrupted(_doc("stored", 5, redrives=3), POLICY)
    assert queued.action is Action.REDRIVE and not queued.counts
    working = decide_interrupted(_doc("parsing", 5, redrives=2), POLICY)
    assert working.action is Action.REDRIVE and working.counts
    killer = decide_interrupted(_doc("parsing", 5, redrives=3), POLICY)
    assert killer.action is Action.FAIL
    assert "out of memory" in killer.reason and "4 times" in killer.reason


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[Context]:
    settings = Settings(data_dir=tmp_path / "data", outbox_grace_s=0, publish_timeout_s=1)
    c = make_context(settings)
    await start_context(c)
    yield c
    await close_context(c)


async def _listen(c: Context) -> list[Envelope]:
    got: list[Envelope] = []

    async def handler(d: Delivery) -> None:
        got.append(d.event)

    await c.bus.subscribe("observer", ["capture.*"], handler)
    return got


async def _stored_capture(c: Context, status: Status, **fields: object) -> None:
    await c.blobs.put_bytes(capture_key(CID), b"capture bytes")
    await c.captures.create(CID, size=13, filename="x.pcap")
    await c.captures.update(CID, status, **fields)


async def _drain(c: Context) -> None:
    await c.bus.wait_idle()  # type: ignore[attr-defined]


async def test_outbox_relay_publishes_what_the_bus_missed(ctx: Context) -> None:
    got = await _listen(ctx)
    await _stored_capture(ctx, Status.STORED)
    event = CaptureStored(capture_id=CID, analysis_id=RUN, generation=1, size=13)
    await outbox.add(ctx.blobs, event)
    reconciler = Reconciler(ctx)
    # The sweep leaves a capture with an outbox entry to the relay.
    assert await reconciler.sweep(time.time() + 10**6) == 0
    assert await reconciler.relay_outbox() == 1
    await _drain(ctx)
    assert [e.capture_id for e in got if isinstance(e, CaptureStored)] == [CID]
    assert await outbox.pending(ctx.blobs) == []


async def test_outbox_entry_of_a_capture_already_taken_up_is_dropped(ctx: Context) -> None:
    got = await _listen(ctx)
    await _stored_capture(ctx, Status.PARSING)
    await outbox.add(
        ctx.blobs, CaptureStored(capture_id=CID, analysis_id=RUN, generation=1, size=1)
    )
    assert await Reconciler(ctx).relay_outbox() == 0
    await _drain(ctx)
    assert got == [] and await outbox.pending(ctx.blobs) == []


async def test_stuck_capture_is_redriven_then_failed(ctx: Context) -> None:
    got = await _listen(ctx)
    await _stored_capture(ctx, Status.PARSING)
    reconciler = Reconciler(ctx)
    later = time.time() + 10**5
    assert await reconciler.sweep(later) == 1
    await _drain(ctx)
    doc = await ctx.captures.get(CID)
    assert doc is not None and doc["status"] == "stored" and doc["redrives"] == 1
    assert [type(e) for e in got] == [CaptureStored]

    await ctx.captures.update(CID, Status.PARSING, redrives=3)
    assert await reconciler.sweep(later) == 1
    await _drain(ctx)
    doc = await ctx.captures.get(CID)
    assert doc is not None and doc["status"] == "failed"
    assert "stuck in 'parsing'" in doc["error"]
    assert isinstance(got[-1], CaptureFailed) and got[-1].stage == "reconcile"


async def test_capture_that_kills_the_process_each_time_fails(ctx: Context) -> None:
    await _stored_capture(ctx, Status.PARSING, redrives=3)
    await Reconciler(ctx).resume_interrupted()
    doc = await ctx.captures.get(CID)
    assert doc is not None and doc["status"] == "failed"
    assert "stopped 4 times" in doc["error"]


async def test_dead_letter_fails_the_capture_with_the_reason(ctx: Context) -> None:
    await _stored_capture(ctx, Status.PARSING)
    event = CaptureStored(capture_id=CID, analysis_id=RUN, generation=1, size=13)
    why = "delivered 3 times without being acknowledged"
    await fail_dead_letter(ctx, "parse", Delivery(event, 3, 3, dead_reason=why))
    doc = await ctx.captures.get(CID)
    assert doc is not None and doc["status"] == "failed"
    assert "parse stage gave up" in doc["error"] and why in doc["error"]
    # A late duplicate for a finished capture changes nothing.
    await ctx.captures.update(CID, Status.DONE)
    await fail_dead_letter(ctx, "parse", Delivery(event, 3, 3, dead_reason=why))
    doc = await ctx.captures.get(CID)
    assert doc is not None and doc["status"] == "done"
