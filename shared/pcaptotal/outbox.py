"""Transactional outbox for ``capture.stored``: accepting an upload and queueing it cannot
half-happen.

Ingest writes the event into the blob store (``outbox/<capture_id>``) before it publishes, and
removes it once the broker confirmed. If the bus is down, or the process dies in between, the
relay (``pcaptotal.reconcile``) publishes what is left once the bus is back. The blob store is
where the capture bytes already are: an upload that could not reach it was never accepted.
A duplicate publish (crash after confirm, before the delete) is harmless: stages are
idempotent.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass

from pcaptotal.messages import CaptureStored
from pcaptotal.ports import BlobNotFound, BlobStore

PREFIX = "outbox/"


def outbox_key(capture_id: str) -> str:
    return f"{PREFIX}{capture_id}"


@dataclass(frozen=True, slots=True)
class Pending:
    event: CaptureStored
    written_at: float  # unix time the entry was written


async def add(blobs: BlobStore, event: CaptureStored) -> None:
    body = json.dumps({"event": event.model_dump(mode="json"), "written_at": time.time()}).encode()
    await blobs.put_bytes(outbox_key(event.capture_id), body)


async def remove(blobs: BlobStore, capture_id: str) -> None:
    with contextlib.suppress(BlobNotFound):
        await blobs.delete(outbox_key(capture_id))


async def pending(blobs: BlobStore) -> list[Pending]:
    """Every entry still waiting to be published, oldest first; unreadable ones are dropped
    (they cannot name a capture, and the reconciler still sees the capture as stored)."""
    out: list[Pending] = []
    for key in await blobs.list_keys(PREFIX):
        try:
            raw = json.loads(await blobs.get_bytes(key))
            out.append(
                Pending(CaptureStored.model_validate(raw["event"]), float(raw["written_at"]))
            )
        except BlobNotFound:
            continue  # published and removed meanwhile
        except (ValueError, KeyError, TypeError):
            await blobs.delete(key)
    out.sort(key=lambda p: p.written_at)
    return out
