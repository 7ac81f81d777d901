"""Deleting a capture, and expiring old ones (``PCAPTOTAL_RETENTION_DAYS``).

A capture leaves: its blob (``captures/<id>``), its parsed records (``parsed/<id>.ndjson.zst``),
what the enricher remembers it published (``published/<id>.json.zst``), any outbox entry
(``outbox/<id>``), every record of every dataset (flows, dns, http, tls, file, finding: one
index family, removed by capture id) and its capture document. A carved file
(``files/<sha256>``) is content-addressed and may come from several captures: it goes only
when no file record of another capture names its hash.

The index and blob store given here must be the unscoped adapters: whether another capture
still references a file is a question about every capture, not only those the caller sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from pcaptotal.captures import UNFINISHED, Status
from pcaptotal.keys import capture_key, file_key, md5_key, parsed_key
from pcaptotal.outbox import outbox_key
from pcaptotal.packettotal import MD5
from pcaptotal.ports import BlobStore, Index
from pcaptotal.query import parse_query

log = structlog.get_logger(__name__)

PUBLISHED_PREFIX = "published/"  # pcaptotal_enricher.published keeps its own copy of this
FILE_PAGE = 1000
RETENTION_BATCH = 10_000  # captures looked at per retention pass


def published_key(capture_id: str) -> str:
    return f"{PUBLISHED_PREFIX}{capture_id}.json.zst"


class CaptureBusy(Exception):
    """The capture is still being analysed: deleting now would race its workers, which
    recreate a missing document."""


@dataclass(slots=True)
class Deleted:
    capture_id: str
    records: int = 0
    blobs: list[str] = field(default_factory=list)
    files_kept: list[str] = field(default_factory=list)  # still named by another capture


async def _file_hashes(index: Index, capture_id: str) -> tuple[list[str], int]:
    """(sha256 of the capture's file records, how many records the capture has)."""
    everything = await index.search_flows(parse_query(""), capture_id=capture_id, limit=0)
    hashes: dict[str, None] = {}
    cursor: str | None = None
    while True:
        page = await index.search_page(
            parse_query(""),
            capture_id=capture_id,
            datasets=("file",),
            limit=FILE_PAGE,
            cursor=cursor,
        )
        for hit in page.hits:
            sha = hit.get("file.hash.sha256")
            for value in sha if isinstance(sha, list) else [sha]:
                if isinstance(value, str):
                    hashes[value] = None
        cursor = page.cursor
        if cursor is None or not page.hits:
            return list(hashes), everything.total


async def _referenced(index: Index, sha256: str) -> bool:
    if not sha256.isalnum():
        return True  # not a hash we wrote: leave it alone
    hits = await index.search_flows(
        parse_query(f"file.hash.sha256:{sha256}"), limit=0, datasets=("file",)
    )
    return hits.total > 0


async def delete_capture(
    index: Index, blobs: BlobStore, capture_id: str, *, force: bool = False
) -> Deleted | None:
    """Remove the capture and everything derived from it; ``None`` when there is no such
    capture. Raises ``CaptureBusy`` for an unfinished capture unless ``force``."""
    doc = await index.get_capture(capture_id)
    if doc is None:
        return None
    if not force and doc.get("status") in {s.value for s in UNFINISHED}:
        raise CaptureBusy(f"capture {capture_id} is {doc.get('status')}")
    out = Deleted(capture_id)
    hashes, out.records = await _file_hashes(index, capture_id)
    await index.delete_flows(capture_id)  # every dataset: one index family, by capture id
    for sha in hashes:
        if await _referenced(index, sha):
            out.files_kept.append(sha)
        else:
            await _delete_blob(blobs, file_key(sha), out)
    md5 = doc.get("md5")
    marker = [md5_key(md5, capture_id)] if isinstance(md5, str) and MD5.fullmatch(md5) else []
    for key in (
        capture_key(capture_id),
        parsed_key(capture_id),
        published_key(capture_id),
        outbox_key(capture_id),
        *marker,  # the md5 lookup's entry (PacketTotal compatibility)
    ):
        await _delete_blob(blobs, key, out)
    # the document last: a failure half-way leaves a capture that can be deleted again
    await index.delete_capture(capture_id)
    log.info(
        "capture deleted",
        capture_id=capture_id,
        records=out.records,
        blobs=len(out.blobs),
        files_kept=len(out.files_kept),
    )
    return out


async def _delete_blob(blobs: BlobStore, key: str, out: Deleted) -> None:
    if await blobs.stat(key) is not None:
        await blobs.delete(key)
        out.blobs.append(key)


def _created(doc: dict[str, Any]) -> datetime | None:
    raw = doc.get("created")
    if not isinstance(raw, str):
        return None
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


async def expire(
    index: Index, blobs: BlobStore, retention_days: int, now: datetime | None = None
) -> list[str]:
    """Delete finished captures created more than ``retention_days`` ago (0: keep all);
    the ids deleted. Unfinished captures wait for their analysis to end."""
    if retention_days <= 0:
        return []
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    finished = [Status.DONE.value, Status.FAILED.value]
    docs = await index.find_captures(finished, RETENTION_BATCH)
    expired = []
    for doc in docs:
        created = _created(doc)
        old = created is not None and created < cutoff
        if old and await delete_capture(index, blobs, str(doc["id"])) is not None:
            expired.append(str(doc["id"]))
    if expired:
        log.info("captures expired", count=len(expired), retention_days=retention_days)
    return expired
