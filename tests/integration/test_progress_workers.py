"""Progress written by the parser and enricher workers through the context a worker process
runs with in the distributed deployment (``Context.with_retry``: retrying, stamping adapters)
on real tshark, a real tantivy index and a file blob store, read back while they work.

The all-in-one runner is covered by tests/e2e/test_capture_downloads.py; the workers run the
same handlers in both modes, and this test drives them the way a separate worker process does.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from pcaptotal.adapters.file_blobstore import FileBlobStore
from pcaptotal.adapters.tantivy_index import TantivyIndex
from pcaptotal.captures import Status
from pcaptotal.context import Context
from pcaptotal.keys import capture_key
from pcaptotal.messages import CaptureParsed, CaptureStored
from pcaptotal.ports import Delivery
from pcaptotal.settings import Settings
from pcaptotal_enricher.worker import EnricherWorker
from pcaptotal_parser.worker import ParserWorker
from pcaptotal_search_api.capture_view import CaptureView

from tests.buses import RecordingBus
from tests.faults import write_udp_capture

pytestmark = pytest.mark.integration


async def _watch(ctx: Context, cid: str, seen: list[dict[str, Any]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        doc = await ctx.captures.get(cid)
        if doc and doc.get("progress"):
            seen.append(doc["progress"])
        await asyncio.sleep(0.1)


async def test_workers_write_progress_while_they_work(tmp_path: Path) -> None:
    synthetic = write_udp_capture(tmp_path / "big.pcap", packets=600_000, flows=20_000)
    data = synthetic.path.read_bytes()
    cid = hashlib.sha256(data).hexdigest()
    settings = Settings(data_dir=tmp_path / "data", parser_workers=1)
    index, blobs = TantivyIndex(tmp_path / "index"), FileBlobStore(tmp_path / "b")
    bus = RecordingBus()
    await index.start()
    await blobs.start()
    ctx = Context(settings=settings, bus=bus, blobs=blobs, index=index).with_retry(60)
    try:
        await blobs.put_bytes(capture_key(cid), data)
        run = uuid.uuid4()
        await ctx.captures.create(cid, size=len(data), filename="big.pcap", analysis_id=str(run))
        seen: list[dict[str, Any]] = []
        stop = asyncio.Event()
        watcher = asyncio.create_task(_watch(ctx, cid, seen, stop))
        stored = CaptureStored(capture_id=cid, analysis_id=run, generation=1, size=len(data))
        await ParserWorker(ctx).handle(Delivery(event=stored, attempt=1, max_attempts=3))
        (parsed,) = [e for e in bus.sent if isinstance(e, CaptureParsed)]
        await EnricherWorker(ctx).handle(Delivery(event=parsed, attempt=1, max_attempts=3))
        stop.set()
        await watcher
    finally:
        await index.close()
        await blobs.close()
    parsing = [p for p in seen if p["stage"] == "parsing" and 0 < p["percent"] < 100]
    counts = [p["packets_processed"] for p in parsing]
    assert len(set(counts)) >= 2 and counts == sorted(counts), seen
    assert all(p["bytes_processed"] <= p["bytes_total"] == len(data) for p in parsing)
    enriching = [p for p in seen if p["stage"] == "enriching"]
    assert enriching and all(p["packets_processed"] == 600_000 for p in enriching)
    doc = await _final(tmp_path, cid)
    assert doc["status"] == Status.DONE.value
    final = CaptureView.from_document(doc).progress
    assert final is not None and final.stage == "done" and final.percent == 100
    assert final.packets_processed == final.packets_total == 600_000
    assert final.records_processed == final.records_total == doc["record_count"]


async def _final(tmp_path: Path, cid: str) -> dict[str, Any]:
    index = TantivyIndex(tmp_path / "index")
    await index.start()
    try:
        doc = await index.get_capture(cid)
    finally:
        await index.close()
    assert doc is not None
    return doc
