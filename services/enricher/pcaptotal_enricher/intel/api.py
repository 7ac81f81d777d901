"""Admin API for threat-intel feeds: ``/v1/intel/feeds`` upload, list, show, delete.

The FeedStore comes from ``request.app.state.intel`` (set by the composition root).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import anyio
import structlog
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pcaptotal.web import Problem, binary_upload_body, error_responses, problem, quote_input
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from pcaptotal_enricher.intel.limits import size_text
from pcaptotal_enricher.intel.store import (
    FeedEntry,
    FeedExists,
    FeedRejected,
    FeedStore,
    InvalidFeedName,
    check_name,
)

log = structlog.get_logger(__name__)
_CHUNK = 1 << 20


class LineErrorOut(BaseModel):
    line: int = Field(description="1-based line number (item number for JSON feeds)")
    error: str = Field(description="why the line was not loaded (as a feed's or capture's error)")


class FeedOut(BaseModel):
    name: str
    format: str
    indicators: int
    by_type: dict[str, int] = Field(description="indicator count per type")
    malformed: int
    errors: list[LineErrorOut] = Field(description="the first malformed lines")
    skipped: dict[str, int] = Field(description="items not loaded, by reason")
    error: str | None = Field(
        description="why the feed is not loaded (unreadable, over a limit, no indicators); "
        "such a feed contributes no indicators and never stops the others"
    )
    size: int
    modified: datetime
    loaded_at: datetime


class FeedList(BaseModel):
    feeds: list[FeedOut]
    indicators: int = Field(description="distinct indicator values loaded across feeds")
    failed: int = Field(description="feeds not loaded (each says why in its `error`)")
    loaded_at: datetime | None


class RejectedFeed(Problem):
    """A 422 for a file that is not a loadable feed (problem details + what was wrong)."""

    format: str
    malformed: int
    errors: list[LineErrorOut]
    skipped: dict[str, int] = Field(description="items not loaded, by reason")


def _out(entry: FeedEntry) -> FeedOut:
    s = entry.stats
    return FeedOut(
        name=s.name,
        format=s.format,
        indicators=s.indicators,
        by_type=s.by_type,
        malformed=s.malformed,
        errors=[LineErrorOut(line=e.line, error=e.reason) for e in s.errors],
        skipped=s.skipped,
        error=s.error,
        size=entry.size,
        modified=entry.modified,
        loaded_at=entry.loaded_at,
    )


def _exists(name: str) -> str:
    return f"feed {name!r} exists; pass replace=true to overwrite it"


def get_store(request: Request) -> FeedStore:
    store: FeedStore = request.app.state.intel
    return store


async def _spool(source: Any, target: Path, limit: int) -> None:
    """Copy an async byte source into ``target``, refusing more than ``limit`` bytes."""
    written = 0
    async with await anyio.open_file(target, "wb") as out:
        async for chunk in source:
            written += len(chunk)
            if written > limit:
                raise _too_large(limit)
            await out.write(chunk)


def _too_large(limit: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE, f"feed over the {size_text(limit)} limit"
    )


async def _upload_chunks(upload: UploadFile) -> Any:
    while chunk := await upload.read(_CHUNK):
        yield chunk


_UPLOAD_BODY = binary_upload_body(
    "A feed file: the `file` field of a multipart form (its file name is the feed name unless "
    "`name` is given), or the raw body with `?name=`."
)
_FORM_SLACK = 64 * 1024  # multipart boundaries and headers around the file


def create_intel_router(max_upload_bytes: int | None = None) -> APIRouter:
    """``max_upload_bytes`` defaults to the store's per-feed limit (intel_max_feed_mb)."""
    router = APIRouter(prefix="/v1/intel/feeds", tags=["intel"])

    @router.get("", response_model=FeedList)
    async def list_feeds(request: Request) -> FeedList:
        store = get_store(request)
        feeds = [_out(e) for e in store.feeds()]
        return FeedList(
            feeds=feeds,
            indicators=len(store.indicators()),
            failed=sum(1 for f in feeds if f.error),
            loaded_at=store.loaded_at,
        )

    @router.get("/{name}", response_model=FeedOut, responses=error_responses({404: "no such feed"}))
    async def show_feed(name: str, request: Request) -> FeedOut:
        entry = get_store(request).feed(name)
        if entry is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no feed {quote_input(name)}")
        return _out(entry)

    @router.post(
        "",
        response_model=FeedOut,
        status_code=status.HTTP_201_CREATED,
        openapi_extra=_UPLOAD_BODY,
        responses=error_responses(
            {
                400: "no feed name, or an invalid one, or a malformed multipart form",
                409: "a feed of that name exists (pass replace=true)",
                413: "the feed is over the size limit",
                422: "not a loadable feed (unreadable, over a JSON limit, or no indicators), "
                "or an invalid parameter",
                503: "the feed directory cannot be written to now",
            },
            models={422: RejectedFeed},
        ),
    )
    async def upload_feed(
        request: Request,
        name: Annotated[str | None, Query(description="feed name (a plain file name)")] = None,
        replace: Annotated[bool, Query(description="overwrite a feed of that name")] = False,
    ) -> Any:
        store = get_store(request)
        limit = max_upload_bytes or store.limits.max_feed_bytes
        is_form = request.headers.get("content-type", "").startswith("multipart/form-data")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit + (_FORM_SLACK if is_form else 0):
            raise _too_large(limit)  # refuse before reading (or spooling) any of it
        upload: UploadFile | None = None
        if is_form:
            form = await request.form(max_part_size=limit)
            field = form.get("file")
            if not isinstance(field, UploadFile):
                raise HTTPException(status.HTTP_400_BAD_REQUEST, "multipart form without 'file'")
            upload = field
            name = name or field.filename
        if not name:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "name the feed: ?name=<file name>")
        try:
            check_name(name)
        except InvalidFeedName as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
        if not replace and await anyio.to_thread.run_sync(store.exists, name):  # before spooling
            raise HTTPException(status.HTTP_409_CONFLICT, _exists(name))
        staged: Path | None = None
        try:
            staged = await store.staging_file()
            source = _upload_chunks(upload) if upload else request.stream()
            await _spool(source, staged, limit)
            entry = await store.add(name, staged, replace=replace)
        except FeedExists as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, _exists(name)) from exc
        except FeedRejected as exc:
            stats = exc.stats
            return problem(
                422,
                f"not a loadable feed: {exc}",
                format=stats.format,
                malformed=stats.malformed,
                errors=[{"line": e.line, "error": e.reason} for e in stats.errors],
                skipped=stats.skipped,
            )
        except OSError as exc:  # disk full, permissions: say what, never where
            log.warning("intel feed upload not stored", feed=name, exc_info=exc)
            reason = exc.strerror or type(exc).__name__
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, f"could not store the feed: {reason}"
            ) from exc
        finally:
            if staged is not None:
                await anyio.Path(staged).unlink(missing_ok=True)
        return _out(entry)

    @router.delete(
        "/{name}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses=error_responses({400: "an invalid feed name", 404: "no such feed"}),
    )
    async def delete_feed(name: str, request: Request) -> Response:
        try:
            removed = await get_store(request).remove(name)
        except InvalidFeedName as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
        if not removed:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no feed {quote_input(name)}")
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
