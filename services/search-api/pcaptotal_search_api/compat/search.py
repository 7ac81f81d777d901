"""PacketTotal's searches: ``GET /search`` (one page, now) and the deep search (every match up
to ``DEEP_MAX``, run in the background, results kept for the caller to fetch).

A deep search runs as a task of the process that took it, as the caller (the request's
identity is copied into the task, so the access layer scopes it like any read), and writes
its state to the blob store under ``owned/<owner>/deep-search/<id>.json``: any replica can
answer for it, and only its owner can read it. A process that stops while a search runs
leaves it ``running``; after ``STALE_S`` it reads as failed.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import HTTPException
from pcaptotal.access.identity import Identity, current_identity
from pcaptotal.access.visibility import OWNED_PREFIX
from pcaptotal.context import Context
from pcaptotal.ports import BlobNotFound
from pcaptotal.query import QueryError, QueryGuard, QueryTimeout, ValidatedQuery
from pcaptotal.views import Page

from pcaptotal_search_api.compat.models import DeepSearchResults, SearchResults
from pcaptotal_search_api.cross import capture_docs, guarded

log = structlog.get_logger(__name__)

FLOWS_ONLY = ("flow",)
SEARCH_MAX = 1000
DEEP_MAX = 10_000
DEEP_PAGE = 1000
STALE_S = 3600.0
_tasks: set[asyncio.Task[None]] = set()  # held until done (asyncio keeps weak references)


def _datasets(text: str) -> tuple[str, ...] | None:
    return None if "event.dataset" in text else FLOWS_ONLY


async def parse(guard: QueryGuard, text: str) -> ValidatedQuery:
    try:
        return await guard.parse(text)
    except QueryError as exc:
        raise HTTPException(400, f"invalid query: {exc}") from exc
    except QueryTimeout as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from exc


async def with_md5(ctx: Context, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record with its capture's md5 (``pcap_md5``), as PacketTotal named captures."""
    ids = [str(h.get("pcaptotal.capture_id")) for h in hits]
    docs = await capture_docs(ctx, ids)
    return [
        {"pcap_md5": (docs.get(cid) or {}).get("md5"), **h}
        for cid, h in zip(ids, hits, strict=True)
    ]


async def search_now(ctx: Context, guard: QueryGuard, text: str, limit: int) -> SearchResults:
    query = await parse(guard, text)
    result = await guarded(
        guard,
        lambda: ctx.index.search_flows(query, limit=limit, datasets=_datasets(text)),
    )
    hits = await with_md5(ctx, result.hits)
    return SearchResults(query=text, total=result.total, returned=len(hits), results=hits)


def _job_key(owner: str, search_id: str) -> str:
    return f"{OWNED_PREFIX}{owner}/deep-search/{search_id}.json"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def _save(ctx: Context, owner: str, job: DeepSearchResults) -> None:
    await ctx.blobs.put_bytes(_job_key(owner, job.search_id), job.model_dump_json().encode())


async def _run(ctx: Context, guard: QueryGuard, owner: str, job: DeepSearchResults) -> None:
    try:
        query = await guard.parse(job.query)
        hits: list[dict[str, Any]] = []
        cursor: str | None = None
        total = 0

        async def next_page() -> Page:  # each page within the search budget
            return await ctx.index.search_page(
                query,
                datasets=_datasets(job.query),
                limit=min(DEEP_PAGE, DEEP_MAX - len(hits)),
                cursor=cursor,
            )

        while len(hits) < DEEP_MAX:
            page = await guard.search(next_page)
            total = page.total
            hits.extend(page.hits)
            cursor = page.cursor
            if cursor is None or not page.hits:
                break
        job.results = await with_md5(ctx, hits)
        job.total, job.truncated = total, total > len(hits)
        job.status = "done"
    except (QueryError, QueryTimeout) as exc:
        job.status, job.error = "failed", str(exc)
    except Exception as exc:  # the job says it failed; the log has why
        log.error("deep search failed", search_id=job.search_id, exc_info=exc)
        job.status, job.error = "failed", "internal error; the server log has the details"
    job.finished = _now()
    await _save(ctx, owner, job)


async def start_deep(ctx: Context, guard: QueryGuard, text: str) -> DeepSearchResults:
    await parse(guard, text)  # a bad query is a 400 now, not a failed job later
    who: Identity | None = current_identity.get()
    owner = who.owner if who else "anonymous"
    job = DeepSearchResults(
        search_id=secrets.token_hex(16), query=text, status="running", started=_now()
    )
    await _save(ctx, owner, job)
    # create_task copies the context: the job reads as the caller.
    task = asyncio.create_task(_run(ctx, guard, owner, job.model_copy()))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return job


async def deep_results(ctx: Context, search_id: str) -> DeepSearchResults:
    who = current_identity.get()
    owner = who.owner if who else "anonymous"
    missing = HTTPException(404, f"no deep search {search_id} of this key's owner")
    if len(search_id) != 32 or not all(c in "0123456789abcdef" for c in search_id):
        raise missing
    try:
        data = await ctx.blobs.get_bytes(_job_key(owner, search_id))
    except (BlobNotFound, KeyError):
        raise missing from None
    job = DeepSearchResults.model_validate(json.loads(data))
    if job.status == "running":
        started = datetime.fromisoformat(job.started.replace("Z", "+00:00"))
        if (datetime.now(UTC) - started).total_seconds() > STALE_S:
            job.status, job.error = "failed", "the service stopped while this search ran"
    return job
