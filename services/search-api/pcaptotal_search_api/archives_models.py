"""The archive answers' models: the listing, an archive's page, one capture in it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pcaptotal.capture_context import CONTEXT_FIELD, CaptureContext
from pydantic import Field

from pcaptotal_search_api import archives_store as store
from pcaptotal_search_api.archives_members import Member, Resolved
from pcaptotal_search_api.capture_view import SummaryView
from pcaptotal_search_api.cross import Strict, capture_docs


class ArchiveEntry(Strict):
    name: str = Field(description="<kind>/<value>: pass to GET /v1/archives/{name}")
    kind: str = Field(
        description="the name's first segment: malware, technique, protocol (automatic) or "
        "any other for a curated archive"
    )
    captures: int = Field(description="captures in it that the caller may see")
    automatic: bool = Field(description="it fills itself from families, findings, protocols")
    curated: bool = Field(description="an admin made it (title, description, chosen captures)")
    title: str | None = Field(description="the curated archive's title")


class ArchiveList(Strict):
    archives: list[ArchiveEntry] = Field(description="by kind, then most captures first")


class ArchiveCapture(Strict):
    capture_id: str
    filename: str | None
    verdict: str | None
    families: list[str] = Field(
        description="malware families (and tools) named in it by feeds and by findings"
    )
    sector: str | None
    context: CaptureContext | None
    summary: SummaryView | None
    first_seen: datetime | None
    last_seen: datetime | None
    added: datetime | None = Field(description="when an admin added it (curated members)")


class CuratedView(Strict):
    title: str
    description: str
    created: datetime
    updated: datetime
    captures: int = Field(description="captures an admin put in (visible or not)")


class ArchivePage(Strict):
    name: str
    automatic: bool = Field(description="it fills itself from families, findings, protocols")
    curated: CuratedView | None = Field(description="what an admin said about it, if curated")
    total: int = Field(description="captures in the archive that the caller may see")
    offset: int
    captures: list[ArchiveCapture] = Field(
        description="most recent traffic first, captures without records last"
    )


def view(cid: str, b: Member, doc: dict[str, Any]) -> ArchiveCapture:
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
        added=b.added,
    )


def curated_view(curated: store.Curated | None) -> CuratedView | None:
    if curated is None:
        return None
    return CuratedView(
        title=curated.title,
        description=curated.description,
        created=curated.created,
        updated=curated.updated,
        captures=len(curated.captures),
    )


async def page_of(ctx: Any, found: Resolved, limit: int, offset: int) -> ArchivePage:
    page = found.members[offset : offset + limit]
    docs = await capture_docs(ctx, [m.capture_id for m in page])
    return ArchivePage(
        name=found.name,
        automatic=found.automatic,
        curated=curated_view(found.curated),
        total=len(found.members),
        offset=offset,
        captures=[view(m.capture_id, m, docs.get(m.capture_id) or {}) for m in page],
    )
