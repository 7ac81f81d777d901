"""``GET /v1/search`` (records, or with ``group=capture`` the captures they belong to) and
``GET /v1/search/export`` (``search_export``).

Records: every kind is in one index (``event.dataset`` flow, dns, http, tls, file, finding)
and a search looks at all of them unless ``dataset`` (or the query) narrows it. Records come
oldest ``@timestamp`` first, ties by ``event.id``, and page with ``next_cursor``: the Index
port's search_after-style cursor of the last hit, so a page after it starts strictly past that
(time, id) whatever was indexed meanwhile, and costs the same deep in the results as on page
one. ``offset`` still pages small windows (the first 10,000 hits). The first page (no cursor)
is the adapter's one-pass ``search_flows``; later pages are ``search_page``.
``group=capture`` answers the captures instead, paged with its own cursor (``search_group``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pcaptotal.query import QueryError
from pcaptotal.views import decode_cursor
from pcaptotal.web import ProblemError, error_responses
from pydantic import BaseModel, Field

from pcaptotal_search_api.cross import guarded
from pcaptotal_search_api.fast_json import FastJSONResponse
from pcaptotal_search_api.models import SearchResponse
from pcaptotal_search_api.params import ID_SCHEMA, CtxDep, check_id
from pcaptotal_search_api.search_export import add_export_route, guarded_parse, search_datasets
from pcaptotal_search_api.search_group import (
    MAX_PAGE,
    CaptureSearchPage,
    Kind,
    check_group_cursor,
    group_by_capture,
)
from pcaptotal_search_api.views import GuardFor

BAD_CURSOR = "bad-cursor"  # urn:pcaptotal:problem:bad-cursor
BAD_PAGING = "bad-paging"  # urn:pcaptotal:problem:bad-paging


class SearchParams(BaseModel):
    """The query string of ``GET /v1/search``, validated as one model (one pydantic call per
    request instead of one per parameter)."""

    q: str = Field(
        "",
        description="Lucene query on the fields of GET /v1/fields, over every record "
        "kind (flow, dns, http, tls, file, finding) unless dataset narrows it (or the "
        "query does, e.g. event.dataset:http)",
    )
    capture: str | None = Field(
        None, description="restrict to one capture id", json_schema_extra=dict(ID_SCHEMA)
    )
    dataset: list[Kind] | None = Field(
        None, description="only these record kinds (repeatable); default: every kind"
    )
    group: Literal["capture"] | None = Field(
        None,
        description="capture: answer the captures that matched (each with the views "
        "it matched in, hits per view and a score), paged with cursor",
    )
    limit: int = Field(
        50, ge=0, le=10000, description=f"hits a page; group=capture: at most {MAX_PAGE}"
    )
    offset: int = Field(
        0,
        ge=0,
        le=10_000,
        description="records only: skip this many hits (small windows; cursor pages "
        "any depth). Not with cursor",
    )
    cursor: str | None = Field(
        None,
        description="the next_cursor of the previous page (records), or the cursor "
        "of the previous group=capture page",
    )


def check_cursor(cursor: str) -> None:
    """A 400 ``bad-cursor`` problem for a cursor no page of ours gave, before any search."""
    try:
        decode_cursor(cursor)
    except QueryError as exc:
        raise ProblemError(400, str(exc), kind=BAD_CURSOR) from exc


def add_search_routes(router: APIRouter, guard_for: GuardFor) -> None:
    @router.get(
        "/v1/search",
        response_model=SearchResponse | CaptureSearchPage,
        tags=["search"],
        responses=error_responses(
            {400: "the query, the capture id, the cursor or the paging is invalid", 503: ""}
        ),
    )
    async def search(
        ctx: CtxDep, params: Annotated[SearchParams, Query()]
    ) -> JSONResponse | CaptureSearchPage:
        q, capture, dataset, group = params.q, params.capture, params.dataset, params.group
        limit, offset, cursor = params.limit, params.offset, params.cursor
        if cursor is not None and offset:
            raise ProblemError(400, "page with cursor or with offset, not both", kind=BAD_PAGING)
        guard = guard_for(ctx)  # parse and search off the event loop, bounded in time
        query = await guarded_parse(guard, q)
        if capture is not None:
            check_id(capture)
        kinds = search_datasets(dataset)
        if group == "capture":
            if offset:
                raise ProblemError(
                    400, "group=capture pages with cursor, not offset", kind=BAD_PAGING
                )
            if cursor is not None:
                check_group_cursor(cursor, BAD_CURSOR)
            return await guarded(
                guard,
                lambda: group_by_capture(
                    ctx,
                    query,
                    capture_id=capture,
                    datasets=kinds,
                    limit=min(limit, MAX_PAGE),
                    cursor=cursor,
                ),
            )
        hits: list[Any]
        if cursor is not None:
            check_cursor(cursor)
            page = await guarded(
                guard,
                lambda: ctx.index.search_page(
                    query, capture_id=capture, datasets=kinds, limit=limit, cursor=cursor
                ),
            )
            total, hits, next_cursor = page.total, page.hits, page.cursor
        else:
            result = await guarded(
                guard,
                lambda: ctx.index.search_flows(
                    query, capture_id=capture, limit=limit, offset=offset, datasets=kinds, raw=True
                ),
            )
            total, next_cursor = result.total, result.cursor
            # the stored JSON as it is: parsing and writing it again was most of a search's
            # Python time (~25 µs a hit)
            hits = [orjson.Fragment(b) for b in result.raw or ()]
        # As stored, like the record views: SearchResponse declares the hits (the strict
        # schema tests check them); validating up to 10,000 records per answer costs time.
        return FastJSONResponse({"total": total, "hits": hits, "next_cursor": next_cursor})

    add_export_route(router, guard_for)
