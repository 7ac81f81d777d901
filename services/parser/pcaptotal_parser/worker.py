"""The parser worker: ``capture.stored`` → tshark → flow records blob → ``capture.parsed``.

Thin handler: the work is in ``parse`` (tshark + flows) and ``records`` (the blob). Re-running
it for a capture overwrites its outputs. A capture tshark cannot read (or that times out) ends
``failed`` with tshark's reason; an unexpected error is retried by the bus and, on the last
attempt, fails the capture rather than disappearing into the dead-letter queue unexplained.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import structlog
from pcaptotal.captures import Status
from pcaptotal.context import Context
from pcaptotal.messages import CaptureFailed, CaptureParsed, CaptureStored
from pcaptotal.ports import BlobNotFound, Delivery
from pcaptotal.reconcile import fail_dead_letter
from pcaptotal.records import store_records
from pcaptotal.resilience import redelivery_delay
from structlog.typing import FilteringBoundLogger as BoundLogger

from pcaptotal_parser.files_store import store_files
from pcaptotal_parser.parse import MIB, parse_capture
from pcaptotal_parser.tshark import TsharkError

QUEUE = "parser"
STAGE = "parse"

log = structlog.get_logger(__name__)


class ParserWorker:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def start(self) -> None:
        await self._ctx.bus.subscribe(
            QUEUE, ["capture.stored"], self.handle, prefetch=self._ctx.settings.parser_prefetch
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
            await self._parse(event, bound)
        except TsharkError as exc:
            bound.warning("parse failed", reason=exc.reason)
            await self._fail(capture_id, exc.reason)
        except BlobNotFound:
            reason = f"the stored capture {event.blob_key} is missing from the blob store"
            bound.error("parse failed", reason=reason)
            await self._fail(capture_id, reason)
        except Exception as exc:
            if not delivery.is_last_attempt:
                bound.warning("parse error, will retry", error=repr(exc))
                await asyncio.sleep(redelivery_delay(delivery.attempt))
                raise
            bound.exception("parse error on last attempt")
            await self._fail(capture_id, f"internal error in parser: {exc}")

    async def _parse(self, event: CaptureStored, bound: BoundLogger) -> None:
        ctx = self._ctx
        settings = ctx.settings
        capture_id = event.capture_id
        await ctx.captures.update(capture_id, Status.PARSING)
        tmp_root = settings.tmp_dir
        await asyncio.to_thread(tmp_root.mkdir, parents=True, exist_ok=True)
        work = Path(await asyncio.to_thread(tempfile.mkdtemp, "", "parse-", str(tmp_root)))
        try:
            capture = work / "capture"
            await ctx.blobs.get_to_file(event.blob_key, capture)
            parsed = await parse_capture(
                capture,
                capture_id,
                tshark_path=settings.tshark_path,
                timeout_s=settings.parse_timeout_s,
                memory_limit_mb=settings.tshark_memory_limit_mb,
                work_dir=work,
                workers=settings.parser_workers,
                split_min_bytes=settings.parser_split_min_mb * MIB,
                part_max_bytes=settings.parser_part_max_mb * MIB,
            )
            await store_files(ctx.blobs, parsed.files)
            await parsed.discard_files()
            parsed_key, count = await store_records(
                ctx.blobs, capture_id, parsed.flows.flows(), tmp_dir=work
            )
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
        summary = parsed.summary
        await ctx.captures.update(
            capture_id, summary=summary.model_dump(), warnings=parsed.warnings
        )
        await ctx.bus.publish(
            CaptureParsed(
                capture_id=capture_id,
                parsed_key=parsed_key,
                flow_count=count,
                summary=summary,
                warnings=parsed.warnings,
            )
        )
        tshark = parsed.tshark
        bound.info(
            "capture parsed",
            packets=summary.packets,
            flows=count,
            seconds=round(tshark.seconds, 3),
            packets_per_s=round(summary.packets / tshark.seconds) if tshark.seconds else None,
            warnings=len(parsed.warnings),
            files=len(parsed.files),
            tshark_processes=parsed.parts,
        )

    async def _fail(self, capture_id: str, reason: str) -> None:
        await self._ctx.captures.fail(capture_id, reason)
        await self._ctx.bus.publish(
            CaptureFailed(capture_id=capture_id, stage=STAGE, reason=reason)
        )
