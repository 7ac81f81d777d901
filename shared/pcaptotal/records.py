"""Parsed-record blobs: zstd-compressed NDJSON, one flow document per line.

Read in bounded memory: the blob is fetched to a temp file and decompressed as a stream, so
a capture with millions of flows never sits in RAM at once.
"""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import zstandard

from pcaptotal.ports import BlobStore


def write_records(path: Path, records: Iterator[dict[str, Any]]) -> int:
    """Write records to ``path``; returns how many were written."""
    count = 0
    cctx = zstandard.ZstdCompressor(level=3)
    with path.open("wb") as raw, cctx.stream_writer(raw) as zw:
        for rec in records:
            zw.write(json.dumps(rec, separators=(",", ":")).encode())
            zw.write(b"\n")
            count += 1
    return count


def _iter_file(path: Path) -> Iterator[dict[str, Any]]:
    dctx = zstandard.ZstdDecompressor()
    with path.open("rb") as raw, dctx.stream_reader(raw) as zr:
        for line in io.TextIOWrapper(zr, encoding="utf-8"):
            if line.strip():
                yield json.loads(line)


async def iter_records(
    blobs: BlobStore, key: str, tmp_dir: Path, batch_size: int = 2000
) -> AsyncIterator[list[dict[str, Any]]]:
    """Yield the records of blob ``key`` in batches, decoding off the event loop."""
    await asyncio.to_thread(tmp_dir.mkdir, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_dir) as d:
        path = Path(d) / "records.ndjson.zst"
        await blobs.get_to_file(key, path)
        it = _iter_file(path)

        def next_batch() -> list[dict[str, Any]]:
            batch: list[dict[str, Any]] = []
            for rec in it:
                batch.append(rec)
                if len(batch) >= batch_size:
                    break
            return batch

        while batch := await asyncio.to_thread(next_batch):
            yield batch
