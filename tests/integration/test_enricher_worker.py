"""EnricherWorker.handle after a real parse (real tshark), on a real tantivy index and a file
blob store, with a threat-intel feed: the analysis in a worker thread and in a child process
of its own (``pcaptotal_enricher.isolated``) index the same records, judge the capture the
same way and publish the same events; the child's failures end in a failed capture or a
retry, never in a stuck one or a worker that took the memory."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
from pcaptotal.adapters.file_blobstore import FileBlobStore
from pcaptotal.adapters.tantivy_index import TantivyIndex
from pcaptotal.context import Context
from pcaptotal.keys import capture_key
from pcaptotal.messages import (
    CaptureAnalyzed,
    CaptureFailed,
    CaptureParsed,
    CaptureStored,
    FlowsEnriched,
)
from pcaptotal.ports import Delivery
from pcaptotal.query import parse_query
from pcaptotal.settings import Settings
from pcaptotal_enricher import analysis as analysis_module
from pcaptotal_enricher import worker as worker_module
from pcaptotal_enricher.chunks import write_chunk
from pcaptotal_enricher.events import public_flow
from pcaptotal_enricher.intel import IntelEnrichment, build_indicator_set
from pcaptotal_enricher.isolated import AnalysisProcessError
from pcaptotal_enricher.worker import EnricherWorker
from pcaptotal_parser.worker import ParserWorker

from tests.buses import RecordingBus
from tests.paths import PCAPS

pytestmark = pytest.mark.integration

# ThreatFox's CSV export layout (see tests/integration/test_detection_with_feeds.py): the
# Agent Tesla exfiltration server the capture's README names publicly.
THREATFOX = (
    '# "first_seen_utc","ioc_id","ioc_value","ioc_type","threat_type","fk_malware",'
    '"malware_alias","malware_printable","last_seen_utc","confidence_level","is_compromised",'
    '"reference","tags","anonymous","reporter"\n'
    '"2021-06-01 10:00:00", "3", "smtp.trisquarespl.com", "domain", "botnet_cc", '
    '"win.agent_tesla", "AgenTesla", "Agent Tesla", "", "75", "0", "", "exfil", "0", "r1"\n'
    "# Number of entries: 1\n"
)
CAPTURES = ["corelight_agenttesla-smtp-sandbox.pcap", "zeek_http-zip-download.pcap"]
JUDGED = (
    "status",
    "verdict",
    "score",
    "reasons",
    "tags",
    "flows_indexed",
    "finding_count",
    "finding_summary",
    "record_count",
    "flow_verdicts",
)


def _capture() -> bytes:
    return b"".join(
        (PCAPS / name).read_bytes()[24 if i else 0 :]  # one pcap header: the files' are equal
        for i, name in enumerate(CAPTURES)
    )


class Stack:
    """A parsed capture waiting for the enricher."""

    def __init__(self, tmp_path: Path, *, isolate: bool) -> None:
        settings = Settings(
            data_dir=tmp_path / "data",
            parser_isolate_min_mb=-1,
            enricher_isolate_min_flows=0 if isolate else -1,
        )
        self.index = TantivyIndex(tmp_path / "index")
        self.blobs = FileBlobStore(tmp_path / "blobs")
        self.bus = RecordingBus()
        self.ctx = Context(settings=settings, bus=self.bus, blobs=self.blobs, index=self.index)
        tmp_path.mkdir(parents=True, exist_ok=True)
        feed = tmp_path / "threatfox_export.csv"
        feed.write_text(THREATFOX)
        indicators = build_indicator_set([(feed.name, feed)])
        self.worker = EnricherWorker(self.ctx, steps=[IntelEnrichment(lambda: indicators)])

    async def parse(self, data: bytes) -> CaptureParsed:
        cid = hashlib.sha256(data).hexdigest()
        await self.blobs.put_bytes(capture_key(cid), data)
        run = uuid.uuid4()
        await self.ctx.captures.create(cid, size=len(data), filename="c.pcap", analysis_id=str(run))
        stored = CaptureStored(capture_id=cid, analysis_id=run, generation=1, size=len(data))
        await ParserWorker(self.ctx).handle(Delivery(event=stored, attempt=1, max_attempts=3))
        (parsed,) = [e for e in self.bus.sent if isinstance(e, CaptureParsed)]
        self.bus.sent.clear()
        return parsed

    async def records(self, cid: str) -> list[dict[str, Any]]:
        result = await self.index.search_flows(parse_query(""), capture_id=cid, limit=10_000)
        assert result.total == len(result.hits)
        return sorted(result.hits, key=lambda r: str(r["event.id"]))


def _analysed(stack: Stack, event: CaptureParsed, attempt: int = 1) -> Delivery:
    return Delivery(event=event, attempt=attempt, max_attempts=3)


def _children() -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process().children(recursive=True)
        if "pcaptotal_enricher.isolated" in " ".join(p.cmdline())
    ]


async def test_child_process_gives_what_the_worker_thread_gives(tmp_path: Path) -> None:
    data = _capture()
    outputs = []
    for isolate in (False, True):
        stack = Stack(tmp_path / str(isolate), isolate=isolate)
        await stack.index.start()
        await stack.blobs.start()
        try:
            parsed = await stack.parse(data)
            await stack.worker.handle(_analysed(stack, parsed))
            doc = await stack.ctx.captures.get(parsed.capture_id)
            assert doc is not None
            records = await stack.records(parsed.capture_id)
        finally:
            await stack.index.close()
            await stack.blobs.close()
        (analyzed,) = [e for e in stack.bus.sent if isinstance(e, CaptureAnalyzed)]
        enriched = sorted(
            (e.verdict, f["event.id"], f.get("pcaptotal.verdict"), f.get("event.risk_score"))
            for e in stack.bus.sent
            if isinstance(e, FlowsEnriched)
            for f in e.flows
        )
        # each flow published as it is indexed (the analysis made its event JSON)
        published = {
            f["event.id"]: (e.verdict, f)
            for e in stack.bus.sent
            if isinstance(e, FlowsEnriched)
            for f in e.flows
        }
        assert published == {
            r["event.id"]: (r["pcaptotal.verdict"], public_flow(r))
            for r in records
            if r["event.dataset"] == "flow"
        }
        judged: dict[str, Any] = {k: doc.get(k) for k in JUDGED}
        tally = analyzed.per_verdict.model_dump()
        outputs.append((judged, records, enriched, analyzed.verdict, tally))
    assert outputs[0] == outputs[1]
    judged, records, enriched, verdict, _ = outputs[1]
    # what is compared is a real analysis: a feed hit, findings, every flow published once
    assert judged["status"] == "done" and verdict == "malicious" and "Agent Tesla" in judged["tags"]
    flows = [r for r in records if r["event.dataset"] == "flow"]
    findings = [r for r in records if r["event.dataset"] == "finding"]
    assert len(flows) == judged["flows_indexed"] > 100 and len(findings) == judged["finding_count"]
    assert any(f["pcaptotal.finding.source"] == "intel" for f in findings)
    assert len(records) == judged["record_count"]
    assert sorted(e[1] for e in enriched) == sorted(f["event.id"] for f in flows)
    assert _children() == []


async def test_child_past_its_memory_limit_fails_the_capture(tmp_path: Path) -> None:
    stack = Stack(tmp_path, isolate=True)
    stack.ctx.settings.enricher_memory_limit_mb = 20  # an interpreter alone takes more
    await stack.index.start()
    await stack.blobs.start()
    try:
        parsed = await stack.parse(_capture())
        await stack.worker.handle(_analysed(stack, parsed))  # no retry: it would fail again
        doc = await stack.ctx.captures.get(parsed.capture_id)
        # the records indexed while the analysis ran came out again
        assert await stack.records(parsed.capture_id) == []
    finally:
        await stack.index.close()
        await stack.blobs.close()
    (event,) = stack.bus.sent
    assert isinstance(event, CaptureFailed) and event.stage == "enrich"
    assert "PCAPTOTAL_ENRICHER_MEMORY_LIMIT_MB" in event.error
    assert doc is not None and doc["status"] == "failed"
    assert _children() == []


async def test_child_killed_midway_is_retried_then_fails(tmp_path: Path) -> None:
    stack = Stack(tmp_path, isolate=True)
    await stack.index.start()
    await stack.blobs.start()
    try:
        parsed = await stack.parse(_capture())
        for attempt in (1, 3):
            task = asyncio.create_task(stack.worker.handle(_analysed(stack, parsed, attempt)))
            children = await _wait_for_children()
            children[0].kill()  # as the kernel's OOM killer would
            if attempt == 1:
                with pytest.raises(AnalysisProcessError, match="killed by SIGKILL"):
                    await task
                assert stack.bus.sent == []
                assert await stack.records(parsed.capture_id) == []
            else:
                await task
        doc = await stack.ctx.captures.get(parsed.capture_id)
    finally:
        await stack.index.close()
        await stack.blobs.close()
    (event,) = stack.bus.sent
    assert isinstance(event, CaptureFailed) and "killed by SIGKILL" in event.error
    assert doc is not None and doc["status"] == "failed"


async def test_analysis_failing_between_chunks_takes_out_what_went_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker indexes (and publishes) each chunk while the analysis writes the next: when
    writing a later chunk fails, the records already indexed come out again and the last
    attempt fails the capture with the reason."""
    monkeypatch.setattr(worker_module, "INDEX_BATCH", 40)  # several chunks for this capture
    written: list[Path] = []

    def write_then_fail(path: Path, records: Any, encode: Any) -> None:
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        write_chunk(path, records, encode)
        written.append(path)

    monkeypatch.setattr(analysis_module, "write_chunk", write_then_fail)
    stack = Stack(tmp_path, isolate=False)  # in a thread: the patch applies
    indexed = [0]
    add_prepared = stack.index.add_prepared

    async def counted(records: Any) -> None:
        await add_prepared(records)
        indexed[0] += len(records)

    monkeypatch.setattr(stack.index, "add_prepared", counted)
    await stack.index.start()
    await stack.blobs.start()
    try:
        parsed = await stack.parse(_capture())
        await stack.worker.handle(_analysed(stack, parsed, attempt=3))
        assert await stack.records(parsed.capture_id) == []
        doc = await stack.ctx.captures.get(parsed.capture_id)
    finally:
        await stack.index.close()
        await stack.blobs.close()
    assert len(written) == 2 and indexed[0] > 0  # chunks went in before the failure
    (failed,) = [e for e in stack.bus.sent if isinstance(e, CaptureFailed)]
    assert failed.stage == "enrich" and "No space left on device" in failed.error
    assert doc is not None and doc["status"] == "failed"


async def _wait_for_children() -> list[psutil.Process]:
    for _ in range(400):
        if children := _children():
            return children
        await asyncio.sleep(0.01)
    raise AssertionError("no analysis process started")
