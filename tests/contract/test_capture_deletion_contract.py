"""Deleting a capture and expiring old ones (``pcaptotal.deletion``) on every Index and
BlobStore adapter: the document, every record of every dataset, the derived blobs and the
carved files no other capture names go; a file another capture shares stays."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pcaptotal.adapters.memory_bus import MemoryBus
from pcaptotal.captures import new_capture_doc
from pcaptotal.context import Context
from pcaptotal.deletion import CaptureBusy, delete_capture, expire
from pcaptotal.ports import BlobStore, Index
from pcaptotal.query import parse_query
from pcaptotal.reconcile import Reconciler
from pcaptotal.settings import Settings

from tests.contract.test_blobstore_contract import blobs
from tests.contract.test_index_contract import index

__all__ = ["blobs", "index"]  # the fixtures: every adapter of each port

OLD = datetime(2026, 1, 1, tzinfo=UTC)
NOW = OLD + timedelta(days=40)
SHARED = hashlib.sha256(b"shared file").hexdigest()


def _cid(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _records(cid: str, files: list[str]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {
            "event.id": f"{cid}-tcp-0",
            "event.dataset": "flow",
            "pcaptotal.capture_id": cid,
            "@timestamp": "2026-01-01T00:00:00Z",
        },
        {
            "event.id": f"{cid}-dns-1",
            "event.dataset": "dns",
            "pcaptotal.capture_id": cid,
            "@timestamp": "2026-01-01T00:00:01Z",
        },
        {
            "event.id": f"{cid}-finding-1",
            "event.dataset": "finding",
            "pcaptotal.capture_id": cid,
            "@timestamp": "2026-01-01T00:00:02Z",
        },
    ]
    docs += [
        {
            "event.id": f"{cid}-file-{sha}",
            "event.dataset": "file",
            "pcaptotal.capture_id": cid,
            "file.hash.sha256": sha,
            "@timestamp": "2026-01-01T00:00:03Z",
        }
        for sha in files
    ]
    return docs


async def _capture(
    index: Index, blobs: BlobStore, name: str, files: list[str], status: str, created: datetime
) -> str:
    cid = _cid(name)
    doc = new_capture_doc(cid, size=3, filename=name) | {
        "status": status,
        "created": created.isoformat(),
    }
    await index.put_capture(doc)
    await index.add_flows(_records(cid, files))
    for key in (
        f"captures/{cid}",
        f"parsed/{cid}.ndjson.zst",
        f"published/{cid}.json.zst",
        f"outbox/{cid}",
        *(f"files/{sha}" for sha in files),
    ):
        await blobs.put_bytes(key, b"abc")
    return cid


async def _count(index: Index, cid: str) -> int:
    result = await index.search_flows(parse_query(""), capture_id=cid, limit=0)
    return result.total


async def test_delete_removes_everything_but_shared_files(index: Index, blobs: BlobStore) -> None:
    own = hashlib.sha256(b"own file").hexdigest()
    a = await _capture(index, blobs, "a", [own, SHARED], "done", OLD)
    b = await _capture(index, blobs, "b", [SHARED], "done", OLD)
    assert await _count(index, a) == 5

    done = await delete_capture(index, blobs, a)
    assert done is not None
    assert done.records == 5
    assert done.files_kept == [SHARED]
    assert sorted(done.blobs) == sorted(
        [
            f"files/{own}",
            f"captures/{a}",
            f"parsed/{a}.ndjson.zst",
            f"published/{a}.json.zst",
            f"outbox/{a}",
        ]
    )
    assert await index.get_capture(a) is None
    assert await _count(index, a) == 0
    assert [k for k in await blobs.list_keys() if a in k or own in k] == []
    assert await blobs.stat(f"files/{SHARED}") is not None
    assert await _count(index, b) == 4  # the other capture is untouched
    assert await delete_capture(index, blobs, a) is None

    done = await delete_capture(index, blobs, b)
    assert done is not None and f"files/{SHARED}" in done.blobs
    assert await blobs.list_keys() == []


async def test_unfinished_capture_is_not_deleted(index: Index, blobs: BlobStore) -> None:
    cid = await _capture(index, blobs, "busy", [], "parsing", OLD)
    with pytest.raises(CaptureBusy):
        await delete_capture(index, blobs, cid)
    assert await index.get_capture(cid) is not None
    assert await delete_capture(index, blobs, cid, force=True) is not None


async def test_retention_expires_finished_captures_older_than_n_days(
    index: Index, blobs: BlobStore, tmp_path: Any
) -> None:
    old_done = await _capture(index, blobs, "old-done", [SHARED], "done", OLD)
    old_failed = await _capture(index, blobs, "old-failed", [], "failed", OLD)
    old_busy = await _capture(index, blobs, "old-busy", [], "enriching", OLD)
    recent = await _capture(index, blobs, "recent", [SHARED], "done", NOW - timedelta(days=5))

    assert await expire(index, blobs, 0, now=NOW) == []  # 0: keep forever
    assert sorted(await expire(index, blobs, 30, now=NOW)) == sorted([old_done, old_failed])
    for cid in (old_done, old_failed):
        assert await index.get_capture(cid) is None
    for cid in (old_busy, recent):
        assert await index.get_capture(cid) is not None
    assert await blobs.stat(f"files/{SHARED}") is not None  # "recent" still has it

    # the reconciler's hook runs it with PCAPTOTAL_RETENTION_DAYS (the clock is real: the
    # recent capture, 5 days before a date in 2026-02, is older than 1 day today as well)
    settings = Settings(data_dir=tmp_path, retention_days=1)
    ctx = Context(settings=settings, bus=MemoryBus(), blobs=blobs, index=index)
    reconciler = Reconciler(ctx)
    assert await reconciler.expire() == [recent]
    assert await reconciler.expire() == []  # not again before retention_interval_s
    assert await blobs.stat(f"files/{SHARED}") is None
