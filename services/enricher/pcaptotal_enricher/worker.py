"""Enricher worker: capture.parsed → threat intel, heuristics, verdicts → indexed flows,
``flows.enriched.<verdict>`` batches and ``capture.analyzed``."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import structlog
from pcaptotal.captures import Status
from pcaptotal.context import Context
from pcaptotal.failures import fail_capture
from pcaptotal.keys import parsed_key
from pcaptotal.memory import SharedStrings, release_memory
from pcaptotal.messages import (
    CaptureAnalyzed,
    CaptureParsed,
    PerVerdict,
    message_id,
    scoped_key,
)
from pcaptotal.metrics import STAGE_SECONDS, count_intel_hits
from pcaptotal.ports import BlobNotFound, Delivery
from pcaptotal.progress import Counter, ProgressReporter
from pcaptotal.reconcile import fail_dead_letter
from pcaptotal.records import iter_numbered, local_records, surely_not_flow
from pcaptotal.resilience import redelivery_delay

from pcaptotal_enricher import published
from pcaptotal_enricher.enrich import Enrichment, apply_enrichments
from pcaptotal_enricher.events import Published, Run, publish_enriched, publish_retractions
from pcaptotal_enricher.heuristics.config import DetectionConfig, resolve
from pcaptotal_enricher.records import finding_records, finding_summary, is_flow
from pcaptotal_enricher.verdict import CaptureAnalysis, analyse_capture

log = structlog.get_logger(__name__)

QUEUE = "enricher"
# Records per add_flows call. Each call is one commit on tantivy (an fsync'd segment: with
# 2,000 a 200 MB flow-heavy capture made 38 commits and spent more time in them than in
# indexing) and one refresh on Elasticsearch; 10,000 keeps the converted batch to a few tens
# of MB.
INDEX_BATCH = 10_000


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
        keys = ["capture.parsed", scoped_key("capture.parsed", "private")]
        await self._ctx.bus.subscribe(QUEUE, keys, self.handle, prefetch=prefetch)
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
                try:
                    await self._enrich(event)
                finally:
                    gc.unfreeze()  # see _enrich
            # the capture's flows are garbage now: hand their memory back (see pcaptotal.memory)
            await asyncio.to_thread(release_memory)
        except BlobNotFound:
            await fail_capture(
                self._ctx,
                event.capture_id,
                "enrich",
                f"parsed records {parsed_key(event.capture_id)} are missing from the blob store; "
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
        doc = await ctx.captures.get(cid)
        current = doc.get("analysis_id") if doc else None
        if current is not None and current != str(event.analysis_id):
            # A re-analysis started since this run was queued: its events would be stale.
            log.info("superseded run dropped", capture_id=cid, analysis_id=str(event.analysis_id))
            return
        doc = await ctx.captures.update(cid, Status.ENRICHING)
        counter = Counter(
            "enriching",
            int(doc.get("size") or 0),
            packets_total=event.summary.packets,
            packets_processed=event.summary.packets,
        )
        counter.bytes_processed = counter.bytes_total
        # half the stage is reading the records (their count is known from the parser), the
        # other half indexing them with the findings: records_total counts both passes
        expected = max(1, event.flow_count)
        counter.records_total = 2 * expected
        async with (
            ProgressReporter(ctx.captures, cid, counter),
            local_records(ctx.blobs, parsed_key(cid), ctx.settings.tmp_dir) as path,
        ):
            # Heuristics (beaconing, scans) need the whole capture's flows in memory; the
            # other records (dns/http/tls/file, ~40 % of them) are indexed as they are, so
            # they are only counted here and read again from the file when indexed.
            flows: list[dict[str, Any]] = []
            others: set[int] = set()  # their line numbers

            def maybe_flow(i: int, line: bytes) -> bool:
                if surely_not_flow(line):
                    others.add(i)
                    return False
                return True

            # the flows' repeated values as one object each (the few other records decoded
            # here are dropped below)
            strings = SharedStrings()
            async for batch in iter_numbered(path, wanted=maybe_flow, each=strings.share):
                for i, record in batch:
                    if is_flow(record):
                        flows.append(record)
                    else:
                        others.add(i)
                counter.records_processed = min(len(flows) + len(others), expected)
            strings.clear()  # the table; the flows keep their values
            # The flows (~1 million objects per 50,000) live until the end: the cyclic
            # collector need not walk them again at every collection the steps below trigger.
            gc.freeze()
            analysis = await asyncio.to_thread(self._analyse, flows)
            findings = finding_records(cid, analysis.flows, analysis.findings)
            count_intel_hits(analysis.flows)
            record_count = len(analysis.flows) + len(others) + len(findings)
            counter.records_total = 2 * record_count
            counter.records_processed = record_count
            # Replace, don't merge: a re-run must not leave flows of an earlier parse behind.
            with STAGE_SECONDS.labels("index").time():
                await ctx.index.delete_flows(cid)
                batches = _Batches(ctx, counter)
                await batches.add(analysis.flows)
                async for batch in iter_numbered(path, wanted=lambda i, _: i in others):
                    await batches.add([record for _, record in batch])
                await batches.add(findings)
                await batches.flush()
        per_verdict = await self._publish_flows(event, analysis.flows, doc)
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
            finding_count=len(findings),  # the findings are records (event.dataset:finding)
            finding_summary=finding_summary(findings),
            record_count=record_count,
            flow_verdicts=analysis.flow_verdicts,
            analysis_id=str(event.analysis_id),
            generation=event.generation,
        )
        scope = Run.of_capture(cid, event.analysis_id, event.generation, doc)
        await ctx.bus.publish(
            CaptureAnalyzed(
                id=message_id(event.analysis_id, "capture.analyzed"),
                capture_id=cid,
                analysis_id=event.analysis_id,
                generation=event.generation,
                visibility=scope.visibility,  # a private capture's events stay private
                owner=scope.owner,
                summary=event.summary,
                flows_indexed=len(analysis.flows),
                warnings=event.warnings,
                verdict=verdict,
                risk_score=round(analysis.score, 1),
                reasons=analysis.reasons,
                tags=analysis.tags,
                per_verdict=per_verdict,
            )
        )
        log.info(
            "capture analysed",
            capture_id=cid,
            flows=len(flows),
            verdict=verdict,
            generation=event.generation,
        )

    async def _publish_flows(
        self, event: CaptureParsed, flows: list[dict[str, Any]], doc: dict[str, Any]
    ) -> PerVerdict:
        """Retractions against the previous run, then this run's batches (a private
        capture's under the private keys); remembers what each verdict carried."""
        ctx = self._ctx
        cid = event.capture_id
        run = Run.of_capture(cid, event.analysis_id, event.generation, doc)
        current = published.by_verdict(flows)
        previous = await published.load(ctx.blobs, cid)
        retracted = published.plan_retractions(previous, str(event.analysis_id), current)
        sent = Published()
        await publish_retractions(ctx.bus, run, retracted, sent)
        await publish_enriched(ctx.bus, run, flows, sent)
        state = published.PublishedState(
            str(event.analysis_id), event.generation, current, retracted
        )
        await published.save(ctx.blobs, cid, state)
        return sent.per_verdict()


class _Batches:
    """Records to the index ``INDEX_BATCH`` at a time, whichever pass they come from."""

    def __init__(self, ctx: Context, counter: Counter) -> None:
        self._ctx = ctx
        self._counter = counter
        self._pending: list[dict[str, Any]] = []

    async def add(self, records: list[dict[str, Any]]) -> None:
        self._pending.extend(records)
        while len(self._pending) >= INDEX_BATCH:
            await self._send(INDEX_BATCH)

    async def flush(self) -> None:
        if self._pending:
            await self._send(len(self._pending))

    async def _send(self, n: int) -> None:
        batch, self._pending = self._pending[:n], self._pending[n:]
        await self._ctx.index.add_flows(batch)
        self._counter.records_processed += len(batch)
