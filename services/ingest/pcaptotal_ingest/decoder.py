"""Turn an upload's bytes, as they arrive, into capture bytes: gunzip, size-limit, hash, check.

Synchronous and I/O-free: capture bytes go to an injected ``sink`` (a file write in
production), so the whole upload never sits in memory and the unit is easy to test.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable

from pcaptotal_ingest import magic
from pcaptotal_ingest.errors import MalformedUpload, UploadTooLarge

_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip container only (not raw deflate or zlib)
# Largest piece one decompress call may produce: bounds memory whatever the compression ratio.
_INFLATE_STEP = 1 << 20


class CaptureDecoder:
    """Feed upload bytes with ``feed``, then call ``finish``; raises ``UploadRejected`` kinds.

    The limit applies to the decompressed capture and is checked as bytes are inflated, so a
    decompression bomb costs at most ``limit`` bytes of work before it is refused.
    """

    def __init__(self, limit: int, sink: Callable[[bytes], object]) -> None:
        self._limit = limit
        self._sink = sink
        self._sha = hashlib.sha256()
        # md5 only names captures the way PacketTotal's API does (its lookups are by md5).
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._size = 0
        self._raw_head = b""  # until the first two bytes say whether it is gzip
        self._compressed: bool | None = None
        self._inflater: zlib._Decompress | None = None
        self._member_open = False  # the current gzip member has input but no end yet
        self._head = bytearray()  # first capture bytes, held back until the format is known
        self._format: magic.CaptureFormat | None = None
        self._finished = False

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    @property
    def md5(self) -> str:
        return self._md5.hexdigest()

    @property
    def size(self) -> int:
        """Capture bytes so far (decompressed)."""
        return self._size

    @property
    def compressed(self) -> bool:
        return bool(self._compressed)

    @property
    def format(self) -> magic.CaptureFormat | None:
        return self._format

    def feed(self, data: bytes) -> None:
        if self._finished:
            raise RuntimeError("feed() after finish()")
        if self._compressed is None:
            self._raw_head += data
            if len(self._raw_head) < len(magic.GZIP_MAGIC):
                return
            data, self._raw_head = self._raw_head, b""
            self._compressed = data.startswith(magic.GZIP_MAGIC)
            if self._compressed:
                self._inflater = zlib.decompressobj(_GZIP_WBITS)
        if self._inflater is not None:
            self._inflate(data)
        elif data:
            self._accept(data)

    def finish(self) -> magic.CaptureFormat:
        """End of upload: flush, then check the capture is complete. Returns its format."""
        self._finished = True
        if self._compressed is None:  # fewer than two bytes in all
            self._compressed = False
            if self._raw_head:
                self._accept(self._raw_head)
        if self._inflater is not None:
            self._accept(self._inflater.flush())
            if self._member_open and not self._inflater.eof:
                raise MalformedUpload("truncated gzip data: the compressed stream ends early")
        if self._format is None:
            fmt = magic.identify(bytes(self._head), complete=True)
            assert fmt is not None  # identify(complete=True) decides or raises
            self._release_head(fmt)
        assert self._format is not None
        magic.check_complete(self._format, self._size)
        return self._format

    def _inflate(self, data: bytes) -> None:
        assert self._inflater is not None
        while data:
            if self._inflater.eof:
                # Concatenated gzip members (as `cat a.gz b.gz`, or pigz) form one stream.
                self._inflater = zlib.decompressobj(_GZIP_WBITS)
            self._member_open = True
            # Never ask for more than one byte past the limit: that byte proves the excess.
            step = min(_INFLATE_STEP, self._limit - self._size + 1)
            try:
                out = self._inflater.decompress(data, step)
            except zlib.error as exc:
                raise MalformedUpload(f"{magic.EXPECTED}; got corrupt gzip data ({exc})") from None
            self._accept(out)
            if self._inflater.eof:
                self._member_open = False
                data = self._inflater.unused_data
            else:
                data = self._inflater.unconsumed_tail

    def _accept(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._size += len(chunk)
        if self._size > self._limit:
            raise UploadTooLarge(self._limit)
        self._sha.update(chunk)
        self._md5.update(chunk)
        if self._format is not None:
            self._sink(chunk)
            return
        self._head += chunk
        if len(self._head) >= magic.SNIFF_LEN:
            fmt = magic.identify(bytes(self._head), complete=False)
            if fmt is not None:
                self._release_head(fmt)

    def _release_head(self, fmt: magic.CaptureFormat) -> None:
        self._format = fmt
        if self._head:
            self._sink(bytes(self._head))
        self._head = bytearray()
