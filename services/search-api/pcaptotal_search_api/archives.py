"""Archives and capture context: ``GET /v1/archives``, ``GET /v1/archives/{name}`` and
``PATCH /v1/captures/{id}/context``.

Automatic archives fill themselves from the records (``archives_query``): ``malware/<family>``
(intel families), ``technique/<finding>`` (heuristic findings), ``protocol/<proto>``. The
listing is three nested terms aggregations (value → captures); an archive's page is one
terms aggregation on the capture id with the first/last record time, joined with the capture
documents. Admin-curated archives are not built yet.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pcaptotal.access.identity import current_identity
from pcaptotal.capture_context import CONTEXT_FIELD, CaptureContext, ContextPatch, merged, stored
from pcaptotal.fields import FLOW_FIELDS_BY_NAME
from pcaptotal.query import ir
from pcaptotal.views import MAX_BUCKETS, TermsAgg
from pcaptotal.web import error_responses
from pydantic import Field

from pcaptotal_search_api.archives_query import KINDS, archive_query
from pcaptotal_search_api.capture_view import SummaryView
from pcaptotal_search_api.cross import CAPTURE_FIELD, Strict, capture_docs, guarded, query
from pcaptotal_search_api.params import CaptureId, CtxDep, existing_capture
from pcaptotal_search_api.views import GuardFor

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ArchiveEntry(Strict):
    name: str = Field(description="<kind>/<value>: pass to GET /v1/archives/{name}")
    kind: str = Field(description="malware | technique | protocol")
    captures: int


class ArchiveList(Strict):
    archives: list[ArchiveEntry] = Field(description="by kind, then most captures first")


class ArchiveCapture(Strict):
    capture_id: str
    filename: str | None
    verdict: str | None
    families: list[str] = Field(description="malware families feeds named in it")
    sector: str | None
    context: CaptureContext | None
    summary: SummaryView | None
    first_seen: datetime | None
    last_seen: datetime | None


class ArchivePage(Strict):
    name: str
    total: int = Field(description="captures in the archive")
    offset: int
    captures: list[ArchiveCapture] = Field(description="most recent traffic first")


def _source_filter(kind: str) -> ir.Node:
    if kind != "technique":
        return ir.MatchAll()
    return ir.Term(FLOW_FIELDS_BY_NAME["pcaptotal.finding.source"], "heuristic")


def _view(cid: str, b: Any, doc: dict[str, Any]) -> ArchiveCapture:
    context = doc.get(CONTEXT_FIELD)
    ctx = CaptureContext.model_validate(context) if isinstance(context, dict) else None
    summary = doc.get("summary")
    return ArchiveCapture(
        capture_id=cid,
        filename=doc.get("filename"),
        verdict=doc.get("verdict"),
        families=[str(t) for t in doc.get("tags") or []],
        sector=ctx.sector.value if ctx and ctx.sector else None,
        context=ctx,
        summary=SummaryView.model_validate(summary) if isinstance(summary, dict) else None,
        first_seen=b.first,
        last_seen=b.last,
    )


def add_archive_routes(router: APIRouter, guard_for: GuardFor) -> None:
    @router.get(
        "/v1/archives",
        response_model=ArchiveList,
        tags=["archives"],
        responses=error_responses([503]),
    )
    async def list_archives(
        ctx: CtxDep,
        kind: Annotated[str | None, Query(description="malware, technique or protocol")] = None,
    ) -> ArchiveList:
        """The automatic archives and how many captures each holds."""
        kinds = [k for k in KINDS if kind in (None, k)]

        async def one(k: str) -> list[ArchiveEntry]:
            field, datasets = KINDS[k]
            agg = TermsAgg(field, MAX_BUCKETS, by=TermsAgg(CAPTURE_FIELD, MAX_BUCKETS))
            found = await ctx.index.aggregate(
                query(_source_filter(k)), {"a": agg}, datasets=list(datasets)
            )
            entries = [
                ArchiveEntry(name=f"{k}/{b.key}", kind=k, captures=len(b.sub or []))
                for b in found.terms["a"]
            ]
            return sorted(entries, key=lambda e: (-e.captures, e.name))

        async def run() -> list[list[ArchiveEntry]]:
            return await asyncio.gather(*(one(k) for k in kinds))

        parts = await guarded(guard_for(ctx), run)
        return ArchiveList(archives=[e for part in parts for e in part])

    @router.get(
        "/v1/archives/{name:path}",
        response_model=ArchivePage,
        tags=["archives"],
        responses=error_responses({404: "no such archive", 503: ""}),
    )
    async def archive(
        ctx: CtxDep,
        name: Annotated[str, Path(description="<kind>/<value>, e.g. malware/AsyncRAT")],
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_BUCKETS)] = 0,
    ) -> ArchivePage:
        """The archive's captures with verdict, families, sector and summary, a page at a
        time (most recent traffic first, ties by capture id)."""
        node, datasets = archive_query(name)
        span = TermsAgg(CAPTURE_FIELD, MAX_BUCKETS, span_field="@timestamp")
        found = await guarded(
            guard_for(ctx),
            lambda: ctx.index.aggregate(query(node), {"c": span}, datasets=list(datasets)),
        )
        buckets = sorted(
            found.terms["c"], key=lambda b: (-(b.last or _EPOCH).timestamp(), str(b.key))
        )
        if not buckets:
            raise HTTPException(404, f"archive {name[:200]} holds no capture")
        page = buckets[offset : offset + limit]
        docs = await capture_docs(ctx, [str(b.key) for b in page])
        return ArchivePage(
            name=name,
            total=len(buckets),
            offset=offset,
            captures=[_view(str(b.key), b, docs.get(str(b.key)) or {}) for b in page],
        )

    @router.patch(
        "/v1/captures/{capture_id}/context",
        response_model=CaptureContext,
        tags=["captures"],
        responses=error_responses(
            {400: "a bad capture id", 403: "not the capture's owner", 404: "no capture", 503: ""}
        ),
    )
    async def edit_context(capture_id: CaptureId, patch: ContextPatch, ctx: CtxDep) -> Any:
        """Edit the capture's context: the fields given replace the stored ones (null clears
        one). Only its owner (or an admin) may."""
        doc = await existing_capture(ctx, capture_id)
        who = current_identity.get()
        if who is not None and not who.is_admin and who.owner != doc.get("owner"):
            raise HTTPException(403, "only the capture's owner can edit its context")
        context = merged(dict(doc), patch)
        await ctx.captures.update(capture_id, context=stored(context))  # CONTEXT_FIELD
        return context
