"""Enricher worker: capture.parsed → threat intel, heuristics, verdicts → indexed flows,
``flows.enriched.<verdict>`` batches and ``capture.analyzed``."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from pcaptotal.captures import Status
from pcaptotal.context import Context
from pcaptotal.failures import fail_capture
from pcaptotal.messages import CaptureAnalyzed, CaptureParsed
from pcaptotal.metrics import STAGE_SECONDS
from pcaptotal.ports import BlobNotFound, Delivery
from pcaptotal.reconcile import fail_dead_letter
from pcaptotal.records import iter_records
from pcaptotal.resilience import redelivery_delay

from pcaptotal_enricher.enrich import Enrichment, apply_enrichments
from pcaptotal_enricher.events import publish_enriched
from pcaptotal_enricher.heuristics.config import DetectionConfig, resolve
from pcaptotal_enricher.verdict import CaptureAnalysis, analyse_capture

log = structlog.get_logger(__name__)

QUEUE = "enricher"
INDEX_BATCH = 2000
MAX_FINDINGS_ON_CAPTURE = 200


class EnricherWorker:
    """``steps`` run per flow (threat-intel matching); heuristics and verdicts then see the
    whole capture at once."""

    def __init__(
        self,
        ctx: Context,
        steps: list[Enrichment] | None = None,
        detection: DetectionConfig | None = None,
    ) -> None:
        self._ctx = ctx
        self._steps = steps or []
        self._detection = detection or resolve(ctx.settings)

    async def start(self, prefetch: int = 2) -> None:
        await self._ctx.bus.subscribe(QUEUE, ["capture.parsed"], self.handle, prefetch=prefetch)
        await self._ctx.bus.subscribe_dead_letters(QUEUE, self.handle_dead)

    async def handle_dead(self, delivery: Delivery) -> None:
        """A message the broker gave up on: fail its capture with that reason."""
        if isinstance(delivery.event, CaptureParsed):
            await fail_dead_letter(self._ctx, "enrich", delivery)

    async def handle(self, delivery: Delivery) -> None:
        event = delivery.event
        if not isinstance(event, CaptureParsed):
            return
        try:
            with STAGE_SECONDS.labels("enrich").time():
                await self._enrich(event)
        except BlobNotFound:
            await fail_capture(
                self._ctx,
                event.capture_id,
                "enrich",
                f"parsed records {event.parsed_key} are missing from the blob store; "
                "re-analyse the capture",
            )
        except Exception as exc:
            if not delivery.is_last_attempt:
                log.warning("enrich attempt failed", capture_id=event.capture_id, error=repr(exc))
                await asyncio.sleep(redelivery_delay(delivery.attempt))
                raise
            log.exception("enrich failed", capture_id=event.capture_id)
            await fail_capture(
                self._ctx, event.capture_id, "enrich", f"internal error in enricher: {exc!r}"
            )

    def _analyse(self, flows: list[dict[str, Any]]) -> CaptureAnalysis:
        # CPU-bound: runs in a worker thread, never on the event loop.
        flows = apply_enrichments(flows, self._steps)
        return analyse_capture(flows, self._detection)

    async def _enrich(self, event: CaptureParsed) -> None:
        ctx = self._ctx
        cid = event.capture_id
        await ctx.captures.update(cid, Status.ENRICHING)
        # Heuristics (beaconing, scans) need the whole capture: one capture's flows in memory.
        flows: list[dict[str, Any]] = []
        async for batch in iter_records(ctx.blobs, event.parsed_key, ctx.settings.tmp_dir):
            flows.extend(batch)
        analysis = await asyncio.to_thread(self._analyse, flows)
        # Replace, don't merge: a re-run must not leave flows of an earlier parse behind.
        await ctx.index.delete_flows(cid)
        for i in range(0, len(analysis.flows), INDEX_BATCH):
            await ctx.index.add_flows(analysis.flows[i : i + INDEX_BATCH])
        batches = await publish_enriched(ctx.bus, cid, analysis.flows)
        verdict = analysis.verdict.value
        await ctx.captures.update(
            cid,
            Status.DONE,
            summary=event.summary.model_dump(),
            warnings=event.warnings,
            flows_indexed=len(analysis.flows),
            verdict=verdict,
            score=round(analysis.score, 1),
            reasons=analysis.reasons,
            tags=analysis.tags,
            findings=analysis.findings[:MAX_FINDINGS_ON_CAPTURE],
            flow_verdicts=analysis.flow_verdicts,
        )
        await ctx.bus.publish(
            CaptureAnalyzed(
                capture_id=cid,
                summary=event.summary,
                flows_indexed=len(analysis.flows),
                warnings=event.warnings,
                verdict=verdict,
                score=round(analysis.score, 1),
                reasons=analysis.reasons,
                tags=analysis.tags,
            )
        )
        log.info(
            "capture analysed", capture_id=cid, flows=len(flows), verdict=verdict, batches=batches
        )
