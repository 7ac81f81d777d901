"""Parsed-record blobs (claim-check): ``parsed/<capture_id>.ndjson.zst``.

One zstd frame; decompressed, UTF-8 lines, each a flat flow document with ``_id`` and the ECS
names of ``pcaptotal.fields`` (multi-valued fields are JSON arrays).

Read in bounded memory: the blob is fetched to a temp file and decompressed as a stream, so
a capture with millions of flows never sits in RAM at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import zstandard

from pcaptotal import keys
from pcaptotal.ports import BlobStore
from pcaptotal.record_json import dumps as dumps
from pcaptotal.record_json import loads as loads

CONTENT_TYPE = "application/x-ndjson"
CONTENT_ENCODING = "zstd"
ZSTD_LEVEL = 3


def write_ndjson_zst(docs: Iterable[dict[str, Any]], path: Path) -> int:
    """Write ``docs`` to ``path``; returns how many were written."""
    with RecordsWriter(path) as writer:
        writer.write(docs)
    return writer.count


class RecordsWriter:
    """A records file written a batch at a time (from one thread at a time), so a stage can
    stream records to it without holding them all."""

    def __init__(self, path: Path, level: int = ZSTD_LEVEL) -> None:
        compressor = zstandard.ZstdCompressor(level=level)
        self._stack = contextlib.ExitStack()
        raw = self._stack.enter_context(path.open("wb"))
        self._out = self._stack.enter_context(compressor.stream_writer(raw))
        self.count = 0

    def write(self, docs: Iterable[dict[str, Any]]) -> None:
        self.write_lines(map(dumps, docs))

    def write_lines(self, lines: Iterable[bytes]) -> None:
        """Lines written as they are (each a JSON value without a newline); ``count`` counts
        them."""
        out = self._out
        for line in lines:
            out.write(line)
            out.write(b"\n")
            self.count += 1

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> RecordsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def upload_records(blobs: BlobStore, capture_id: str, path: Path, count: int) -> str:
    """Upload a records file ``write_ndjson_zst`` wrote (``count`` records); returns its key."""
    key = keys.parsed_key(capture_id)
    await blobs.put_file(
        key,
        path,
        metadata={
            "content-type": CONTENT_TYPE,
            "content-encoding": CONTENT_ENCODING,
            "records": str(count),
        },
    )
    return key


def iter_lines(path: Path) -> Iterator[bytes]:
    """The non-blank lines of the file at ``path``, undecoded (each ends with its newline)."""
    dctx = zstandard.ZstdDecompressor()
    with path.open("rb") as raw, dctx.stream_reader(raw) as zr:
        for line in io.BufferedReader(zr, 1 << 20):
            if line.strip():
                yield line


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of the file at ``path``, decoded one at a time (blocking: not on a loop)."""
    for line in iter_lines(path):
        yield loads(line)


# A record line whose top-level kind is not "flow", told without decoding it: orjson writes no
# spaces, and inside a JSON string these quotes would be escaped. (A line with neither mark is
# decoded: json.dumps' fallback spacing, or a record parsed before records had kinds.)
DATASET_MARK = b'"event.dataset":"'
FLOW_MARK = b'"event.dataset":"flow"'


def surely_not_flow(line: bytes) -> bool:
    return DATASET_MARK in line and FLOW_MARK not in line


@asynccontextmanager
async def local_records(blobs: BlobStore, key: str, tmp_dir: Path) -> AsyncIterator[Path]:
    """Blob ``key`` (zstd NDJSON records) as a local file for as long as the block runs, so a
    stage can read it more than once instead of holding every record."""
    await asyncio.to_thread(tmp_dir.mkdir, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_dir) as d:
        path = Path(d) / "records.ndjson.zst"
        await blobs.get_to_file(key, path)
        yield path


async def iter_numbered(
    path: Path,
    batch_size: int = 2000,
    wanted: Callable[[int, bytes], bool] | None = None,
    each: Callable[[dict[str, Any]], object] | None = None,
) -> AsyncIterator[list[tuple[int, dict[str, Any]]]]:
    """(line number, record) of the records file at ``path``, in batches decoded off the event
    loop; a line ``wanted`` refuses (it sees the number and the raw line, in a worker thread)
    is skipped without being decoded, and ``each`` sees every decoded record there too."""
    lines = enumerate(iter_lines(path))

    def next_batch() -> list[tuple[int, dict[str, Any]]]:
        batch: list[tuple[int, dict[str, Any]]] = []
        for i, line in lines:
            if wanted is None or wanted(i, line):
                record = loads(line)
                if each is not None:
                    each(record)
                batch.append((i, record))
                if len(batch) >= batch_size:
                    break
        return batch

    while batch := await asyncio.to_thread(next_batch):
        yield batch
