"""Admin API for threat-intel feeds: ``/v1/intel/feeds`` upload, list, show, delete.

The FeedStore comes from ``request.app.state.intel`` (set by the composition root).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pcaptotal.web import Problem, binary_upload_body, error_responses, problem, quote_input
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from pcaptotal_enricher.intel.store import (
    FeedEntry,
    FeedExists,
    FeedRejected,
    FeedStore,
    InvalidFeedName,
    check_name,
)

_CHUNK = 1 << 20


class LineErrorOut(BaseModel):
    line: int = Field(description="1-based line number (item number for JSON feeds)")
    reason: str


class FeedOut(BaseModel):
    name: str
    format: str
    indicators: int
    by_type: dict[str, int] = Field(description="indicator count per type")
    malformed: int
    errors: list[LineErrorOut] = Field(description="the first malformed lines")
    skipped: dict[str, int] = Field(description="items not loaded, by reason")
    error: str | None = Field(description="why the feed could not be read at all")
    size: int
    modified: datetime
    loaded_at: datetime


class FeedList(BaseModel):
    feeds: list[FeedOut]
    indicators: int = Field(description="distinct indicator values loaded across feeds")
    loaded_at: datetime | None


class RejectedFeed(Problem):
    """A 422 for a file that is not a loadable feed (problem details + what was wrong)."""

    format: str
    malformed: int
    errors: list[LineErrorOut]


def _out(entry: FeedEntry) -> FeedOut:
    s = entry.stats
    return FeedOut(
        name=s.name,
        format=s.format,
        indicators=s.indicators,
        by_type=s.by_type,
        malformed=s.malformed,
        errors=[LineErrorOut(line=e.line, reason=e.reason) for e in s.errors],
        skipped=s.skipped,
        error=s.error,
        size=entry.size,
        modified=entry.modified,
        loaded_at=entry.loaded_at,
    )


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
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"feed over {limit} bytes")
            await out.write(chunk)


async def _upload_chunks(upload: UploadFile) -> Any:
    while chunk := await upload.read(_CHUNK):
        yield chunk


_UPLOAD_BODY = binary_upload_body(
    "A feed file: the `file` field of a multipart form (its file name is the feed name unless "
    "`name` is given), or the raw body with `?name=`."
)


def create_intel_router(max_upload_bytes: int = 256 * 1024 * 1024) -> APIRouter:
    router = APIRouter(prefix="/v1/intel/feeds", tags=["intel"])

    @router.get("", response_model=FeedList)
    async def list_feeds(request: Request) -> FeedList:
        store = get_store(request)
        return FeedList(
            feeds=[_out(e) for e in store.feeds()],
            indicators=len(store.indicators()),
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
                400: "no feed name, or an invalid one",
                409: "a feed of that name exists (pass replace=true)",
                413: "the feed is over the size limit",
                422: "not a loadable feed, or an invalid parameter",
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
        is_form = request.headers.get("content-type", "").startswith("multipart/form-data")
        upload: UploadFile | None = None
        if is_form:
            form = await request.form(max_part_size=max_upload_bytes)
            field = form.get("file")
            if not isinstance(field, UploadFile):
                raise HTTPException(status.HTTP_400_BAD_REQUEST, "multipart form without 'file'")
            upload = field
            name = name or field.filename
        if not name:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "name the feed: ?name=<file name>")
        try:
            staged = store.staging_path(check_name(name))
        except InvalidFeedName as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
        try:
            source = _upload_chunks(upload) if upload else request.stream()
            await _spool(source, staged, max_upload_bytes)
            entry = await store.add(name, staged, replace=replace)
        except FeedExists as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        except FeedRejected as exc:
            return problem(
                422,
                f"not a loadable feed: {exc}",
                format=exc.stats.format,
                malformed=exc.stats.malformed,
                errors=[{"line": e.line, "reason": e.reason} for e in exc.stats.errors],
            )
        finally:
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
