"""Archives and capture context: ``GET /v1/archives``, ``GET /v1/archives/{name}`` and
``PATCH /v1/captures/{id}/context``.

Automatic archives fill themselves from the records (``archives_query``): ``malware/<family>``
(families from intel and from findings), ``technique/<finding>`` (heuristic findings),
``protocol/<proto>``. Curated archives are what admins put together (``archives_store``,
``archives_admin``); a curated archive may share its name with an automatic one, and then
holds both. The listing is one nested terms aggregation per source (value → captures) plus
the curated archives' visible members; an archive's page is its members
(``archives_members``) joined with the capture documents of the page. The archive's bundle is
``archives_bundle``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pcaptotal.access.identity import current_identity
from pcaptotal.capture_context import CaptureContext, ContextPatch, merged, stored
from pcaptotal.views import MAX_BUCKETS, TermsAgg
from pcaptotal.web import error_responses

from pcaptotal_search_api import archives_store as store
from pcaptotal_search_api.archives_admin import add_curation_routes
from pcaptotal_search_api.archives_bundle import add_archive_bundle_route
from pcaptotal_search_api.archives_members import curated_visible, resolve
from pcaptotal_search_api.archives_models import ArchiveEntry, ArchiveList, ArchivePage, page_of
from pcaptotal_search_api.archives_query import KINDS
from pcaptotal_search_api.cross import CAPTURE_FIELD, guarded, query
from pcaptotal_search_api.params import CaptureId, CtxDep, existing_capture
from pcaptotal_search_api.views import GuardFor


async def _automatic(ctx: Any, kinds: list[str]) -> dict[str, set[str]]:
    """Automatic archive name -> the captures in it (one aggregation per source)."""

    async def one(k: str, source: Any) -> list[tuple[str, set[str]]]:
        agg = TermsAgg(source.field, MAX_BUCKETS, by=TermsAgg(CAPTURE_FIELD, MAX_BUCKETS))
        found = await ctx.index.aggregate(
            query(source.where()), {"a": agg}, datasets=list(source.datasets)
        )
        return [(f"{k}/{b.key}", {str(c.key) for c in b.sub or []}) for b in found.terms["a"]]

    parts = await asyncio.gather(*(one(k, s) for k in kinds for s in KINDS[k]))
    out: dict[str, set[str]] = {}
    for part in parts:
        for name, ids in part:
            out.setdefault(name, set()).update(ids)
    return out


async def _listing(ctx: Any, kind: str | None) -> list[ArchiveEntry]:
    automatic = await _automatic(ctx, [k for k in KINDS if kind in (None, k)])
    curated = {
        a.name: a
        for a in await store.load_all(ctx.blobs)
        if kind in (None, a.name.partition("/")[0])
    }
    every = sorted({cid for a in curated.values() for cid in a.captures})
    visible = set(await curated_visible(ctx, every)) if every else set()
    entries = []
    for name in sorted(automatic.keys() | curated.keys()):
        members = set(automatic.get(name, ()))
        chosen = curated.get(name)
        if chosen is not None:
            members |= visible & set(chosen.captures)
        entries.append(
            ArchiveEntry(
                name=name,
                kind=name.partition("/")[0],
                captures=len(members),
                automatic=name in automatic,
                curated=chosen is not None,
                title=chosen.title if chosen else None,
            )
        )
    order = {k: i for i, k in enumerate(KINDS)}
    return sorted(
        entries, key=lambda e: (order.get(e.kind, len(order)), e.kind, -e.captures, e.name)
    )


def add_archive_routes(router: APIRouter, guard_for: GuardFor) -> None:
    # the routes under /v1/archives/{name:path}/... first: the bare {name:path} matches them too
    add_curation_routes(router)
    add_archive_bundle_route(router, guard_for)

    @router.get(
        "/v1/archives",
        response_model=ArchiveList,
        tags=["archives"],
        responses=error_responses([503]),
    )
    async def list_archives(
        ctx: CtxDep,
        kind: Annotated[
            str | None,
            Query(description="only this kind: malware, technique, protocol or a curated one"),
        ] = None,
    ) -> ArchiveList:
        """The automatic and curated archives and how many captures (that the caller may
        see) each holds."""
        return ArchiveList(archives=await guarded(guard_for(ctx), lambda: _listing(ctx, kind)))

    @router.get(
        "/v1/archives/{name:path}",
        response_model=ArchivePage,
        tags=["archives"],
        responses=error_responses({404: "no such archive", 503: ""}),
    )
    async def archive(
        ctx: CtxDep,
        name: Annotated[
            str, Path(description="<kind>/<value>, e.g. malware/AsyncRAT or teaching/tls-basics")
        ],
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_BUCKETS)] = 0,
    ) -> ArchivePage:
        """The archive's captures with verdict, families, sector and summary, a page at a
        time (most recent traffic first, ties by capture id); automatic and curated members
        together."""
        found = await guarded(guard_for(ctx), lambda: resolve(ctx, name))
        if not found.members and found.curated is None:
            raise HTTPException(404, f"archive {name[:200]} holds no capture")
        return await page_of(ctx, found, limit, offset)

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
