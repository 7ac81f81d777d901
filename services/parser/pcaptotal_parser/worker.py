"""The parser worker: ``capture.stored`` → tshark → flow records blob → ``capture.parsed``.

Thin handler: the work is in ``parse`` (tshark + flows) and ``records`` (the blob). Re-running
it for a capture overwrites its outputs. A capture tshark cannot read (or that times out) ends
``failed`` with tshark's reason; an unexpected error is retried by the bus and, on the last
attempt, fails the capture rather than disappearing into the dead-letter queue unexplained.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

import structlog
from pcaptotal.captures import Status
from pcaptotal.context import Context
from pcaptotal.failures import fail_capture
from pcaptotal.keys import capture_key
from pcaptotal.memory import release_memory
from pcaptotal.messages import CaptureParsed, CaptureStored, Stage, message_id, scoped_key
from pcaptotal.metrics import STAGE_SECONDS, observe_parse
from pcaptotal.ports import BlobNotFound, Delivery
from pcaptotal.progress import Counter, ProgressReporter, progress_document
from pcaptotal.reconcile import fail_dead_letter
from pcaptotal.records import upload_records
from pcaptotal.resilience import redelivery_delay
from structlog.typing import FilteringBoundLogger as BoundLogger

from pcaptotal_parser.files_store import store_files
from pcaptotal_parser.isolated import produce_in_child
from pcaptotal_parser.outcome import ParseJob, ParseOutcome, produce
from pcaptotal_parser.parse import MIB
from pcaptotal_parser.tshark import TsharkError

QUEUE = "parser"
STAGE: Stage = "parse"

log = structlog.get_logger(__name__)


class ParserWorker:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def start(self) -> None:
        keys = ["capture.stored", scoped_key("capture.stored", "private")]
        await self._ctx.bus.subscribe(
            QUEUE, keys, self.handle, prefetch=self._ctx.settings.parser_prefetch
        )
        await self._ctx.bus.subscribe_dead_letters(QUEUE, self.handle_dead)

    async def handle_dead(self, delivery: Delivery) -> None:
        """A message the broker gave up on (the parser died on it every time): fail its
        capture with that reason instead of leaving it ``parsing`` forever."""
        if isinstance(delivery.event, CaptureStored):
            await fail_dead_letter(self._ctx, STAGE, delivery)

    async def handle(self, delivery: Delivery) -> None:
        event = delivery.event
        if not isinstance(event, CaptureStored):
            return  # not ours: ack
        capture_id = event.capture_id
        bound = log.bind(capture_id=capture_id, attempt=delivery.attempt)
        try:
            with STAGE_SECONDS.labels(STAGE).time():
                await self._parse(event, bound)
        except TsharkError as exc:
            bound.warning("parse failed", reason=exc.reason)
            await fail_capture(self._ctx, capture_id, STAGE, exc.reason)
        except BlobNotFound:
            reason = f"the stored capture {capture_key(capture_id)} is missing from the blob store"
            bound.error("parse failed", reason=reason)
            await fail_capture(self._ctx, capture_id, STAGE, reason)
        except Exception as exc:
            if not delivery.is_last_attempt:
                bound.warning("parse error, will retry", error=repr(exc))
                await asyncio.sleep(redelivery_delay(delivery.attempt))
                raise
            bound.exception("parse error on last attempt")
            await fail_capture(self._ctx, capture_id, STAGE, f"internal error in parser: {exc}")

    async def _parse(self, event: CaptureStored, bound: BoundLogger) -> None:
        ctx = self._ctx
        settings = ctx.settings
        capture_id = event.capture_id
        doc = await ctx.captures.get(capture_id)
        current = doc.get("analysis_id") if doc else None
        if current is not None and current != str(event.analysis_id):
            # A re-analysis started since this run was queued: that run does the work.
            bound.info("superseded run dropped", analysis_id=str(event.analysis_id))
            return
        await ctx.captures.update(capture_id, Status.PARSING)
        tmp_root = settings.tmp_dir
        await asyncio.to_thread(tmp_root.mkdir, parents=True, exist_ok=True)
        work = Path(await asyncio.to_thread(tempfile.mkdtemp, "", "parse-", str(tmp_root)))
        try:
            capture = work / "capture"
            await ctx.blobs.get_to_file(capture_key(capture_id), capture)
            job = self._job(capture, capture_id, work)
            reporter = ProgressReporter(ctx.captures, capture_id, Counter("parsing", 0))
            async with reporter as counter:
                parsed = await self._produce(job, counter)
            await store_files(ctx.blobs, parsed.files)
            await upload_records(ctx.blobs, capture_id, job.records_path, parsed.record_count)
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
        summary = parsed.summary
        size = reporter.counter.bytes_total
        done = progress_document(
            "parsing",
            percent=100,
            bytes_processed=size,
            bytes_total=size,
            packets_processed=summary.packets,
            packets_total=summary.packets,
            eta_seconds=0,
        )
        await ctx.captures.update(
            capture_id, summary=summary.model_dump(), warnings=parsed.warnings, progress=done
        )
        await ctx.bus.publish(
            CaptureParsed(
                id=message_id(event.analysis_id, "capture.parsed"),
                capture_id=capture_id,
                analysis_id=event.analysis_id,
                generation=event.generation,
                visibility=event.visibility,  # a private capture's events stay private
                owner=event.owner,
                flow_count=parsed.flow_count,  # records: flows + dns/http/tls/file
                summary=summary,
                warnings=parsed.warnings,
            )
        )
        seconds = parsed.tshark_seconds
        observe_parse(summary.packets, summary.bytes, seconds)
        bound.info(
            "capture parsed",
            packets=summary.packets,
            flows=parsed.flow_count,
            records=parsed.record_count,
            seconds=round(seconds, 3),
            packets_per_s=round(summary.packets / seconds) if seconds else None,
            warnings=len(parsed.warnings),
            files=len(parsed.files),
            tshark_processes=parsed.parts,
            withheld_from_tshark=parsed.withheld,  # the prefilter's packets (parse.py)
        )

    def _job(self, capture: Path, capture_id: str, work: Path) -> ParseJob:
        settings = self._ctx.settings
        return ParseJob(
            capture=capture,
            capture_id=capture_id,
            work_dir=work,
            records_path=work / "records.ndjson.zst",
            tshark_path=settings.tshark_path,
            timeout_s=settings.parse_timeout_s,
            memory_limit_mb=settings.tshark_memory_limit_mb,
            workers=settings.parser_workers,
            split_min_bytes=settings.parser_split_min_mb * MIB,
            part_max_bytes=settings.parser_part_max_mb * MIB,
            prefilter=settings.parser_prefilter,
            sandbox_user=settings.tshark_sandbox_user,
        )

    async def _produce(self, job: ParseJob, counter: Counter) -> ParseOutcome:
        """In a child process from ``parser_isolate_min_mb`` on (``isolated``), else here."""
        settings = self._ctx.settings
        size = await asyncio.to_thread(os.path.getsize, job.capture)
        threshold = settings.parser_isolate_min_mb
        if threshold >= 0 and size >= threshold * MIB:
            return await produce_in_child(
                job, counter, memory_limit_mb=settings.parser_memory_limit_mb
            )
        parsed = await produce(job, counter)
        # the capture's flows are garbage now: hand their memory back (pcaptotal.memory)
        await asyncio.to_thread(release_memory)
        return parsed
