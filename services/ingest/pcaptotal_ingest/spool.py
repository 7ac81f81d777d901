"""Spool an upload to a temp file through framing + decoder, off the event loop.

Each body chunk is unframed, inflated, hashed and written in one worker-thread hop, so neither
a big chunk nor a highly compressed one blocks the event loop. The temp file is removed when
the context exits, whatever happened.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from pcaptotal_ingest.decoder import CaptureDecoder
from pcaptotal_ingest.errors import UploadTooLarge
from pcaptotal_ingest.framing import Framing
from pcaptotal_ingest.magic import CaptureFormat


def body_limit(capture_limit: int) -> int:
    """Largest request body worth reading for a capture of at most ``capture_limit`` bytes.

    gzip can make incompressible data slightly bigger and multipart adds headers, so allow a
    small margin over the capture limit; the exact limit is enforced on the capture bytes.
    """
    return capture_limit + capture_limit // 256 + 64 * 1024


@dataclass(frozen=True, slots=True)
class SpooledCapture:
    path: Path
    sha256: str
    size: int
    compressed: bool
    format: CaptureFormat
    filename: str | None
    md5: str = ""


class CaptureSpooler:
    """``async with CaptureSpooler(...) as s: await s.feed(chunk); c = await s.finish()``."""

    def __init__(self, tmp_dir: Path, limit: int, framing: Framing) -> None:
        self._tmp_dir = tmp_dir
        self._limit = limit
        self._body_limit = body_limit(limit)
        self._body_bytes = 0
        self._framing = framing
        self._path: Path | None = None
        self._fh: BinaryIO | None = None
        self._decoder: CaptureDecoder | None = None

    async def __aenter__(self) -> CaptureSpooler:
        await asyncio.to_thread(self._open)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self._cleanup)

    def _open(self) -> None:
        self._tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._tmp_dir, prefix="upload-", suffix=".part")
        self._path = Path(name)
        self._fh = os.fdopen(fd, "wb")
        self._decoder = CaptureDecoder(self._limit, self._fh.write)

    def _cleanup(self) -> None:
        if self._fh is not None:
            self._fh.close()
        if self._path is not None:
            self._path.unlink(missing_ok=True)

    async def feed(self, chunk: bytes) -> None:
        # Counted here, before any work, so an oversized body stops being read at once.
        self._body_bytes += len(chunk)
        if self._body_bytes > self._body_limit:
            raise UploadTooLarge(self._limit)
        if chunk:
            await asyncio.to_thread(self._feed_sync, chunk)

    def _feed_sync(self, chunk: bytes) -> None:
        assert self._decoder is not None
        data = self._framing.feed(chunk)
        if data:
            self._decoder.feed(data)

    async def finish(self) -> SpooledCapture:
        """End of body: validate, flush the file and describe the capture in it."""
        return await asyncio.to_thread(self._finish_sync)

    def _finish_sync(self) -> SpooledCapture:
        assert self._decoder is not None and self._fh is not None and self._path is not None
        self._framing.finish()
        fmt = self._decoder.finish()
        self._fh.flush()
        return SpooledCapture(
            path=self._path,
            sha256=self._decoder.sha256,
            size=self._decoder.size,
            compressed=self._decoder.compressed,
            format=fmt,
            filename=self._framing.filename,
            md5=self._decoder.md5,
        )
