"""``GET /v1/search/export``: every hit of a search, streamed as NDJSON or CSV.

The export pages through the index with the Index port's cursor (``search_page``: by
``@timestamp``, then ``event.id``, as ``/v1/search``), ``PAGE`` records at a time, and writes
each page out before it reads the next, so memory stays the same whatever the result size.
Each page is one search under the query guard (its concurrency slots and time budget), so a
long export never holds a slot while the client reads, and cannot starve other searches.

The first page runs before the response starts: a bad query, cursor or an index refusal is
still a ``400``, a spent budget a ``503``. A later page that fails (the budget spent twice in a
row, the index gone) ends the stream without its last chunk, so the client sees a broken
transfer instead of a short file it might take for the whole.

Reads go through the request's ``Context`` like every search: its index is the caller's view
(``pcaptotal.access.visibility``), so private captures of others are never exported. The
caller's identity is carried into the streaming body explicitly.

CSV: one header row, then one row per record, with the fixed columns of ``COLUMNS`` in that
order whatever kind the record is (an empty cell when it has no such value). A field with
several values (lists, or values under arrays of objects such as ``dns.answers.data``) is one
cell with the values joined by ``SEPARATOR``. Cells are quoted as RFC 4180 says (``csv``
module, CRLF line ends). A text value that a spreadsheet would run as a formula (starting with
``=``, ``+``, ``-``, ``@``, tab or CR) gets a leading ``'``: traffic is hostile input.
NDJSON: one record per line, the whole document as ``/v1/search`` returns it.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import StreamingResponse
from pcaptotal.access.identity import current_identity
from pcaptotal.context import Context
from pcaptotal.fields import values_of
from pcaptotal.query import QueryError, QueryGuard, QueryTimeout, ValidatedQuery
from pcaptotal.views import Page
from pcaptotal.web import error_responses

from pcaptotal_search_api.cross import guarded
from pcaptotal_search_api.params import CaptureFilter, CtxDep, check_id
from pcaptotal_search_api.search_group import Kind
from pcaptotal_search_api.views import GuardFor

log = structlog.get_logger(__name__)

# Records per index call, one page in memory at a time (a few MB). Each page is a top-k over
# the hits past the cursor, so fewer, larger pages export faster: on tantivy, 100,000 of
# 300,000 records took 13.4 s in pages of 500, 7.4 s in pages of 2,000 (7.8 s at 5,000).
PAGE = 2000
SEPARATOR = "|"  # joins the values of a multi-valued field in one CSV cell
MEDIA_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv"}
Format = Literal["ndjson", "csv"]
# The CSV columns, for every record kind: identity and links, addresses, then each kind's facts.
COLUMNS = (
    "@timestamp",
    "event.dataset",
    "event.id",
    "pcaptotal.capture_id",
    "pcaptotal.flow_id",
    "network.community_id",
    "source.ip",
    "source.port",
    "destination.ip",
    "destination.port",
    "network.transport",
    "network.protocol",
    "network.bytes",
    "event.duration",
    "dns.question.name",
    "dns.question.type",
    "dns.response_code",
    "dns.answers.data",
    "http.request.method",
    "url.domain",
    "url.original",
    "http.response.status_code",
    "http.response.mime_type",
    "user_agent.original",
    "tls.version",
    "tls.client.server_name",
    "tls.client.ja3",
    "tls.client.ja4",
    "tls.server.ja3s",
    "file.name",
    "file.mime_type",
    "file.size",
    "file.hash.sha256",
    "pcaptotal.finding.name",
    "pcaptotal.finding.severity",
    "pcaptotal.finding.source",
    "threat.enrichments.indicator.name",
    "pcaptotal.verdict",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PAGE_ATTEMPTS = 2  # a later page whose budget ran out is tried once more


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_START) else value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def csv_row(doc: dict[str, Any]) -> list[str]:
    """``doc`` as the cells of ``COLUMNS``."""
    return [SEPARATOR.join(_text(v) for v in values_of(doc, name)) for name in COLUMNS]


def csv_lines(docs: Sequence[dict[str, Any]], *, header: bool = False) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    if header:
        writer.writerow(COLUMNS)
    writer.writerows(csv_row(d) for d in docs)
    return buf.getvalue().encode()


def ndjson_lines(docs: Sequence[dict[str, Any]]) -> bytes:
    return b"".join(
        json.dumps(d, separators=(",", ":"), ensure_ascii=False).encode() + b"\n" for d in docs
    )


async def export_pages(
    ctx: Context,
    guard: QueryGuard,
    query: ValidatedQuery,
    *,
    capture_id: str | None,
    datasets: Sequence[str] | None,
    first: Page,
    limit: int | None,
) -> AsyncIterator[list[dict[str, Any]]]:
    """The hits page by page, from ``first`` (already read), at most ``limit`` in all."""
    page, sent = first, 0
    while True:
        hits = page.hits if limit is None else page.hits[: limit - sent]
        if hits:
            yield hits
        sent += len(hits)
        if page.cursor is None or len(page.hits) < PAGE or (limit is not None and sent >= limit):
            return
        page = await _next_page(ctx, guard, query, capture_id, datasets, page.cursor)


async def _next_page(
    ctx: Context,
    guard: QueryGuard,
    query: ValidatedQuery,
    capture_id: str | None,
    datasets: Sequence[str] | None,
    cursor: str,
) -> Page:
    for attempt in range(1, _PAGE_ATTEMPTS + 1):
        try:
            return await guard.search(
                lambda: ctx.index.search_page(
                    query, capture_id=capture_id, datasets=datasets, limit=PAGE, cursor=cursor
                )
            )
        except QueryTimeout:
            if attempt == _PAGE_ATTEMPTS:
                raise
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


def add_export_route(router: APIRouter, guard_for: GuardFor) -> None:
    @router.get(
        "/v1/search/export",
        tags=["search"],
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "every hit: NDJSON (one record per line) or CSV (the columns "
                "of pcaptotal_search_api.search_export.COLUMNS, multi-valued fields joined "
                f"by '{SEPARATOR}')",
                "content": {t: {"schema": {"type": "string"}} for t in MEDIA_TYPES.values()},
                "headers": {"Content-Disposition": {"schema": {"type": "string"}}},
            },
            **error_responses({400: "the query, capture id or dataset is invalid", 503: ""}),
        },
    )
    async def export(
        ctx: CtxDep,
        q: Annotated[str, Query(description="query language, as /v1/search")] = "",
        export_format: Annotated[
            Format, Query(alias="format", description="ndjson or csv")
        ] = "ndjson",
        capture: CaptureFilter = None,
        dataset: Annotated[
            list[Kind] | None,
            Query(
                description="record kinds to export (repeatable); default: every kind, "
                "as /v1/search"
            ),
        ] = None,
        limit: Annotated[
            int | None, Query(ge=1, description="stop after this many records (default: all)")
        ] = None,
    ) -> StreamingResponse:
        """Every record the search matches, streamed in time order (``@timestamp``, then
        ``event.id``), a page at a time; see the module docstring for the CSV columns."""
        guard = guard_for(ctx)
        query = await guarded_parse(guard, q)
        if capture is not None:
            check_id(capture)
        datasets = search_datasets(dataset)
        first = await guarded(
            guard,
            lambda: ctx.index.search_page(query, capture_id=capture, datasets=datasets, limit=PAGE),
        )
        who = current_identity.get()

        async def body() -> AsyncIterator[bytes]:
            current_identity.set(who)  # the index below reads the caller from here
            header = export_format == "csv"
            try:
                pages = export_pages(
                    ctx,
                    guard,
                    query,
                    capture_id=capture,
                    datasets=datasets,
                    first=first,
                    limit=limit,
                )
                if header:
                    yield csv_lines([], header=True)
                async for hits in pages:
                    yield csv_lines(hits) if header else ndjson_lines(hits)
            except (QueryError, QueryTimeout) as exc:
                log.warning("search export cut short", error=str(exc))
                raise

        suffix = "csv" if export_format == "csv" else "ndjson"
        return StreamingResponse(
            body(),
            media_type=MEDIA_TYPES[export_format],
            headers={"Content-Disposition": f'attachment; filename="pcaptotal-search.{suffix}"'},
        )


def search_datasets(chosen: Sequence[str] | None) -> tuple[str, ...] | None:
    """The record kinds a search looks at: those chosen, else every kind (None; the query
    may still narrow them with ``event.dataset``)."""
    return tuple(dict.fromkeys(chosen)) if chosen else None


async def guarded_parse(guard: QueryGuard, q: str) -> ValidatedQuery:
    try:
        return await guard.parse(q)
    except QueryError as exc:
        raise HTTPException(400, f"invalid query: {exc}") from exc
    except QueryTimeout as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from exc
