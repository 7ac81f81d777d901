"""How far a capture's analysis is: kept on the capture document as ``progress``.

The parser counts packets and bytes as tshark's output streams in; the enricher counts the
records it reads and indexes. Counting is a few integer additions in the hot loop; a
``ProgressReporter`` task writes the numbers to the capture document every ``interval_s``
(one small write per interval, never one per packet). The document's ``updated`` moves with
it, so the reconciler sees a long parse as alive.

``percent`` is the share of the current stage done; the ETA extrapolates the stage's rate so
far. While parsing, the packet total is unknown (the file is not read twice) and bytes are
estimated from the packet bytes plus the format's per-packet framing, capped at the size.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import structlog

from pcaptotal.clock import now_iso

log = structlog.get_logger(__name__)


class ProgressStore(Protocol):
    """Where progress goes (``captures.CaptureRepository``, which imports this module)."""

    async def set_progress(self, capture_id: str, progress: dict[str, Any]) -> bool: ...


Stage = Literal["stored", "parsing", "enriching", "done", "failed"]
INTERVAL_S = 1.0  # the issue asks for at least every 2 s; one write a second is cheap
FIELD = "progress"


@dataclass(slots=True)
class Counter:
    """What a stage has done so far; the hot loop only adds to these."""

    stage: Stage
    bytes_total: int
    bytes_processed: int = 0
    packets_processed: int = 0
    packets_total: int | None = None
    records_processed: int = 0
    records_total: int | None = None
    started: float = field(default_factory=time.monotonic)

    def fraction(self) -> float:
        if self.stage == "enriching":
            if not self.records_total:
                return 0.0
            return min(1.0, self.records_processed / self.records_total)
        if self.packets_total:
            return min(1.0, self.packets_processed / self.packets_total)
        if self.bytes_total <= 0:
            return 0.0
        return min(1.0, self.bytes_processed / self.bytes_total)

    def document(self) -> dict[str, Any]:
        done = self.fraction()
        elapsed = time.monotonic() - self.started
        eta = elapsed * (1 - done) / done if done > 0 else None
        return progress_document(
            self.stage,
            percent=done * 100,
            bytes_processed=min(self.bytes_processed, self.bytes_total),
            bytes_total=self.bytes_total,
            packets_processed=self.packets_processed,
            packets_total=self.packets_total,
            records_processed=self.records_processed,
            records_total=self.records_total,
            eta_seconds=eta,
        )


def progress_document(
    stage: Stage,
    *,
    percent: float,
    bytes_processed: int,
    bytes_total: int,
    packets_processed: int = 0,
    packets_total: int | None = None,
    records_processed: int | None = None,
    records_total: int | None = None,
    eta_seconds: float | None = None,
) -> dict[str, Any]:

    return {
        "stage": stage,
        "percent": round(max(0.0, min(100.0, percent)), 1),
        "bytes_processed": bytes_processed,
        "bytes_total": bytes_total,
        "packets_processed": packets_processed,
        "packets_total": packets_total,
        "records_processed": records_processed,
        "records_total": records_total,
        "eta_seconds": None if eta_seconds is None else round(eta_seconds, 1),
        "updated": now_iso(),
    }


def at_status(doc: dict[str, Any], stage: str) -> dict[str, Any]:
    """The progress a status change starts (or, for done, ends) with."""

    size = int(doc.get("size") or 0)
    summary = doc.get("summary") or {}
    packets = int(summary.get("packets") or 0) if isinstance(summary, dict) else 0
    previous = doc.get(FIELD) or {}
    if stage == "done":
        records = doc.get("record_count")
        return progress_document(
            "done",
            percent=100,
            bytes_processed=size,
            bytes_total=size,
            packets_processed=packets,
            packets_total=packets,
            records_processed=records,
            records_total=records,
            eta_seconds=0,
        )
    if stage == "stored" or stage == "parsing":
        start: Stage = "stored" if stage == "stored" else "parsing"
        return progress_document(start, percent=0, bytes_processed=0, bytes_total=size)
    if stage == "enriching":
        return progress_document(
            "enriching",
            percent=0,
            bytes_processed=size,
            bytes_total=size,
            packets_processed=packets,
            packets_total=packets,
            records_processed=0,
        )
    # failed: keep how far it got
    if previous:
        return {**previous, "stage": "failed", "eta_seconds": None, "updated": now_iso()}
    return progress_document("failed", percent=0, bytes_processed=0, bytes_total=size)


class ProgressReporter:
    """Writes ``counter`` to the capture document every ``interval_s`` while in use.

    ``async with ProgressReporter(...) as counter:`` then add to ``counter`` as work is done.
    A failed write is logged and skipped: progress must never fail the analysis.
    """

    def __init__(
        self,
        captures: ProgressStore,
        capture_id: str,
        counter: Counter,
        interval_s: float = INTERVAL_S,
    ) -> None:
        self._captures = captures
        self._capture_id = capture_id
        self.counter = counter
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.writes = 0

    async def __aenter__(self) -> Counter:
        self._task = asyncio.create_task(self._run())
        return self.counter

    async def __aexit__(self, *exc: object) -> None:
        # Not cancel(): a write already handed to the index would still land, after the
        # caller's next status write, and turn a finished stage back. Let it finish instead.
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        last: tuple[int, int, int] | None = None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval)
            if self._stop.is_set():
                return
            c = self.counter
            now = (c.bytes_processed, c.packets_processed, c.records_processed)
            if now == last:
                continue  # nothing moved: no write (the stuck detector should see that)
            last = now
            try:
                await self._captures.set_progress(self._capture_id, c.document())
                self.writes += 1
            except Exception as exc:
                log.warning("progress not written", capture_id=self._capture_id, error=repr(exc))
