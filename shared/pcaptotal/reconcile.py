"""No capture is ever stuck: the outbox relay, re-driving stuck captures, failing dead letters.

Three ways a capture can be left unfinished, and what ends each one:
- its ``capture.stored`` never reached the bus (broker down, crash): the outbox relay
  publishes it once the bus is back;
- its message was lost or its worker hangs: a capture whose status has not moved for longer
  than that stage may take is re-driven (published again from the start; stages are
  idempotent), at most ``max_redrives`` times, then failed with the reason;
- its worker died on it again and again (repeated OOM kills): the broker dead-letters the
  message and the dead-letter handler fails the capture with that reason.

The decisions are pure functions of the capture document and the clock; ``Reconciler`` runs
them periodically (in ingest and in the all-in-one runner).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import structlog

from pcaptotal import outbox
from pcaptotal.captures import UNFINISHED, Status
from pcaptotal.context import Context
from pcaptotal.deletion import expire
from pcaptotal.failures import fail_capture
from pcaptotal.keys import capture_key
from pcaptotal.messages import CaptureStored, Stage
from pcaptotal.metrics import RECONCILE_ACTIONS
from pcaptotal.ports import Delivery
from pcaptotal.runs import current_run, next_run
from pcaptotal.settings import Settings

log = structlog.get_logger(__name__)

REDRIVES_FIELD = "redrives"


class Action(StrEnum):
    KEEP = "keep"
    REDRIVE = "redrive"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str = ""
    counts: bool = True  # whether a re-drive uses up one of max_redrives


@dataclass(frozen=True, slots=True)
class StuckPolicy:
    """How long each unfinished status may last before the capture counts as stuck."""

    stored_s: float
    parsing_s: float
    enriching_s: float
    max_redrives: int

    @classmethod
    def from_settings(cls, s: Settings) -> StuckPolicy:
        return cls(
            stored_s=s.stuck_stored_s,
            parsing_s=s.parse_timeout_s + s.stuck_parsing_margin_s,
            enriching_s=s.stuck_enriching_s,
            max_redrives=s.max_redrives,
        )

    def limit(self, status: str) -> float | None:
        return {
            Status.STORED.value: self.stored_s,
            Status.PARSING.value: self.parsing_s,
            Status.ENRICHING.value: self.enriching_s,
        }.get(status)


def _updated_ts(doc: dict[str, Any]) -> float | None:
    raw = doc.get("updated")
    if not isinstance(raw, str):
        return None
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def decide_stuck(doc: dict[str, Any], now: float, policy: StuckPolicy) -> Decision:
    """A capture whose status has not moved for longer than its stage may take."""
    status = str(doc.get("status", ""))
    limit = policy.limit(status)
    updated = _updated_ts(doc)
    if limit is None or updated is None or now - updated <= limit:
        return Decision(Action.KEEP)
    redrives = int(doc.get(REDRIVES_FIELD) or 0)
    age = round(now - updated)
    if redrives >= policy.max_redrives:
        return Decision(
            Action.FAIL,
            f"stuck in '{status}' for {age} s after {redrives} re-drives; not retried again "
            "(check that parser and enricher workers are running)",
        )
    return Decision(Action.REDRIVE, f"no progress in '{status}' for {age} s")


def decide_interrupted(doc: dict[str, Any], policy: StuckPolicy) -> Decision:
    """On start of a process whose bus kept nothing (the in-process bus): every unfinished
    capture is re-driven. One that was being worked on when the process stopped counts
    against ``max_redrives``, so a capture that kills the process each time (out of memory)
    fails instead of taking it down forever; merely queued ones do not count."""
    status = str(doc.get("status", ""))
    if status == Status.STORED.value:
        return Decision(Action.REDRIVE, "queued when the service stopped", counts=False)
    redrives = int(doc.get(REDRIVES_FIELD) or 0)
    if redrives >= policy.max_redrives:
        return Decision(
            Action.FAIL,
            f"the service stopped {redrives + 1} times while this capture was in '{status}' "
            "(killed or crashed, for example out of memory); not retried again",
        )
    return Decision(Action.REDRIVE, f"interrupted in '{status}' when the service stopped")


def dead_letter_reason(stage: str, delivery: Delivery) -> str:
    why = delivery.dead_reason or "dead-lettered by the broker"
    return f"the {stage} stage gave up on this capture: {why}; not retried again"


async def fail_dead_letter(ctx: Context, stage: Stage, delivery: Delivery) -> None:
    """Dead-letter handler: fail the capture with the broker's reason (unless it already
    finished; a stale duplicate may die after its capture was done)."""
    cid = delivery.event.capture_id
    doc = await ctx.captures.get(cid)
    if doc is not None and doc.get("status") in (Status.DONE.value, Status.FAILED.value):
        log.info("dead letter for a finished capture ignored", capture_id=cid, stage=stage)
        return
    reason = dead_letter_reason(stage, delivery)
    log.error("capture failed from dead letter", capture_id=cid, stage=stage, reason=reason)
    await fail_capture(ctx, cid, stage, reason)


class Reconciler:
    """Runs the outbox relay and the stuck-capture sweep every ``reconcile_interval_s``."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._policy = StuckPolicy.from_settings(ctx.settings)
        self._task: asyncio.Task[None] | None = None
        self._expired_at: float | None = None  # last retention pass (monotonic)

    async def start(self, *, interrupted: bool = False) -> None:
        if interrupted:
            await self.resume_interrupted()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        interval = self._ctx.settings.reconcile_interval_s
        while True:
            await asyncio.sleep(interval)
            try:
                await self.run_once()
            except Exception as exc:  # a dependency is down: the next pass tries again
                log.warning("reconcile pass failed", error=repr(exc))

    async def run_once(self, now: float | None = None) -> None:
        await self.relay_outbox(now)
        await self.sweep(now)
        await self.expire()

    async def expire(self, *, force: bool = False) -> list[str]:
        """Retention (``PCAPTOTAL_RETENTION_DAYS``), every ``retention_interval_s``."""
        settings = self._ctx.settings
        tick = time.monotonic()
        if settings.retention_days <= 0:
            return []
        last = self._expired_at
        if not force and last is not None and tick - last < settings.retention_interval_s:
            return []
        self._expired_at = tick
        return await expire(self._ctx.index, self._ctx.blobs, settings.retention_days)

    async def _publish(self, event: CaptureStored) -> bool:
        try:
            await asyncio.wait_for(
                self._ctx.bus.publish(event), self._ctx.settings.publish_timeout_s
            )
            return True
        except Exception as exc:
            log.warning(
                "outbox relay: bus unavailable", capture_id=event.capture_id, error=repr(exc)
            )
            return False

    async def relay_outbox(self, now: float | None = None) -> int:
        ctx = self._ctx
        now = time.time() if now is None else now
        sent = 0
        for item in await outbox.pending(ctx.blobs):
            if now - item.written_at < ctx.settings.outbox_grace_s:
                continue  # ingest may still be publishing it itself
            cid = item.event.capture_id
            doc = await ctx.captures.get(cid)
            if doc is None or doc.get("status") != Status.STORED.value:
                await outbox.remove(ctx.blobs, cid)  # already taken up (or gone)
                continue
            if not await self._publish(item.event):
                break  # bus down: the rest waits for the next pass
            await outbox.remove(ctx.blobs, cid)
            RECONCILE_ACTIONS.labels("relay").inc()
            log.info("outbox relay published", capture_id=cid)
            sent += 1
        return sent

    async def sweep(self, now: float | None = None) -> int:
        ctx = self._ctx
        now = time.time() if now is None else now
        docs = await ctx.index.find_captures([s.value for s in UNFINISHED], limit=10_000)
        acted = 0
        waiting = {p.event.capture_id for p in await outbox.pending(ctx.blobs)}
        for doc in docs:
            if doc["id"] in waiting:
                continue  # the relay owns it
            decision = decide_stuck(doc, now, self._policy)
            if decision.action is not Action.KEEP:
                await self._apply(doc, decision)
                acted += 1
        return acted

    async def resume_interrupted(self) -> int:
        ctx = self._ctx
        docs = await ctx.index.find_captures([s.value for s in UNFINISHED], limit=10_000)
        for doc in docs:
            await self._apply(doc, decide_interrupted(doc, self._policy))
        return len(docs)

    async def _apply(self, doc: dict[str, Any], decision: Decision) -> None:
        ctx = self._ctx
        cid = str(doc["id"])
        if decision.action is Action.FAIL:
            RECONCILE_ACTIONS.labels("fail").inc()
            log.error("stuck capture failed", capture_id=cid, reason=decision.reason)
            await fail_capture(ctx, cid, "reconcile", decision.reason)
            return
        key = capture_key(cid)
        info = await ctx.blobs.stat(key)
        if info is None:
            RECONCILE_ACTIONS.labels("fail").inc()
            await fail_capture(
                ctx, cid, "reconcile", "capture bytes are missing from the blob store; upload again"
            )
            return
        redrives = int(doc.get(REDRIVES_FIELD) or 0) + (1 if decision.counts else 0)
        # A re-drive retries the same analysis run (same analysis_id and generation).
        run = current_run(doc) or next_run(doc)
        await ctx.captures.update(cid, Status.STORED, **{REDRIVES_FIELD: redrives}, **run.fields())
        event = CaptureStored(
            capture_id=cid, **run.envelope(), size=info.size, filename=doc.get("filename")
        )
        # Through the outbox: if the bus is down now, the relay sends it later.
        await outbox.add(ctx.blobs, event)
        if await self._publish(event):
            await outbox.remove(ctx.blobs, cid)
        RECONCILE_ACTIONS.labels("redrive").inc()
        log.warning("capture re-driven", capture_id=cid, reason=decision.reason, redrives=redrives)
