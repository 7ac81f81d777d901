"""Progress on the capture document: the numbers, the ETA, and writes that never land after the
stage they describe ended."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pcaptotal.adapters.tantivy_index import TantivyIndex
from pcaptotal.captures import CaptureRepository, Status
from pcaptotal.progress import Counter, ProgressReporter, at_status
from pcaptotal_search_api.capture_view import CaptureView

CID = hashlib.sha256(b"progress").hexdigest()


@pytest.fixture
async def captures(tmp_path: Path) -> AsyncIterator[CaptureRepository]:
    index = TantivyIndex(tmp_path / "index")
    await index.start()
    repo = CaptureRepository(index)
    await repo.create(CID, size=1000, filename="x.pcap")
    yield repo
    await index.close()


def test_parsing_fraction_comes_from_bytes_until_packets_are_known() -> None:
    c = Counter("parsing", 1000, started=0.0)
    assert c.fraction() == 0 and c.document()["eta_seconds"] is None
    c.bytes_processed, c.packets_processed = 250, 10
    assert c.fraction() == 0.25
    c.bytes_processed = 5000  # an estimate past the size is capped
    assert c.fraction() == 1 and c.document()["bytes_processed"] == 1000
    e = Counter("enriching", 1000, records_total=200, records_processed=50)
    assert e.fraction() == 0.25


def test_eta_extrapolates_the_rate_so_far() -> None:
    c = Counter("parsing", 1000, started=time.monotonic() - 10, bytes_processed=250)
    eta = c.document()["eta_seconds"]
    assert 29 <= eta <= 31  # a quarter in 10 s: three quarters in about 30 s


def test_status_changes_set_the_stage_and_done_ends_at_100() -> None:
    doc = {"size": 500, "summary": {"packets": 7}, "record_count": 9}
    assert at_status(doc, "parsing")["percent"] == 0
    done = at_status(doc, "done")
    assert done["percent"] == 100 and done["packets_processed"] == done["packets_total"] == 7
    assert done["bytes_processed"] == done["bytes_total"] == 500
    failed = at_status({**doc, "progress": at_status(doc, "enriching")}, "failed")
    assert failed["stage"] == "failed" and failed["bytes_processed"] == 500


async def test_reporter_writes_while_moving_and_never_after_its_stage(
    captures: CaptureRepository,
) -> None:
    await captures.update(CID, Status.PARSING)
    reporter = ProgressReporter(captures, CID, Counter("parsing", 1000), interval_s=0.05)
    async with reporter as counter:
        for step in range(1, 6):
            counter.bytes_processed = step * 100
            counter.packets_processed = step
            # Each move is written by a later tick; on a busy machine ticks come late, so wait
            # for this one (bounded) rather than for a fixed time.
            for _ in range(1000):  # at most ~10 s
                if reporter.writes >= step:
                    break
                await asyncio.sleep(0.01)
    doc = await captures.get(CID)
    assert doc is not None
    assert reporter.writes == 5  # one write per move, none while nothing moved
    assert doc["progress"]["stage"] == "parsing" and doc["progress"]["packets_processed"] == 5
    CaptureView.from_document(doc)  # the strict view accepts what was written

    await captures.update(CID, Status.DONE)
    late = Counter("parsing", 1000, bytes_processed=10, packets_processed=1).document()
    assert await captures.set_progress(CID, late) is False  # the stage is over
    doc = await captures.get(CID)
    assert doc is not None and doc["progress"]["stage"] == "done"
    assert CaptureView.from_document(doc).progress is not None
