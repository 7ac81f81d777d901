"""Enricher worker: capture.parsed → enriched, indexed flows → capture.analyzed."""

from __future__ import annotations

import structlog
from pcaptotal.captures import Status
from pcaptotal.context import Context
from pcaptotal.failures import fail_capture
from pcaptotal.messages import CaptureAnalyzed, CaptureParsed
from pcaptotal.ports import BlobNotFound, Delivery
from pcaptotal.records import iter_records

from pcaptotal_enricher.enrich import Enrichment, apply_enrichments

log = structlog.get_logger(__name__)

QUEUE = "enricher"


class EnricherWorker:
    def __init__(self, ctx: Context, steps: list[Enrichment] | None = None) -> None:
        self._ctx = ctx
        self._steps = steps or []

    async def start(self, prefetch: int = 2) -> None:
        await self._ctx.bus.subscribe(QUEUE, ["capture.parsed"], self.handle, prefetch=prefetch)

    async def handle(self, delivery: Delivery) -> None:
        event = delivery.event
        if not isinstance(event, CaptureParsed):
            return
        try:
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
                raise
            log.exception("enrich failed", capture_id=event.capture_id)
            await fail_capture(
                self._ctx, event.capture_id, "enrich", f"internal error in enricher: {exc!r}"
            )

    async def _enrich(self, event: CaptureParsed) -> None:
        ctx = self._ctx
        cid = event.capture_id
        await ctx.captures.update(cid, Status.ENRICHING)
        # Replace, don't merge: a re-run must not leave flows of an earlier parse behind.
        await ctx.index.delete_flows(cid)
        indexed = 0
        async for batch in iter_records(ctx.blobs, event.parsed_key, ctx.settings.tmp_dir):
            flows = apply_enrichments(batch, self._steps)
            await ctx.index.add_flows(flows)
            indexed += len(flows)
        await ctx.captures.update(
            cid,
            Status.DONE,
            summary=event.summary.model_dump(),
            warnings=event.warnings,
            flows_indexed=indexed,
        )
        await ctx.bus.publish(
            CaptureAnalyzed(
                capture_id=cid,
                summary=event.summary,
                flows_indexed=indexed,
                warnings=event.warnings,
            )
        )
        log.info("capture analysed", capture_id=cid, flows=indexed)
