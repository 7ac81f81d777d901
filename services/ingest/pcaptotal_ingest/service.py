"""Register a spooled capture: dedupe by id, then blob → document → message (claim-check).

The order is what keeps the pipeline honest: a message is published only once the blob it
points at and the document it updates both exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pcaptotal.captures import Status
from pcaptotal.context import Context
from pcaptotal.keys import capture_key
from pcaptotal.messages import CaptureStored

from pcaptotal_ingest.spool import SpooledCapture

_MAX_FILENAME = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_GZ_SUFFIX = re.compile(r"\.(gz|gzip)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Registration:
    capture_id: str
    status: str
    queued: bool  # a capture.stored message was published (new capture or re-analysis)


def clean_filename(name: str | None, *, decompressed: bool) -> str | None:
    """A display name: no directories (browsers may send ``C:\\fakepath\\x``), no control
    characters, bounded length; ``.gz`` dropped when we stored the decompressed capture."""
    if not name:
        return None
    name = _CONTROL.sub("", re.split(r"[/\\]", name)[-1]).strip()
    if decompressed:
        name = _GZ_SUFFIX.sub("", name) or name
    return name[:_MAX_FILENAME] or None


async def register_capture(
    ctx: Context, capture: SpooledCapture, *, reanalyze: bool = False
) -> Registration:
    capture_id = capture.sha256
    key = capture_key(capture_id)
    filename = clean_filename(capture.filename, decompressed=capture.compressed)
    existing = await ctx.captures.get(capture_id)
    if existing is not None and not reanalyze:
        return Registration(capture_id, str(existing.get("status", "")), queued=False)

    if existing is None or await ctx.blobs.stat(key) is None:
        metadata = {"sha256": capture_id}
        if filename:
            metadata["filename"] = filename
        await ctx.blobs.put_file(key, capture.path, metadata=metadata)
    if existing is None:
        await ctx.captures.create(capture_id, size=capture.size, filename=filename)
    else:
        # Re-analysis: back to "stored" so the status shows the new run; later stages
        # overwrite summary and warnings. The first upload's name and creation time stay.
        filename = existing.get("filename") or filename
        await ctx.captures.update(
            capture_id, Status.STORED, error=None, size=capture.size, filename=filename
        )
    await ctx.bus.publish(
        CaptureStored(capture_id=capture_id, blob_key=key, size=capture.size, filename=filename)
    )
    return Registration(capture_id, Status.STORED.value, queued=True)
