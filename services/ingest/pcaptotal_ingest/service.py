"""Register a spooled capture: dedupe by id, then blob → document → outbox → message.

The order is what keeps the pipeline honest: a message is published only once the blob it
points at and the document it updates both exist.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import structlog
from pcaptotal import outbox
from pcaptotal.access.visibility import PRIVATE, PUBLIC, Visibility, capture_id_for
from pcaptotal.capture_context import CONTEXT_FIELD, CaptureContext, stored
from pcaptotal.captures import Status
from pcaptotal.context import Context
from pcaptotal.keys import capture_key, md5_key
from pcaptotal.messages import CaptureStored
from pcaptotal.reconcile import REDRIVES_FIELD
from pcaptotal.runs import next_run

from pcaptotal_ingest.spool import SpooledCapture

log = structlog.get_logger(__name__)

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
    ctx: Context,
    capture: SpooledCapture,
    *,
    reanalyze: bool = False,
    visibility: Visibility = PUBLIC,
    owner: str = "anonymous",
    context: CaptureContext | None = None,
) -> Registration:
    # Dedup per visibility: a private upload's id is scoped to its owner
    # (pcaptotal.access.visibility), so it never finds another owner's private capture.
    capture_id = capture_id_for(capture.sha256, visibility, owner)
    key = capture_key(capture_id)
    filename = clean_filename(capture.filename, decompressed=capture.compressed)
    existing = await ctx.captures.get(capture_id)
    if existing is not None and not reanalyze:
        status = str(existing.get("status", ""))
        if status == Status.STORED.value:
            await _flush_outbox_entry(ctx, capture_id)  # the bus may be back: don't wait
        return Registration(capture_id, status, queued=False)

    if existing is None or await ctx.blobs.stat(key) is None:
        metadata = {"sha256": capture.sha256}
        if filename:
            metadata["filename"] = filename
        await ctx.blobs.put_file(key, capture.path, metadata=metadata)
    # generation 1 on upload, +1 per re-analysis; a private capture's events go under private.
    run = next_run(existing, owner_if_private=owner if visibility == PRIVATE else None)
    if existing is None:
        await ctx.captures.create(
            capture_id,
            size=capture.size,
            filename=filename,
            visibility=visibility,
            owner=owner,
            sha256=capture.sha256,
            **({"md5": capture.md5} if capture.md5 else {}),
            **({CONTEXT_FIELD: stored(context)} if context is not None else {}),
            **run.fields(),
        )
        if capture.md5:  # the md5 lookup (PacketTotal compatibility), scoped as the capture
            await ctx.blobs.put_bytes(md5_key(capture.md5, capture_id), b"")
    else:
        # Re-analysis: back to "stored" so the status shows the new run; later stages
        # overwrite summary and warnings. The first upload's name and creation time stay.
        filename = existing.get("filename") or filename
        await ctx.captures.update(
            capture_id,
            Status.STORED,
            error=None,
            size=capture.size,
            filename=filename,
            **{REDRIVES_FIELD: 0},
            # context given with a re-analysis replaces the stored one; none keeps it
            **({CONTEXT_FIELD: stored(context)} if context is not None else {}),
            **run.fields(),
        )
    event = CaptureStored(
        capture_id=capture_id, **run.envelope(), size=capture.size, filename=filename
    )
    # Outbox first: once it is written the upload is accepted, whether or not the bus answers.
    await outbox.add(ctx.blobs, event)
    if await publish_now(ctx, event):
        await outbox.remove(ctx.blobs, capture_id)
    return Registration(capture_id, Status.STORED.value, queued=True)


async def publish_now(ctx: Context, event: CaptureStored) -> bool:
    """Publish within ``publish_timeout_s``; False leaves the event to the outbox relay."""
    try:
        await asyncio.wait_for(ctx.bus.publish(event), ctx.settings.publish_timeout_s)
    except Exception as exc:
        log.warning(
            "bus unavailable; capture accepted, its event waits in the outbox",
            capture_id=event.capture_id,
            error=repr(exc),
        )
        return False
    return True


async def _flush_outbox_entry(ctx: Context, capture_id: str) -> None:
    for item in await outbox.pending(ctx.blobs):
        if item.event.capture_id == capture_id and await publish_now(ctx, item.event):
            await outbox.remove(ctx.blobs, capture_id)
