"""``GET /v1/captures/{id}/bundle.zip``: everything about one capture in one streamed zip.

Members: ``capture.pcap`` (the original), one CSV per view (``flows.csv``, ``dns.csv``,
``http.csv``, ``tls.csv``, ``files.csv``, ``findings.csv``: one row per record, as the view
lists them), ``analysis.json`` (the report of ``/analysis``) and the carved files under
``files/<sha256>`` (in the clear: the capture holds them anyway).

Memory stays bounded: the zip is written as it streams (stream-zip), the capture and the files
come from the blob store in chunks, and each CSV is read a page at a time twice (once for its
columns: the union of the fields its records carry; once for the rows).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pcaptotal.context import Context
from pcaptotal.keys import capture_key, file_key
from pcaptotal.query import parse_query
from pcaptotal.web import error_responses, media_response
from stream_zip import ZIP_64, async_stream_zip

from pcaptotal_search_api.downloads import ZIP_MEDIA_TYPE, blob_chunks
from pcaptotal_search_api.params import CaptureId, CtxDep, existing_capture
from pcaptotal_search_api.views import VIEWS, _analysis

PAGE = 1000
FIRST = ("event.id", "@timestamp", "event.dataset")  # leading columns, when present
CSV_VIEWS = tuple(name for name in VIEWS if name != "timeline")
_ALL = parse_query("")


async def _pages(
    ctx: Context, capture_id: str, datasets: Sequence[str] | None
) -> AsyncIterator[list[dict[str, Any]]]:
    cursor: str | None = None
    while True:
        page = await ctx.index.search_page(
            _ALL, capture_id=capture_id, datasets=datasets, limit=PAGE, cursor=cursor
        )
        if page.hits:
            yield page.hits
        cursor = page.cursor
        if cursor is None or not page.hits:
            return


def cell(value: Any) -> str:
    """A CSV cell: scalars as text, lists and objects as JSON (unambiguous, one cell)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


async def view_csv(ctx: Context, capture_id: str, datasets: Sequence[str]) -> AsyncIterator[bytes]:
    names: dict[str, None] = {}
    async for hits in _pages(ctx, capture_id, datasets):
        for hit in hits:
            names.update(dict.fromkeys(hit))
    columns = [c for c in FIRST if c in names] + sorted(set(names) - set(FIRST))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    async for hits in _pages(ctx, capture_id, datasets):
        for hit in hits:
            writer.writerow([cell(hit.get(c)) for c in columns])
        yield buf.getvalue().encode()
        buf.seek(0)
        buf.truncate()
    if buf.tell():
        yield buf.getvalue().encode()


async def _file_hashes(ctx: Context, capture_id: str) -> list[str]:
    hashes: dict[str, None] = {}
    async for hits in _pages(ctx, capture_id, ("file",)):
        for hit in hits:
            sha = hit.get("file.hash.sha256")
            if isinstance(sha, str):
                hashes[sha] = None
    return list(hashes)


async def once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def bundle_members(
    ctx: Context,
    doc: dict[str, Any],
    *,
    prefix: str = "",
    views: bool = True,
    files: bool = True,
) -> AsyncIterator[Any]:
    """The zip members of one capture (stream-zip tuples), each name after ``prefix``;
    ``views``/``files``: with the view CSVs / the carved files (archive bundles leave the
    carved files out)."""
    capture_id = str(doc["id"])
    now = datetime.now(UTC)
    if await ctx.blobs.stat(capture_key(capture_id)) is not None:
        pcap = blob_chunks(ctx, capture_key(capture_id))
        yield f"{prefix}capture.pcap", now, 0o644, ZIP_64, pcap
    for name in CSV_VIEWS if views else ():
        datasets = VIEWS[name] or ()
        yield f"{prefix}{name}.csv", now, 0o644, ZIP_64, view_csv(ctx, capture_id, datasets)
    report = await _analysis(ctx, doc)
    analysis = once(report.model_dump_json(indent=2).encode())
    yield f"{prefix}analysis.json", now, 0o644, ZIP_64, analysis
    for sha in await _file_hashes(ctx, capture_id) if files else ():
        key = file_key(sha)
        if await ctx.blobs.stat(key) is not None:
            yield f"{prefix}files/{sha}", now, 0o600, ZIP_64, blob_chunks(ctx, key)


def add_bundle_route(router: APIRouter) -> None:
    @router.get(
        "/v1/captures/{capture_id}/bundle.zip",
        tags=["downloads"],
        response_class=StreamingResponse,
        responses={
            200: media_response(
                ZIP_MEDIA_TYPE,
                "capture.pcap, flows/dns/http/tls/files/findings.csv, analysis.json and the "
                "carved files (files/<sha256>)",
                {"type": "string", "format": "binary"},
                {"Content-Disposition": {"schema": {"type": "string"}, "required": True}},
            ),
            **error_responses({400: "a bad capture id", 404: "no capture with this id", 503: ""}),
        },
    )
    async def bundle(capture_id: CaptureId, ctx: CtxDep) -> StreamingResponse:
        """Everything about the capture in one zip, streamed (see the module docstring)."""
        doc = await existing_capture(ctx, capture_id)
        return StreamingResponse(
            async_stream_zip(bundle_members(ctx, dict(doc))),
            media_type=ZIP_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{capture_id}.zip"'},
        )
