"""Uploads while a dependency is down: accepted into the outbox, or a quick 503."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pcaptotal import outbox
from pcaptotal.adapters.file_blobstore import FileBlobStore
from pcaptotal.adapters.memory_bus import MemoryBus
from pcaptotal.adapters.tantivy_index import TantivyIndex
from pcaptotal.context import Context
from pcaptotal.messages import Envelope
from pcaptotal.reconcile import Reconciler
from pcaptotal.settings import Settings
from pcaptotal.web import install_problem_details
from pcaptotal_ingest import create_router

from tests.paths import PCAPS

PCAP = PCAPS / "zeek_icmp-5-pings.pcap"


class DownBus(MemoryBus):
    """A bus whose broker is unreachable until ``up`` is set (publish hangs, as a robust
    AMQP connection does while it reconnects)."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False
        self.sent: list[Envelope] = []

    async def publish(self, event: Envelope, routing_key: str | None = None) -> None:
        if not self.up:
            await asyncio.sleep(3600)
        self.sent.append(event)

    async def ping(self) -> bool:
        return self.up


class DownBlobs(FileBlobStore):
    async def put_file(self, *args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError(111, "Connection refused")


async def _app(ctx: Context) -> tuple[FastAPI, httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(create_router())
    install_problem_details(app)
    app.state.ctx = ctx
    return app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture
async def index(tmp_path: Path) -> AsyncIterator[TantivyIndex]:
    idx = TantivyIndex(tmp_path / "index")
    await idx.start()
    yield idx
    await idx.close()


async def test_upload_while_bus_is_down_is_accepted_then_relayed(
    tmp_path: Path, index: TantivyIndex
) -> None:
    settings = Settings(data_dir=tmp_path, publish_timeout_s=0.5, outbox_grace_s=0)
    bus = DownBus()
    blobs = FileBlobStore(tmp_path / "blobs")
    await blobs.start()
    ctx = Context(settings, bus, blobs, index)
    _, client = await _app(ctx)
    data = PCAP.read_bytes()
    cid = hashlib.sha256(data).hexdigest()
    async with client:
        start = time.monotonic()
        r = await client.post("/v1/captures", content=data)
        assert r.status_code == 202 and r.json() == {"capture_id": cid, "status": "stored"}
        assert time.monotonic() - start < 3  # not the minute-long wait of a retrying publish
        assert [p.event.capture_id for p in await outbox.pending(blobs)] == [cid]

        # The same upload again, bus still down: still accepted, nothing lost, no duplicate.
        r = await client.post("/v1/captures", content=data)
        assert r.status_code == 200 and r.json()["status"] == "stored"
        assert len(await outbox.pending(blobs)) == 1

    bus.up = True
    assert await Reconciler(ctx).relay_outbox() == 1
    assert [e.capture_id for e in bus.sent] == [cid]
    assert await outbox.pending(blobs) == []


async def test_upload_while_blob_store_is_down_is_a_quick_503(
    tmp_path: Path, index: TantivyIndex
) -> None:
    settings = Settings(data_dir=tmp_path, request_retry_s=0.5)
    blobs = DownBlobs(tmp_path / "blobs")
    await blobs.start()
    ctx = Context(settings, MemoryBus(), blobs, index).with_retry(settings.request_retry_s)
    _, client = await _app(ctx)
    async with client:
        start = time.monotonic()
        r = await client.post("/v1/captures", content=PCAP.read_bytes())
    assert r.status_code == 503, r.text
    assert int(r.headers["retry-after"]) > 0
    assert "blob store" in r.json()["detail"] and "/" not in r.json()["detail"].split(":")[0]
    assert time.monotonic() - start < 5
    assert await index.find_captures() == []  # nothing half-accepted
