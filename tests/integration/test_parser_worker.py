"""ParserWorker.handle with in-memory ports and real tshark."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import psutil
import pytest
import zstandard
from pcaptotal import keys
from pcaptotal.context import Context
from pcaptotal.keys import file_key
from pcaptotal.messages import CaptureFailed, CaptureParsed, CaptureStored, Envelope
from pcaptotal.ports import BlobInfo, BlobNotFound, Delivery, Handler
from pcaptotal.settings import Settings
from pcaptotal_parser.isolated import ParseProcessError
from pcaptotal_parser.worker import ParserWorker

from tests.faults import write_script, write_udp_capture
from tests.paths import PCAPS

pytestmark = pytest.mark.integration


class Blobs:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def start(self) -> None: ...
    async def close(self) -> None: ...

    async def put_file(
        self, key: str, path: Path, *, metadata: dict[str, str] | None = None
    ) -> None:
        self.data[key] = await asyncio.to_thread(path.read_bytes)

    async def put_bytes(
        self, key: str, data: bytes, *, metadata: dict[str, str] | None = None
    ) -> None:
        self.data[key] = data

    async def get_to_file(self, key: str, path: Path) -> None:
        if key not in self.data:
            raise BlobNotFound(key)
        await asyncio.to_thread(path.write_bytes, self.data[key])

    async def get_bytes(self, key: str) -> bytes:
        return self.data[key]

    async def iter_chunks(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        yield self.data[key]

    async def stat(self, key: str) -> BlobInfo | None:
        return BlobInfo(key, len(self.data[key])) if key in self.data else None

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)

    async def list_keys(self, prefix: str = "") -> list[str]:
        return [k for k in self.data if k.startswith(prefix)]


class Bus:
    def __init__(self) -> None:
        self.published: list[Envelope] = []

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def stop_consuming(self) -> None: ...

    async def publish(self, event: Envelope, routing_key: str | None = None) -> None:
        self.published.append(event)

    async def subscribe(
        self, queue: str, bindings: Sequence[str], handler: Handler, *, prefetch: int = 4
    ) -> None: ...


class Index:
    def __init__(self) -> None:
        self.captures: dict[str, dict[str, Any]] = {}

    async def get_capture(self, capture_id: str) -> dict[str, Any] | None:
        doc = self.captures.get(capture_id)
        return dict(doc) if doc else None

    async def put_capture(self, doc: dict[str, Any]) -> None:
        self.captures[doc["id"]] = dict(doc)

    async def change_capture(
        self, capture_id: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        doc = change(await self.get_capture(capture_id))
        if doc is not None:
            await self.put_capture(doc)
        return doc


@pytest.fixture(params=[False, True], ids=["in-process", "child-process"])
def isolate(request: pytest.FixtureRequest) -> bool:
    """Whether the worker parses in a child process (``pcaptotal_parser.isolated``)."""
    return bool(request.param)


def make_ctx(tmp_path: Path, isolate: bool = False) -> tuple[Context, Blobs, Bus, Index]:
    blobs, bus, index = Blobs(), Bus(), Index()
    settings = Settings(data_dir=tmp_path / "data", parser_isolate_min_mb=0 if isolate else -1)
    return Context(settings, bus, blobs, index), blobs, bus, index  # type: ignore[arg-type]


def stored(blobs: Blobs, capture_id: str, data: bytes) -> Delivery:
    blobs.data[keys.capture_key(capture_id)] = data
    event = CaptureStored(
        capture_id=capture_id, analysis_id=uuid.uuid4(), generation=1, size=len(data)
    )
    return Delivery(event=event, attempt=1, max_attempts=3)


def read_records(data: bytes) -> list[dict[str, Any]]:
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data))
    return [json.loads(line) for line in io.TextIOWrapper(reader, encoding="utf-8")]


async def test_parses_stores_records_and_publishes(
    tmp_path: Path, tshark: str, isolate: bool
) -> None:
    ctx, blobs, bus, index = make_ctx(tmp_path, isolate)
    cid = "1" * 64
    delivery = stored(blobs, cid, (PCAPS / "zeek_http-zip-download.pcap").read_bytes())
    worker = ParserWorker(ctx)
    await worker.handle(delivery)
    await worker.handle(delivery)  # re-running overwrites, same outcome
    (first, second) = bus.published
    assert isinstance(second, CaptureParsed) and second.id == first.id  # same run, same id
    assert second.flow_count == 1 and second.summary.http_requests == 1
    records = read_records(blobs.data[keys.parsed_key(cid)])
    assert [r["event.dataset"] for r in records] == ["flow", "http", "file"]
    doc, http, file = records
    assert doc["event.id"] == keys.flow_doc_id(cid, "tcp-0") and doc["url.path"] == ["/a.zip"]
    assert http["pcaptotal.flow_id"] == doc["event.id"] and http["url.path"] == "/a.zip"
    assert http["file.hash.sha256"] == doc["file.hash.sha256"] == [file["file.hash.sha256"]]
    (sha256,) = doc["file.hash.sha256"]
    carved = blobs.data[file_key(sha256)]  # stored once, content-addressed
    assert len(carved) == 14638 and hashlib.sha256(carved).hexdigest() == sha256
    assert [k for k in blobs.data if k.startswith("files/")] == [file_key(sha256)]
    capture = index.captures[cid]
    assert capture["status"] == "parsing" and capture["summary"]["packets"] == 12
    assert not list((tmp_path / "data" / "tmp").iterdir())  # temp files are gone


async def test_damaged_capture_parses_with_warning(
    tmp_path: Path, tshark: str, isolate: bool
) -> None:
    ctx, blobs, bus, index = make_ctx(tmp_path, isolate)
    cid = "2" * 64
    data = (PCAPS / "suricata-verify_damaged-file-tls-der.pcap").read_bytes()
    await ParserWorker(ctx).handle(stored(blobs, cid, data))
    (event,) = bus.published
    assert isinstance(event, CaptureParsed) and event.summary.packets == 6
    assert "damaged" in event.warnings[0] and index.captures[cid]["warnings"] == event.warnings


async def test_unreadable_capture_fails_with_reason(
    tmp_path: Path, tshark: str, isolate: bool
) -> None:
    ctx, blobs, bus, index = make_ctx(tmp_path, isolate)
    cid = "3" * 64
    await ParserWorker(ctx).handle(stored(blobs, cid, b"not a capture at all\n" * 10))
    (event,) = bus.published
    assert isinstance(event, CaptureFailed) and event.stage == "parse"
    assert "isn't a capture file" in event.error
    assert index.captures[cid]["status"] == "failed" and index.captures[cid]["error"] == event.error


async def test_internal_error_retries_then_fails(
    tmp_path: Path, tshark: str, isolate: bool
) -> None:
    ctx, blobs, bus, _ = make_ctx(tmp_path, isolate)
    ctx.settings.tshark_path = str(tmp_path / "no-such-tshark")
    cid = "4" * 64
    delivery = stored(blobs, cid, (PCAPS / "zeek_icmp-5-pings.pcap").read_bytes())
    # in a child process the error comes back as its repr
    with pytest.raises(ParseProcessError if isolate else FileNotFoundError, match="no-such"):
        await ParserWorker(ctx).handle(delivery)
    assert bus.published == []
    last = Delivery(event=delivery.event, attempt=3, max_attempts=3)
    await ParserWorker(ctx).handle(last)
    (event,) = bus.published
    assert isinstance(event, CaptureFailed) and event.error.startswith("internal error in parser")
    assert "no-such-tshark" in event.error


# The parse in a child process (pcaptotal_parser.isolated): same outputs, and the child's
# failures (memory, time, death) end in a failed capture or a retry, never in a stuck one.


def _published(bus: Bus) -> CaptureParsed:
    (event,) = bus.published
    assert isinstance(event, CaptureParsed)
    return event


async def test_child_process_gives_what_the_worker_process_gives(
    tmp_path: Path, tshark: str
) -> None:
    data = b"".join(
        (PCAPS / name).read_bytes()[24 if i else 0 :]  # one pcap header: the files' are equal
        for i, name in enumerate(
            ["corelight_agenttesla-smtp-sandbox.pcap", "zeek_http-zip-download.pcap"]
        )
    )
    outputs = []
    for isolate in (False, True):
        ctx, blobs, bus, _ = make_ctx(tmp_path / str(isolate), isolate)
        ctx.settings.parser_split_min_mb, ctx.settings.parser_workers = 0, 2  # split, too
        cid = "5" * 64
        await ParserWorker(ctx).handle(stored(blobs, cid, data))
        event = _published(bus)
        files = {k: v for k, v in blobs.data.items() if k.startswith("files/")}
        records = read_records(blobs.data[keys.parsed_key(cid)])
        outputs.append((event.summary, event.warnings, event.flow_count, records, files))
    assert outputs[0] == outputs[1]
    summary, _, flows, records, files = outputs[1]
    assert summary.packets == 2037 + 12 and flows > 100 and len(files) == 9
    assert sum(r["event.dataset"] == "file" for r in records) == len(files)


def _children() -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process().children(recursive=True)
        if "pcaptotal_parser.isolated" in " ".join(p.cmdline())
    ]


async def test_child_past_its_memory_limit_fails_the_capture(tmp_path: Path, tshark: str) -> None:
    ctx, blobs, bus, index = make_ctx(tmp_path, isolate=True)
    ctx.settings.parser_memory_limit_mb = 100  # the parse of 50,000 flows needs about twice
    capture = write_udp_capture(tmp_path / "many-flows.pcap", 50_000, 50_000)
    cid = "6" * 64
    await ParserWorker(ctx).handle(stored(blobs, cid, capture.path.read_bytes()))
    (event,) = bus.published
    assert isinstance(event, CaptureFailed) and event.stage == "parse"
    assert "needs more than 100 MB" in event.error
    assert "PCAPTOTAL_PARSER_MEMORY_LIMIT_MB" in event.error
    assert index.captures[cid]["status"] == "failed"
    assert _children() == []


async def _wait_for_children() -> list[psutil.Process]:
    for _ in range(200):
        if children := _children():
            return children
        await asyncio.sleep(0.05)
    raise AssertionError("no parse process started")


STUCK_TSHARK = "#!/bin/sh\nexec sleep 60\n"  # stands in for a tshark that never finishes


async def test_child_killed_midway_is_retried_then_fails(
    tmp_path: Path, public_dir: Path, tshark: str
) -> None:
    ctx, blobs, bus, _ = make_ctx(tmp_path, isolate=True)
    ctx.settings.tshark_path = str(write_script(public_dir, "tshark", STUCK_TSHARK))
    cid = "7" * 64
    delivery = stored(blobs, cid, (PCAPS / "zeek_icmp-5-pings.pcap").read_bytes())
    for attempt in (1, 3):
        task = asyncio.create_task(
            ParserWorker(ctx).handle(Delivery(delivery.event, attempt, max_attempts=3))
        )
        children = await _wait_for_children()
        await asyncio.sleep(0.5)  # the stand-in tshark has started
        children[0].kill()  # as the kernel's OOM killer would
        if attempt == 1:
            with pytest.raises(ParseProcessError, match="killed by SIGKILL"):
                await task
            assert bus.published == []
        else:
            await task
    (event,) = bus.published
    assert isinstance(event, CaptureFailed) and "killed by SIGKILL" in event.error
    # nothing of the child's process group is left: no stuck tshark
    assert not [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "60"]]


async def test_child_passes_tsharks_timeout_on(
    tmp_path: Path, public_dir: Path, tshark: str
) -> None:
    ctx, blobs, bus, _ = make_ctx(tmp_path, isolate=True)
    ctx.settings.tshark_path = str(write_script(public_dir, "tshark", STUCK_TSHARK))
    ctx.settings.parse_timeout_s = 1
    cid = "8" * 64
    await ParserWorker(ctx).handle(
        stored(blobs, cid, (PCAPS / "zeek_icmp-5-pings.pcap").read_bytes())
    )
    (event,) = bus.published
    assert isinstance(event, CaptureFailed) and "timed out after 1 s" in event.error
    assert _children() == []


async def test_child_reports_progress_while_it_parses(tmp_path: Path, tshark: str) -> None:
    ctx, blobs, bus, index = make_ctx(tmp_path, isolate=True)
    seen: list[dict[str, Any]] = []
    put = index.put_capture

    async def recording(doc: dict[str, Any]) -> None:
        if doc.get("progress"):
            seen.append(dict(doc["progress"]))
        await put(doc)

    index.put_capture = recording  # type: ignore[method-assign]
    capture = write_udp_capture(tmp_path / "many-flows.pcap", 50_000, 50_000)
    await ParserWorker(ctx).handle(stored(blobs, "9" * 64, capture.path.read_bytes()))
    assert isinstance(bus.published[0], CaptureParsed)
    midway = [p for p in seen if 0 < p["packets_processed"] < 50_000]
    assert midway, seen  # the child's counts reached the capture document before the end
    assert all(p["bytes_total"] == capture.path.stat().st_size for p in midway)
    assert seen[-1]["packets_processed"] == 50_000 and seen[-1]["percent"] == 100


HOLDER = """
import asyncio, sys
from pathlib import Path
from pcaptotal_parser.isolated import produce_in_child
from pcaptotal_parser.outcome import ParseJob

work = Path(sys.argv[2])
job = ParseJob(capture=Path(sys.argv[1]), capture_id="a" * 64, work_dir=work,
               records_path=work / "records", tshark_path=sys.argv[3])
asyncio.run(produce_in_child(job, None, memory_limit_mb=0))
"""


async def test_child_dies_with_its_worker(tmp_path: Path, public_dir: Path, tshark: str) -> None:
    """A worker killed with SIGKILL (its message goes to another worker) takes its parse
    process with it: no orphan goes on parsing."""
    stuck = write_script(public_dir, "tshark", STUCK_TSHARK)
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        str(PCAPS / "zeek_icmp-5-pings.pcap"),
        str(tmp_path),
        str(stuck),
    )
    children: list[psutil.Process] = []
    try:
        for _ in range(200):
            children = [
                p
                for p in psutil.Process(holder.pid).children()
                if "pcaptotal_parser.isolated" in " ".join(p.cmdline())
            ]
            if children:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("no parse process started")
        await asyncio.sleep(0.5)  # its stand-in tshark runs
        holder.kill()
        await holder.wait()
        _, alive = psutil.wait_procs(children, timeout=5)
        assert alive == []
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        for child in children:  # when the assertion failed: no orphan outlives the test
            with contextlib.suppress(psutil.Error):
                for grandchild in child.children():
                    grandchild.kill()
                child.kill()
