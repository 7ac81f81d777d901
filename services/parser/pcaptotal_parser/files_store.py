"""Carved files into the blob store, each stored once under ``files/<sha256>``."""

from __future__ import annotations

from collections.abc import Sequence

from pcaptotal.keys import file_key
from pcaptotal.ports import BlobStore

from pcaptotal_parser.outcome import FileToStore


async def store_files(blobs: BlobStore, files: Sequence[FileToStore]) -> int:
    """Upload the files not stored yet; returns how many were uploaded."""
    uploaded = 0
    seen: set[str] = set()
    for file in files:
        if file.sha256 in seen:
            continue
        seen.add(file.sha256)
        key = file_key(file.sha256)
        if await blobs.stat(key) is not None:
            continue
        # metadata only from values we computed: names from the capture stay out of headers
        await blobs.put_file(
            key,
            file.path,
            metadata={
                "content-type": file.mime_type,
                "sha256": file.sha256,
                "size": str(file.size),
            },
        )
        uploaded += 1
    return uploaded
