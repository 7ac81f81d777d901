"""Enricher worker: capture.parsed → threat intel, heuristics, verdicts → indexed flows,
``flows.enriched.<verdict>`` batches and ``capture.analyzed``.

The worker streams a capture's records a batch at a time; only the analysis (``analysis``, in
a child process for large captures) holds all of its flows.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import structlog
from pcaptotal.access.stamping import capture_stamp
from pcaptotal.captures import Status
from pcaptotal.context import Context
from pcaptotal.failures import fail_capture
from pcaptotal.keys import parsed_key
from pcaptotal.memory import release_memory
from pcaptotal.messages import (
    CaptureAnalyzed,
    CaptureParsed,
    Verdict,
    message_id,
    scoped_key,
)
from pcaptotal.metrics import STAGE_SECONDS, count_intel_hits
from pcaptotal.ports import BlobNotFound, Delivery
from pcaptotal.progress import Counter, ProgressReporter
from pcaptotal.reconcile import fail_dead_letter
from pcaptotal.records import (
    RecordsWriter,
    iter_numbered,
    local_records,
    surely_not_flow,
)
from pcaptotal.resilience import redelivery_delay

from pcaptotal_enricher import published
from pcaptotal_enricher.analysis import AnalysisJob, AnalysisOutcome, Report, analyse_file
from pcaptotal_enricher.chunks import read_chunk
from pcaptotal_enricher.enrich import Enrichment, apply_enrichments
from pcaptotal_enricher.events import (
    EnrichedPublisher,
    Published,
    Run,
    publish_retractions,
)
from pcaptotal_enricher.heuristics.config import DetectionConfig, resolve
from pcaptotal_enricher.isolated import AnalysisTooBig, analyse_in_child
from pcaptotal_enricher.records import is_flow
from pcaptotal_enricher.reports import Reports, failed

log = structlog.get_logger(__name__)

QUEUE = "enricher"
# Records per add_flows call. Each call is one commit on tantivy (an fsync'd segment: with
# 2,000 a 200 MB flow-heavy capture made 38 commits and spent more time in them than in
# indexing) and one refresh on Elasticsearch. 5,000 (~25 MB of records) rather than 10,000:
# on the 1 GB capture the enricher's anonymous peak fell by ~60 MB with the fixed mmap
# threshold (``pcaptotal.memory``), at the same flows/s (bench/enrich.py, medians of 3).
INDEX_BATCH = 5_000


class EnricherWorker:
    """``steps`` run on the flows a batch at a time (threat-intel matching, in the worker,
    which keeps the feeds loaded); heuristics and verdicts then see the whole capture at once
    (``analysis``)."""

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
                await self._enrich(event)
            # the capture's flows are garbage now: hand their memory back (see pcaptotal.memory)
            await asyncio.to_thread(release_memory)
        except AnalysisTooBig as exc:
            await fail_capture(self._ctx, event.capture_id, "enrich", str(exc))
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
            # The flows go through the per-flow steps a batch at a time into a file of their
            # own, which the analysis reads; the other records (dns/http/tls/file, ~40 % of
            # them) are indexed as they are, read again from the parser's file.
            previous = path.with_name("published-before.json.zst")
            had_previous = await published.fetch(ctx.blobs, cid, previous)
            visibility, owner = capture_stamp(doc)
            job = AnalysisJob(
                capture_id=cid,
                flows_path=path.with_name("flows.ndjson.zst"),
                out_dir=path.parent,
                chunk_records=INDEX_BATCH,
                record_format=ctx.index.record_format,
                visibility=visibility,
                owner=owner,
                detection=self._detection,
                analysis_id=str(event.analysis_id),
                generation=event.generation,
                state_path=path.with_name("published.json.zst"),
                previous_state=previous if had_previous else None,
            )
            flow_count, others = await self._through_steps(path, job.flows_path, counter, expected)
            record_count = flow_count + len(others)  # and the findings, once known
            counter.records_total = 2 * record_count
            counter.records_processed = record_count
            with STAGE_SECONDS.labels("index").time():
                # Replace, don't merge: a re-run must not leave records of an earlier parse.
                await ctx.index.delete_flows(cid)
                reports = Reports()
                analysis = asyncio.create_task(self._analyse(job, flow_count, reports))
                try:
                    outcome = await self._index_others(path, others, counter, reports, analysis)
                    counter.records_total += 2 * outcome.finding_count
                    counter.records_processed += outcome.finding_count
                    record_count += outcome.finding_count
                    # each chunk of flows is published once it is in the index
                    publisher = await self._start_publishing(event, outcome, doc)
                    await self._index_chunks(reports, analysis, outcome, publisher, counter)
                except BaseException:
                    analysis.cancel()
                    await asyncio.gather(analysis, return_exceptions=True)
                    if failed(analysis):  # what went in comes out again
                        await asyncio.shield(ctx.index.delete_flows(cid))
                    raise
            per_verdict = await publisher.finish()
            # what each verdict carried, for the next run: the analysis wrote it
            await published.upload(ctx.blobs, cid, job.state_path)
        await ctx.captures.update(
            cid,
            Status.DONE,
            summary=event.summary.model_dump(),
            warnings=event.warnings,
            flows_indexed=outcome.flow_count,
            verdict=outcome.verdict.value,
            score=outcome.score,
            reasons=outcome.reasons,
            tags=outcome.tags,
            finding_count=outcome.finding_count,  # the findings are records (event.dataset:finding)
            finding_summary=outcome.finding_summary,
            record_count=record_count,
            flow_verdicts=outcome.flow_verdicts,
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
                flows_indexed=outcome.flow_count,
                warnings=event.warnings,
                verdict=outcome.verdict.value,
                risk_score=outcome.score,
                reasons=outcome.reasons,
                tags=outcome.tags,
                per_verdict=per_verdict,
            )
        )
        log.info(
            "capture analysed",
            capture_id=cid,
            flows=outcome.flow_count,
            verdict=outcome.verdict.value,
            generation=event.generation,
        )

    async def _through_steps(
        self, path: Path, flows_path: Path, counter: Counter, expected: int
    ) -> tuple[int, set[int]]:
        """The flows of ``path``, each through the steps, to ``flows_path``: how many, and
        the line numbers of the other records."""
        others: set[int] = set()

        def maybe_flow(i: int, line: bytes) -> bool:
            if surely_not_flow(line):
                others.add(i)
                return False
            return True

        def through(flows: list[dict[str, Any]]) -> None:
            # CPU-bound (intel matching): in a worker thread, never on the event loop
            flows = apply_enrichments(flows, self._steps)
            count_intel_hits(flows)
            writer.write(flows)

        writer = await asyncio.to_thread(RecordsWriter, flows_path)
        try:
            async for batch in iter_numbered(path, wanted=maybe_flow):
                flows: list[dict[str, Any]] = []
                for i, record in batch:
                    if is_flow(record):
                        flows.append(record)
                    else:
                        others.add(i)
                await asyncio.to_thread(through, flows)
                counter.records_processed = min(writer.count + len(others), expected)
        finally:
            await asyncio.to_thread(writer.close)
        return writer.count, others

    async def _analyse(self, job: AnalysisJob, flows: int, reports: Reports) -> AnalysisOutcome:
        """In a child process from ``enricher_isolate_min_flows`` flows on (it holds the
        capture's flows and hands their memory back when it exits), else in a thread."""
        settings = self._ctx.settings
        isolate = settings.enricher_isolate_min_flows
        if isolate >= 0 and flows >= isolate:
            return await analyse_in_child(
                job, reports.put, memory_limit_mb=settings.enricher_memory_limit_mb
            )
        loop = asyncio.get_running_loop()

        def report(r: Report) -> None:  # from the analysis thread
            loop.call_soon_threadsafe(reports.put, r)

        return await asyncio.to_thread(analyse_file, job, report)

    async def _index_others(
        self,
        parsed: Path,
        others: set[int],
        counter: Counter,
        reports: Reports,
        analysis: asyncio.Task[AnalysisOutcome],
    ) -> AnalysisOutcome:
        """The parser's other records into the index while the analysis runs (a child
        process or a thread; the indexing mostly tantivy's threads: two cores busy at once);
        the analysis's outcome, once both are done."""
        batches = _Batches(self._ctx, counter)
        try:
            async for batch in iter_numbered(parsed, wanted=lambda i, _: i in others):
                if failed(analysis):  # no need to go on: what went in comes out again
                    analysis.result()
                await batches.add([record for _, record in batch])
            await batches.flush()
        finally:
            await batches.drain()
        first = await reports.next(analysis)
        if first is None or first.outcome is None:
            raise RuntimeError("the analysis reported no outcome first")
        return first.outcome

    async def _index_chunks(
        self,
        reports: Reports,
        analysis: asyncio.Task[AnalysisOutcome],
        outcome: AnalysisOutcome,
        publisher: EnrichedPublisher,
        counter: Counter,
    ) -> None:
        """Each chunk the analysis writes into the index as it comes (prepared records: the
        analysis encoded them), then its flows to the publisher: the previous chunk's while
        the index writes this one (the embedded index writes in a process of its own)."""
        index = self._ctx.index
        written = 0
        indexed: list[tuple[Verdict, bytes]] = []  # the last chunk's flows, not yet published
        while (report := await reports.next(analysis)) is not None:
            if report.chunk is None:
                continue
            path = report.chunk.path
            rows = await asyncio.to_thread(read_chunk, path)
            writing = asyncio.create_task(index.add_prepared(rows.records))
            await _publish_while(writing, publisher, indexed)
            # the records and their encodings (~5 KB a record) go now, before the flows are
            # published
            indexed = rows.events
            counter.records_processed += len(rows.records)
            written += len(rows.records)
            del rows
            await asyncio.to_thread(path.unlink)
        await _publish_while(None, publisher, indexed)
        expected = outcome.flow_count + outcome.finding_count
        if written != expected:
            raise RuntimeError(f"the analysis wrote {written} records of {expected}")

    async def _start_publishing(
        self, event: CaptureParsed, outcome: AnalysisOutcome, doc: dict[str, Any]
    ) -> EnrichedPublisher:
        """Retractions against the previous run (the analysis planned them); then the
        publisher of this run's batches (a private capture's under the private keys)."""
        ctx = self._ctx
        run = Run.of_capture(event.capture_id, event.analysis_id, event.generation, doc)
        sent = Published()
        await publish_retractions(ctx.bus, run, outcome.retracted, sent)
        return EnrichedPublisher(ctx.bus, run, sent)


async def _publish_while(
    writing: asyncio.Task[None] | None,
    publisher: EnrichedPublisher,
    flows: list[tuple[Verdict, bytes]],
) -> None:
    """``flows`` (already in the index; verdict and event JSON) to the publisher, then the end
    of ``writing``, which the index does meanwhile. Never leaves ``writing`` running."""
    try:
        for verdict, item in flows:
            await publisher.add_json(verdict, item)
    except BaseException:
        if writing is not None:
            await asyncio.gather(writing, return_exceptions=True)
        raise
    if writing is not None:
        await writing


class _Batches:
    """Records to the index ``INDEX_BATCH`` at a time, one write in flight while the next
    batch is read (the embedded index writes in a process of its own)."""

    def __init__(self, ctx: Context, counter: Counter) -> None:
        self._ctx = ctx
        self._counter = counter
        self._pending: list[dict[str, Any]] = []
        self._writing: asyncio.Task[int] | None = None

    async def add(self, records: list[dict[str, Any]]) -> None:
        self._pending.extend(records)
        while len(self._pending) >= INDEX_BATCH:
            await self._send(INDEX_BATCH)

    async def flush(self) -> None:
        if self._pending:
            await self._send(len(self._pending))
        await self._written()

    async def drain(self) -> None:
        """Wait for the write in flight, whatever it ends with (on the way out of a failure)."""
        if self._writing is not None:
            await asyncio.gather(self._writing, return_exceptions=True)
            self._writing = None

    async def _send(self, n: int) -> None:
        batch, self._pending = self._pending[:n], self._pending[n:]
        await self._written()
        self._writing = asyncio.create_task(self._write(batch))

    async def _write(self, batch: list[dict[str, Any]]) -> int:
        await self._ctx.index.add_flows(batch)
        return len(batch)

    async def _written(self) -> None:
        if self._writing is not None:
            writing, self._writing = self._writing, None
            self._counter.records_processed += await writing
