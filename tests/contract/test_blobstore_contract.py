"""Contract for the BlobStore port; every adapter runs the same suite."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pcaptotal.adapters.file_blobstore import FileBlobStore
from pcaptotal.ports import BlobNotFound, BlobStore

# The S3 case starts a real SeaweedFS: integration tier (make test-unit leaves it out).
ADAPTERS = ["file", pytest.param("s3", marks=pytest.mark.integration)]


def _make(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if kind == "file":
        return FileBlobStore(tmp_path / "blobs")
    from pcaptotal.adapters.s3_blobstore import S3BlobStore

    base: str = request.getfixturevalue("seaweed_s3_url")
    # one bucket per test keeps tests apart on the shared server
    return S3BlobStore(base.rsplit("/", 1)[0] + f"/t-{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=ADAPTERS)
async def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    store = _make(request.param, request, tmp_path)
    await store.start()
    yield store
    await store.close()


async def test_put_get_roundtrip_bytes_and_file(blobs: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    await blobs.put_bytes("captures/abc", data, metadata={"Filename": "ünïcode x.pcap"})
    assert await blobs.get_bytes("captures/abc") == data
    out = tmp_path / "out.bin"
    await blobs.get_to_file("captures/abc", out)
    assert out.read_bytes() == data
    chunks = [c async for c in blobs.iter_chunks("captures/abc", 1 << 20)]
    assert b"".join(chunks) == data and len(chunks) == 4
    info = await blobs.stat("captures/abc")
    assert info is not None and info.size == len(data)
    # metadata keys are read case-insensitively (S3 lower-cases them)
    assert {k.lower(): v for k, v in info.metadata.items()}["filename"] == "ünïcode x.pcap"

    src = tmp_path / "src.bin"
    src.write_bytes(b"hello")
    meta = {"content-type": "application/x-ndjson", "content-encoding": "zstd", "records": "3"}
    await blobs.put_file("parsed/abc.ndjson.zst", src, metadata=meta)
    assert await blobs.get_bytes("parsed/abc.ndjson.zst") == b"hello"
    info = await blobs.stat("parsed/abc.ndjson.zst")
    assert info is not None and {k.lower(): v for k, v in info.metadata.items()} == meta


async def test_overwrite_and_delete(blobs: BlobStore) -> None:
    await blobs.put_bytes("k/1", b"one")
    await blobs.put_bytes("k/1", b"two")
    assert await blobs.get_bytes("k/1") == b"two"
    await blobs.delete("k/1")
    assert await blobs.stat("k/1") is None
    await blobs.delete("k/1")  # deleting a missing key is not an error


async def test_missing_key(blobs: BlobStore, tmp_path: Path) -> None:
    assert await blobs.stat("nope/x") is None
    with pytest.raises(BlobNotFound):
        await blobs.get_bytes("nope/x")
    with pytest.raises(BlobNotFound):
        await blobs.get_to_file("nope/x", tmp_path / "x")


async def test_list_keys_by_prefix(blobs: BlobStore) -> None:
    for key in ("captures/a", "captures/b", "parsed/a.ndjson.zst"):
        await blobs.put_bytes(key, b"x")
    assert await blobs.list_keys("captures/") == ["captures/a", "captures/b"]
    assert len(await blobs.list_keys()) == 3


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a/../../b", "", "a//b"])
async def test_keys_cannot_escape(blobs: BlobStore, key: str) -> None:
    with pytest.raises(ValueError):
        await blobs.put_bytes(key, b"x")
