"""Parsed flow records: zstd-compressed NDJSON, one flow document per line (claim-check blob).

Format of ``parsed/<capture_id>.ndjson.zst``: a single zstd frame; decompressed, UTF-8 lines,
each a JSON object with ``_id`` and ECS field names from ``pcaptotal.fields`` (multi-valued
fields are JSON arrays). Written streaming to a temp file, then uploaded with ``put_file``.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import zstandard
from pcaptotal import keys
from pcaptotal.ports import BlobStore

CONTENT_TYPE = "application/x-ndjson"
CONTENT_ENCODING = "zstd"
ZSTD_LEVEL = 3


def write_ndjson_zst(docs: Iterable[dict[str, Any]], path: Path) -> int:
    """Write ``docs`` to ``path``; returns how many were written."""
    count = 0
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    with path.open("wb") as raw, compressor.stream_writer(raw) as out:
        for doc in docs:
            out.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode())
            out.write(b"\n")
            count += 1
    return count


async def store_records(
    blobs: BlobStore, capture_id: str, docs: Iterable[dict[str, Any]], *, tmp_dir: Path
) -> tuple[str, int]:
    """Write and upload the parsed records; returns (blob key, record count).

    Overwrites an earlier output for the same capture (re-runs are idempotent).
    """
    key = keys.parsed_key(capture_id)
    await asyncio.to_thread(tmp_dir.mkdir, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="records-", dir=tmp_dir) as work:
        path = Path(work) / "records.ndjson.zst"
        # Serialising and compressing is CPU work: keep it off the event loop.
        count = await asyncio.to_thread(write_ndjson_zst, docs, path)
        await blobs.put_file(
            key,
            path,
            metadata={
                "content-type": CONTENT_TYPE,
                "content-encoding": CONTENT_ENCODING,
                "records": str(count),
            },
        )
    return key, count
