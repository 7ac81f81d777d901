"""ParserWorker.handle with in-memory ports and real tshark."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import zstandard
from pcaptotal import keys
from pcaptotal.context import Context
from pcaptotal.keys import file_key
from pcaptotal.messages import CaptureFailed, CaptureParsed, CaptureStored, Envelope
from pcaptotal.ports import BlobInfo, BlobNotFound, Delivery, Handler
from pcaptotal.settings import Settings
from pcaptotal_parser.worker import ParserWorker

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


def make_ctx(tmp_path: Path) -> tuple[Context, Blobs, Bus, Index]:
    blobs, bus, index = Blobs(), Bus(), Index()
    settings = Settings(data_dir=tmp_path / "data")
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


async def test_parses_stores_records_and_publishes(tmp_path: Path, tshark: str) -> None:
    ctx, blobs, bus, index = make_ctx(tmp_path)
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


async def test_damaged_capture_parses_with_warning(tmp_path: Path, tshark: str) -> None:
    ctx, blobs, bus, index = make_ctx(tmp_path)
    cid = "2" * 64
    data = (PCAPS / "suricata-verify_damaged-file-tls-der.pcap").read_bytes()
    await ParserWorker(ctx).handle(stored(blobs, cid, data))
    (event,) = bus.published
    assert isinstance(event, CaptureParsed) and event.summary.packets == 6
    assert "damaged" in event.warnings[0] and index.captures[cid]["warnings"] == event.warnings


async def test_unreadable_capture_fails_with_reason(tmp_path: Path, tshark: str) -> None:
    ctx, blobs, bus, index = make_ctx(tmp_path)
    cid = "3" * 64
    await ParserWorker(ctx).handle(stored(blobs, cid, b"not a capture at all\n" * 10))
    (event,) = bus.published
    assert isinstance(event, CaptureFailed) and event.stage == "parse"
    assert "isn't a capture file" in event.error
    assert index.captures[cid]["status"] == "failed" and index.captures[cid]["error"] == event.error


async def test_internal_error_retries_then_fails(tmp_path: Path, tshark: str) -> None:
    ctx, blobs, bus, _ = make_ctx(tmp_path)
    ctx.settings.tshark_path = str(tmp_path / "no-such-tshark")
    cid = "4" * 64
    delivery = stored(blobs, cid, (PCAPS / "zeek_icmp-5-pings.pcap").read_bytes())
    with pytest.raises(FileNotFoundError):
        await ParserWorker(ctx).handle(delivery)
    assert bus.published == []
    last = Delivery(event=delivery.event, attempt=3, max_attempts=3)
    await ParserWorker(ctx).handle(last)
    (event,) = bus.published
    assert isinstance(event, CaptureFailed) and event.error.startswith("internal error in parser")
