"""The public read gateway: captures, search, fields, downloads, health."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import StreamingResponse
from pcaptotal.captures import Status
from pcaptotal.context import Context
from pcaptotal.fields import FLOW_FIELDS
from pcaptotal.keys import capture_key
from pcaptotal.query import QueryError, parse_query

from pcaptotal_search_api.deps import get_ctx
from pcaptotal_search_api.models import (
    CaptureList,
    CaptureView,
    FieldList,
    FieldView,
    SearchResponse,
)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
CtxDep = Annotated[Context, Depends(get_ctx)]


def _check_id(capture_id: str) -> str:
    if not _SHA256.fullmatch(capture_id):
        raise HTTPException(
            400, f"capture id must be 64 lowercase hex digits (SHA-256), got {capture_id!r}"
        )
    return capture_id


def create_router() -> APIRouter:
    router = APIRouter()

    @router.get("/v1/captures/{capture_id}", response_model=CaptureView, tags=["captures"])
    async def get_capture(capture_id: str, ctx: CtxDep) -> CaptureView:
        doc = await ctx.captures.get(_check_id(capture_id))
        if doc is None:
            raise HTTPException(404, f"no capture {capture_id}")
        return CaptureView.model_validate(doc)

    @router.get("/v1/captures", response_model=CaptureList, tags=["captures"])
    async def list_captures(
        ctx: CtxDep,
        status: Annotated[list[Status] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> CaptureList:
        docs = await ctx.index.find_captures([s.value for s in status] if status else None, limit)
        return CaptureList(captures=[CaptureView.model_validate(d) for d in docs])

    @router.get("/v1/captures/{capture_id}/download", tags=["captures"])
    async def download(capture_id: str, ctx: CtxDep) -> StreamingResponse:
        key = capture_key(_check_id(capture_id))
        info = await ctx.blobs.stat(key)
        if info is None:
            raise HTTPException(404, f"no capture {capture_id}")

        async def body() -> AsyncIterator[bytes]:
            async for chunk in ctx.blobs.iter_chunks(key):
                yield chunk

        return StreamingResponse(
            body(),
            media_type="application/vnd.tcpdump.pcap",
            headers={
                "Content-Length": str(info.size),
                "Content-Disposition": f'attachment; filename="{capture_id}.pcap"',
            },
        )

    @router.get("/v1/search", response_model=SearchResponse, tags=["search"])
    async def search(
        ctx: CtxDep,
        q: Annotated[str, Query(description="Lucene query on the fields of GET /v1/fields")] = "",
        capture: Annotated[str | None, Query(description="restrict to one capture id")] = None,
        limit: Annotated[int, Query(ge=0, le=10000)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    ) -> SearchResponse:
        try:
            query = parse_query(q)
        except QueryError as exc:
            raise HTTPException(400, f"invalid query: {exc}") from exc
        if capture is not None:
            _check_id(capture)
        result = await ctx.index.search_flows(query, capture_id=capture, limit=limit, offset=offset)
        return SearchResponse(total=result.total, hits=result.hits)

    @router.get("/v1/fields", response_model=FieldList, tags=["search"])
    async def fields() -> FieldList:
        return FieldList(
            fields=[
                FieldView(name=f.name, type=f.type.value, multi=f.multi, description=f.description)
                for f in FLOW_FIELDS
            ]
        )

    return router
