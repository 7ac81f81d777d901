"""Curating archives (admins only, by the roles table): ``PUT /v1/archives/{name}`` creates
or describes one, ``PUT``/``DELETE /v1/archives/{name}/captures/{capture_id}`` add and remove
a capture, ``DELETE /v1/archives/{name}`` removes the curated archive (its captures stay).
Stored by ``archives_store``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response
from pcaptotal.web import error_responses
from pydantic import Field

from pcaptotal_search_api import archives_store as store
from pcaptotal_search_api.cross import Strict
from pcaptotal_search_api.params import CaptureId, CtxDep, existing_capture

# The name's shape is checked by the route (400 saying why), not declared as a pattern: a
# pattern that needs a "/" inside one path parameter is one no client generator can fill.
ArchiveName = Annotated[
    str,
    Path(
        description="<kind>/<value>[/...], e.g. teaching/tls-basics: 2-4 segments of letters, "
        "digits, space and . _ + - (at most 80 each)"
    ),
]


class CuratedArchive(Strict):
    name: str
    title: str
    description: str
    created: datetime
    updated: datetime
    captures: int = Field(description="captures an admin put in")
    capture_ids: list[str] = Field(description="those captures, in the order they were added")


def _view(archive: store.Curated) -> CuratedArchive:
    ordered = sorted(archive.captures.items(), key=lambda kv: (kv[1], kv[0]))
    return CuratedArchive(
        name=archive.name,
        title=archive.title,
        description=archive.description,
        created=archive.created,
        updated=archive.updated,
        captures=len(archive.captures),
        capture_ids=[cid for cid, _ in ordered],
    )


async def _existing(ctx: CtxDep, name: str) -> store.Curated:
    # a name no curated archive can have names none: 404, as for one never made
    archive = await store.load(ctx.blobs, name) if store.NAME.fullmatch(name) else None
    if archive is None:
        raise HTTPException(404, f"no curated archive {name[:200]} (create it with PUT first)")
    return archive


def add_curation_routes(router: APIRouter) -> None:
    _member = error_responses(
        {
            400: "a bad capture id",
            404: "no such curated archive (or capture)",
            409: "the archive is full (archive_max_captures)",
            503: "",
        }
    )

    @router.put(
        "/v1/archives/{name:path}/captures/{capture_id}",
        response_model=CuratedArchive,
        tags=["archives"],
        responses=_member,
    )
    async def add_capture(name: ArchiveName, capture_id: CaptureId, ctx: CtxDep) -> CuratedArchive:
        """Put a capture in a curated archive (admins). Adding it again changes nothing."""
        await existing_capture(ctx, capture_id)
        async with store.lock(name):
            archive = await _existing(ctx, name)
            if capture_id not in archive.captures:
                if len(archive.captures) >= ctx.settings.archive_max_captures:
                    raise HTTPException(
                        409,
                        f"archive {name[:200]} holds {len(archive.captures)} captures, the "
                        "most one may (PCAPTOTAL_ARCHIVE_MAX_CAPTURES)",
                    )
                archive.captures[capture_id] = datetime.now(UTC)
                await store.save(ctx.blobs, archive)
        return _view(archive)

    @router.delete(
        "/v1/archives/{name:path}/captures/{capture_id}",
        response_model=CuratedArchive,
        tags=["archives"],
        responses=error_responses(
            {400: "a bad capture id", 404: "no such curated archive or member", 503: ""}
        ),
    )
    async def remove_capture(
        name: ArchiveName, capture_id: CaptureId, ctx: CtxDep
    ) -> CuratedArchive:
        """Take a capture out of a curated archive (admins); the capture stays."""
        async with store.lock(name):
            archive = await _existing(ctx, name)
            if archive.captures.pop(capture_id, None) is None:
                raise HTTPException(404, f"capture {capture_id[:80]} is not in {name[:200]}")
            await store.save(ctx.blobs, archive)
        return _view(archive)

    @router.put(
        "/v1/archives/{name:path}",
        response_model=CuratedArchive,
        status_code=200,
        tags=["archives"],
        responses={
            201: {"description": "created", "model": CuratedArchive},
            # 404: a name the route cannot hold (a line break) matches no route
            **error_responses({400: "a bad archive name", 404: "no such route", 503: ""}),
        },
    )
    async def put_archive(
        name: ArchiveName, text: store.ArchiveText, ctx: CtxDep, response: Response
    ) -> CuratedArchive:
        """Create a curated archive, or change its title and description (admins). Its
        captures are kept; an automatic archive of the same name keeps filling beside them."""
        store.check_name(name)
        async with store.lock(name):
            archive = await store.load(ctx.blobs, name)
            if archive is None:
                now = datetime.now(UTC)
                archive = store.Curated(name=name, title="", created=now, updated=now)
                response.status_code = 201
            archive.title, archive.description = text.title, text.description
            await store.save(ctx.blobs, archive)
            await store.register(ctx.blobs, name)  # (again: lists one a crash left unlisted)
        return _view(archive)

    @router.delete(
        "/v1/archives/{name:path}",
        status_code=204,
        tags=["archives"],
        responses=error_responses({404: "no such curated archive", 503: ""}),
    )
    async def delete_archive(name: ArchiveName, ctx: CtxDep) -> Response:
        """Delete a curated archive (admins): the collection goes, its captures stay."""
        async with store.lock(name):
            await _existing(ctx, name)
            await store.delete(ctx.blobs, name)
        return Response(status_code=204)
