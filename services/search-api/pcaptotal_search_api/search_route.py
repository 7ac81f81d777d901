"""``GET /v1/search`` (records, or with ``group=capture`` the captures they belong to) and
``GET /v1/search/export`` (``search_export``).

Records: every kind is in one index (``event.dataset`` flow, dns, http, tls, file, finding);
a flat search means flows unless the query names ``event.dataset`` or ``dataset`` is given.
``group=capture`` looks at every kind by default (which views matched is the point of it),
and pages with a cursor (``search_group``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse
from pcaptotal.web import error_responses

from pcaptotal_search_api.cross import guarded
from pcaptotal_search_api.fast_json import FastJSONResponse
from pcaptotal_search_api.models import SearchResponse
from pcaptotal_search_api.params import CaptureFilter, CtxDep, check_id
from pcaptotal_search_api.search_export import add_export_route, guarded_parse, search_datasets
from pcaptotal_search_api.search_group import (
    MAX_PAGE,
    CaptureSearchPage,
    Kind,
    group_by_capture,
)
from pcaptotal_search_api.views import GuardFor


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
        ctx: CtxDep,
        q: Annotated[
            str,
            Query(
                description="Lucene query on the fields of GET /v1/fields. Searches flow "
                "records unless the query names event.dataset (e.g. event.dataset:http) or "
                "dataset is given; with group=capture, every kind"
            ),
        ] = "",
        capture: CaptureFilter = None,
        dataset: Annotated[
            list[Kind] | None,
            Query(description="record kinds to search (repeatable)"),
        ] = None,
        group: Annotated[
            Literal["capture"] | None,
            Query(
                description="capture: answer the captures that matched (each with the views "
                "it matched in, hits per view and a score), paged with cursor"
            ),
        ] = None,
        limit: Annotated[
            int, Query(ge=0, le=10000, description=f"group=capture: at most {MAX_PAGE} a page")
        ] = 50,
        offset: Annotated[
            int, Query(ge=0, le=10_000, description="records only; groups page by cursor")
        ] = 0,
        cursor: Annotated[
            str | None, Query(description="group=capture: the cursor of the previous page")
        ] = None,
    ) -> JSONResponse | CaptureSearchPage:
        guard = guard_for(ctx)  # parse and search off the event loop, bounded in time
        query = await guarded_parse(guard, q)
        if capture is not None:
            check_id(capture)
        if group == "capture":
            if offset:
                raise HTTPException(400, "group=capture pages with cursor, not offset")
            kinds = tuple(dict.fromkeys(dataset)) if dataset else None
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
        if cursor is not None:
            raise HTTPException(400, "cursor pages group=capture; records page with offset")
        result = await guarded(
            guard,
            lambda: ctx.index.search_flows(
                query,
                capture_id=capture,
                limit=limit,
                offset=offset,
                datasets=search_datasets(q, dataset),
            ),
        )
        # As stored, like the record views: SearchResponse declares the hits (the strict
        # schema tests check them); validating up to 10,000 records per answer costs time.
        return FastJSONResponse({"total": result.total, "hits": result.hits})

    add_export_route(router, guard_for)
