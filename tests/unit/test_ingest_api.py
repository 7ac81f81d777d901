"""POST /v1/captures end to end on the embedded adapters (memory bus, file blobs, fake index)."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pcaptotal.adapters.file_blobstore import FileBlobStore
from pcaptotal.adapters.memory_bus import MemoryBus
from pcaptotal.context import Context
from pcaptotal.keys import capture_key
from pcaptotal.messages import CaptureStored, Event
from pcaptotal.ports import Delivery
from pcaptotal.settings import Settings
from pcaptotal_ingest import create_router

from tests.paths import PCAPS

SMALL_PCAP = PCAPS / "zeek_icmp-5-pings.pcap"
BIG_PCAP = PCAPS / "corelight_agenttesla-smtp-sandbox.pcap"  # ~800 KiB: many body chunks
PCAPNG = PCAPS / "zeek_pcapng-multi-interface.pcapng"


class FakeIndex:
    """Just the capture-document part of the Index port, kept in a dict."""

    def __init__(self) -> None:
        self.captures: dict[str, dict[str, Any]] = {}

    async def put_capture(self, doc: dict[str, Any]) -> None:
        self.captures[doc["id"]] = dict(doc)

    async def change_capture(
        self, capture_id: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        doc = change(await self.get_capture(capture_id))
        if doc is not None:
            await self.put_capture(doc)
        return doc

    async def get_capture(self, capture_id: str) -> dict[str, Any] | None:
        doc = self.captures.get(capture_id)
        return dict(doc) if doc is not None else None

    async def find_captures(
        self, statuses: Sequence[str] | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        docs = [d for d in self.captures.values() if statuses is None or d["status"] in statuses]
        return docs[:limit]


@dataclass
class Harness:
    ctx: Context
    index: FakeIndex
    bus: MemoryBus
    client: httpx.AsyncClient
    events: list[Event] = field(default_factory=list)

    async def settled_events(self) -> list[Event]:
        await asyncio.wait_for(self.bus.wait_idle(), 5)
        return self.events

    async def assert_nothing_stored(self) -> None:
        assert await self.ctx.blobs.list_keys() == []
        assert self.index.captures == {}
        assert await self.settled_events() == []
        tmp = self.ctx.settings.tmp_dir
        assert not tmp.exists() or list(tmp.iterdir()) == []


MakeHarness = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def make_harness(tmp_path: Path) -> AsyncIterator[MakeHarness]:
    made: list[Harness] = []

    async def make(max_upload_bytes: int = 512 * 1024 * 1024) -> Harness:
        root = tmp_path / f"h{len(made)}"
        settings = Settings(data_dir=root, max_upload_bytes=max_upload_bytes)
        bus = MemoryBus()
        blobs = FileBlobStore(root / "blobs")
        await blobs.start()
        index = FakeIndex()
        ctx = Context(settings, bus, blobs, index)  # type: ignore[arg-type]  # partial Index
        app = FastAPI()
        app.include_router(create_router())
        app.state.ctx = ctx
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        harness = Harness(ctx, index, bus, client)

        async def collect(delivery: Delivery) -> None:
            harness.events.append(delivery.event)

        await bus.subscribe("test-events", ["#"], collect)
        made.append(harness)
        return harness

    yield make
    for h in made:
        await h.client.aclose()
        await h.bus.close()


def load(path: Path) -> bytes:
    """Test captures are small: reading them inline is fine (and keeps ASYNC240 quiet)."""
    return path.read_bytes()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def post_raw(h: Harness, body: Any, **params: str) -> httpx.Response:
    return await h.client.post(
        "/v1/captures",
        content=body,
        params=params,
        headers={"content-type": "application/vnd.tcpdump.pcap"},
    )


async def post_form(h: Harness, body: bytes, name: str = "upload.pcap") -> httpx.Response:
    return await h.client.post(
        "/v1/captures", files={"file": (name, body, "application/octet-stream")}
    )


async def assert_stored(h: Harness, r: httpx.Response, data: bytes, filename: str | None) -> None:
    """One new capture: 202, blob byte-identical, document stored, exactly one message."""
    cid = sha256(data)
    assert r.status_code == 202, r.text
    assert r.json() == {"capture_id": cid, "status": "stored"}
    assert r.headers["location"] == f"/v1/captures/{cid}"
    assert await h.ctx.blobs.get_bytes(capture_key(cid)) == data
    info = await h.ctx.blobs.stat(capture_key(cid))
    assert info is not None and info.metadata["sha256"] == cid
    doc = h.index.captures[cid]
    assert (doc["status"], doc["size"], doc["filename"]) == ("stored", len(data), filename)
    events = [e for e in await h.settled_events() if e.capture_id == cid]
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, CaptureStored)
    assert (event.size, event.filename) == (len(data), filename)
    assert (str(event.analysis_id), event.generation) == (doc["analysis_id"], doc["generation"])
    assert list(h.ctx.settings.tmp_dir.iterdir()) == []


# -- accepted uploads --


@pytest.mark.parametrize("path", [SMALL_PCAP, BIG_PCAP, PCAPNG], ids=lambda p: p.name)
async def test_raw_upload_is_stored_and_queued(make_harness: MakeHarness, path: Path) -> None:
    h = await make_harness()
    data = load(path)
    r = await post_raw(h, data, filename=path.name)
    await assert_stored(h, r, data, path.name)


@pytest.mark.parametrize("path", [SMALL_PCAP, BIG_PCAP, PCAPNG], ids=lambda p: p.name)
async def test_multipart_upload_is_stored_and_queued(make_harness: MakeHarness, path: Path) -> None:
    h = await make_harness()
    data = load(path)
    r = await post_form(h, data, name=path.name)
    await assert_stored(h, r, data, path.name)


async def test_raw_upload_without_filename(make_harness: MakeHarness) -> None:
    h = await make_harness()
    data = SMALL_PCAP.read_bytes()
    r = await h.client.post("/v1/captures", content=data)  # no content type at all
    await assert_stored(h, r, data, None)


async def test_gzip_upload_has_the_id_of_the_capture(make_harness: MakeHarness) -> None:
    h = await make_harness()
    data = BIG_PCAP.read_bytes()
    r = await post_raw(h, gzip.compress(data), filename="x.pcap.gz")
    await assert_stored(h, r, data, "x.pcap")  # stored decompressed, so the name drops .gz


async def test_gzip_multipart_upload(make_harness: MakeHarness) -> None:
    h = await make_harness()
    data = PCAPNG.read_bytes()
    r = await post_form(h, gzip.compress(data), name="dir\\y.pcapng.GZ")
    await assert_stored(h, r, data, "y.pcapng")


async def test_random_bytes_behind_a_pcap_magic_are_accepted(make_harness: MakeHarness) -> None:
    # Ingest checks framing only; the parser judges the contents (and fails the capture).
    h = await make_harness()
    data = b"\xd4\xc3\xb2\xa1" + os.urandom(300)
    await assert_stored(h, await post_raw(h, data), data, None)


async def test_same_bytes_twice_answer_the_existing_capture(make_harness: MakeHarness) -> None:
    h = await make_harness()
    data = SMALL_PCAP.read_bytes()
    first = await post_raw(h, data)
    await assert_stored(h, first, data, None)
    h.index.captures[sha256(data)]["status"] = "done"

    again = await post_form(h, gzip.compress(data))  # same capture bytes, other envelope
    assert again.status_code == 200
    assert again.json() == {"capture_id": sha256(data), "status": "done"}
    assert again.headers["location"] == f"/v1/captures/{sha256(data)}"
    assert len(await h.settled_events()) == 1
    assert list(h.ctx.settings.tmp_dir.iterdir()) == []


async def test_reanalyze_queues_the_capture_again(make_harness: MakeHarness) -> None:
    h = await make_harness()
    data = SMALL_PCAP.read_bytes()
    await post_raw(h, data, filename="first.pcap")
    cid = sha256(data)
    h.index.captures[cid].update(status="failed", error="boom")
    await h.ctx.blobs.delete(capture_key(cid))  # a lost blob is restored by the new upload

    r = await post_raw(h, data, filename="second.pcap", reanalyze="true")
    assert r.status_code == 202
    assert r.json() == {"capture_id": cid, "status": "stored"}
    doc = h.index.captures[cid]
    assert (doc["status"], doc["error"], doc["filename"]) == ("stored", None, "first.pcap")
    assert await h.ctx.blobs.get_bytes(capture_key(cid)) == data
    events = await h.settled_events()
    assert [e.capture_id for e in events] == [cid, cid]


# -- refused uploads: nothing stored, and the service keeps working --


def _zip_bytes() -> bytes:
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("capture.pcap", SMALL_PCAP.read_bytes())
    return buf.getvalue()


def _gzip_bomb() -> bytes:
    return gzip.compress(SMALL_PCAP.read_bytes()[:24] + bytes(10 * 1024 * 1024))


REFUSALS: list[tuple[str, Callable[[], bytes], bool, int, int, str]] = [
    # id, body, as multipart, limit, status, fragment of the message
    ("text", lambda: b"hello, this is not a capture\n" * 10, False, 1 << 20, 415, "text"),
    ("html", lambda: b"<!doctype html><html></html>", True, 1 << 20, 415, "HTML"),
    ("zip", _zip_bytes, False, 1 << 20, 415, "zip archive"),
    ("gzip-text", lambda: gzip.compress(b"just text"), False, 1 << 20, 415, "text"),
    ("empty", lambda: b"", False, 1 << 20, 400, "empty"),
    ("empty-part", lambda: b"", True, 1 << 20, 400, "empty"),
    ("empty-gzip", lambda: gzip.compress(b""), False, 1 << 20, 400, "empty"),
    ("short-pcap", lambda: SMALL_PCAP.read_bytes()[:10], False, 1 << 20, 400, "truncated pcap"),
    ("short-ng", lambda: PCAPNG.read_bytes()[:20], True, 1 << 20, 400, "truncated pcapng"),
    ("one-byte", lambda: b"\xd4", False, 1 << 20, 400, "truncated"),
    ("cut-gzip", lambda: gzip.compress(SMALL_PCAP.read_bytes())[:-30], False, 1 << 20, 400, "gzip"),
    ("over-limit", SMALL_PCAP.read_bytes, False, 1000, 413, "limit of 1000 bytes"),
    ("over-limit-form", SMALL_PCAP.read_bytes, True, 1000, 413, "limit"),
    ("declared-too-big", lambda: bytes(200_000), False, 1000, 413, "limit"),
    ("gzip-bomb", _gzip_bomb, False, 1 << 20, 413, "limit"),
]


@pytest.mark.parametrize(
    ("body", "multipart", "limit", "status", "fragment"),
    [r[1:] for r in REFUSALS],
    ids=[r[0] for r in REFUSALS],
)
async def test_refused_upload_leaves_no_trace(
    make_harness: MakeHarness,
    body: Callable[[], bytes],
    multipart: bool,
    limit: int,
    status: int,
    fragment: str,
) -> None:
    h = await make_harness(max_upload_bytes=limit)
    data = body()
    r = await (post_form(h, data) if multipart else post_raw(h, data))
    assert r.status_code == status, r.text
    assert fragment in r.json()["detail"]
    await h.assert_nothing_stored()

    ok = (PCAPS / "zeek_dns-txt-multiple.pcap").read_bytes()  # 692 bytes: under every limit
    await assert_stored(h, await post_raw(h, ok), ok, None)


async def test_not_a_capture_message_says_what_was_expected(make_harness: MakeHarness) -> None:
    h = await make_harness()
    r = await post_raw(h, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert r.status_code == 415
    assert r.json()["detail"] == (
        "expected a pcap or pcapng capture (optionally gzip-compressed); "
        'got text ("GET / HTTP/1.1 Host: example.com")'
    )


async def test_streamed_body_over_the_limit_stops_being_read(make_harness: MakeHarness) -> None:
    h = await make_harness(max_upload_bytes=64 * 1024)
    header = SMALL_PCAP.read_bytes()[:24]
    sent = 0

    async def body() -> AsyncIterator[bytes]:  # chunked: no Content-Length to check up front
        nonlocal sent
        yield header
        for _ in range(1000):
            sent += 1
            yield bytes(16 * 1024)

    r = await post_raw(h, body())
    assert r.status_code == 413
    assert sent < 10  # refused as soon as the limit passed, not after 16 MB
    await h.assert_nothing_stored()


async def test_multipart_without_a_file_field(make_harness: MakeHarness) -> None:
    h = await make_harness()
    r = await h.client.post(
        "/v1/captures", files={"capture": ("x.pcap", SMALL_PCAP.read_bytes())}, data={"a": "b"}
    )
    assert r.status_code == 400
    assert "'file'" in r.json()["detail"]
    await h.assert_nothing_stored()


async def test_truncated_multipart_body(make_harness: MakeHarness) -> None:
    h = await make_harness()
    data = SMALL_PCAP.read_bytes()
    body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n' + data
    r = await h.client.post(
        "/v1/captures", content=body, headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert r.status_code == 400
    assert "last boundary" in r.json()["detail"]
    await h.assert_nothing_stored()


async def test_openapi_documents_the_upload(make_harness: MakeHarness) -> None:
    h = await make_harness()
    spec = (await h.client.get("/openapi.json")).json()
    op = spec["paths"]["/v1/captures"]["post"]
    assert {"multipart/form-data", "application/octet-stream"} <= set(op["requestBody"]["content"])
    assert {"200", "202", "400", "413", "415"} <= set(op["responses"])
