"""``GET /v1/archives/{name}/bundle.zip``: an archive for teaching, in one streamed zip.

Members: ``manifest.json`` and ``manifest.csv`` (the archive and its captures with verdict,
families, sector, summary, first/last traffic), then per capture ``<capture id>/capture.pcap``
and ``<capture id>/analysis.json`` (and, with ``views=true``, its view CSVs), written by the
per-capture bundle's code (``bundle.bundle_members``). Carved files stay out: a teaching
bundle is opened by students, and each capture holds its files anyway.

Only the captures the caller may see are packed (``archives_members``). The size is known
before the first byte goes out, so an archive over ``archive_bundle_max_captures`` captures or
``archive_bundle_max_bytes`` capture bytes is refused with 413 instead of a cut-off zip.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import StreamingResponse
from pcaptotal.context import Context
from pcaptotal.keys import capture_key
from pcaptotal.web import error_responses, media_response
from stream_zip import ZIP_64, async_stream_zip

from pcaptotal_search_api.archives_members import Resolved, resolve
from pcaptotal_search_api.archives_models import ArchiveCapture, curated_view, view
from pcaptotal_search_api.bundle import bundle_members, cell, once
from pcaptotal_search_api.cross import capture_docs, guarded
from pcaptotal_search_api.downloads import ZIP_MEDIA_TYPE
from pcaptotal_search_api.params import CtxDep
from pcaptotal_search_api.views import GuardFor

COLUMNS = (
    "capture_id",
    "filename",
    "verdict",
    "families",
    "sector",
    "first_seen",
    "last_seen",
    "added",
    "description",
    "summary",
)


def manifest_csv(captures: list[ArchiveCapture]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for c in captures:
        row = c.model_dump(mode="json")
        row["families"] = ";".join(c.families)
        row["description"] = c.context.description if c.context else None
        writer.writerow([cell(row.get(col)) for col in COLUMNS])
    return buf.getvalue().encode()


def manifest_json(found: Resolved, captures: list[ArchiveCapture]) -> bytes:
    curated = curated_view(found.curated)
    body = {
        "name": found.name,
        "automatic": found.automatic,
        "curated": curated.model_dump(mode="json") if curated else None,
        "generated": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "captures": [c.model_dump(mode="json") for c in captures],
    }
    return json.dumps(body, indent=2, ensure_ascii=False).encode()


async def _members(
    ctx: Context, found: Resolved, docs: dict[str, dict[str, Any]], views: bool
) -> AsyncIterator[Any]:
    captures = [view(m.capture_id, m, docs[m.capture_id]) for m in found.members]
    now = datetime.now(UTC)
    yield "manifest.json", now, 0o644, ZIP_64, once(manifest_json(found, captures))
    yield "manifest.csv", now, 0o644, ZIP_64, once(manifest_csv(captures))
    for member in found.members:
        doc = docs[member.capture_id]
        async for entry in bundle_members(
            ctx, doc, prefix=f"{member.capture_id}/", views=views, files=False
        ):
            yield entry


def add_archive_bundle_route(router: APIRouter, guard_for: GuardFor) -> None:
    @router.get(
        "/v1/archives/{name:path}/bundle.zip",
        tags=["archives"],
        response_class=StreamingResponse,
        responses={
            200: media_response(
                ZIP_MEDIA_TYPE,
                "manifest.json, manifest.csv, and per capture <id>/capture.pcap and "
                "<id>/analysis.json (with views=true also its view CSVs)",
                {"type": "string", "format": "binary"},
                {"Content-Disposition": {"schema": {"type": "string"}, "required": True}},
            ),
            **error_responses(
                {
                    404: "no such archive",
                    413: "more captures or bytes than a bundle packs (the settings "
                    "archive_bundle_max_captures, archive_bundle_max_bytes)",
                    503: "",
                }
            ),
        },
    )
    async def archive_bundle(
        name: Annotated[str, Path(description="<kind>/<value>, as GET /v1/archives names it")],
        ctx: CtxDep,
        views: Annotated[
            bool, Query(description="also each capture's flows/dns/http/tls/files/findings CSVs")
        ] = False,
    ) -> StreamingResponse:
        """The archive for teaching: every capture of it the caller may see, with its
        analysis and a manifest, in one zip streamed as it is written."""
        found = await guarded(guard_for(ctx), lambda: resolve(ctx, name))
        if not found.members and found.curated is None:
            raise HTTPException(404, f"archive {name[:200]} holds no capture")
        settings = ctx.settings
        if len(found.members) > settings.archive_bundle_max_captures:
            raise HTTPException(
                413,
                f"archive {name[:200]} holds {len(found.members)} captures; a bundle packs at "
                f"most {settings.archive_bundle_max_captures} (archive_bundle_max_captures)",
            )
        docs = await capture_docs(ctx, [m.capture_id for m in found.members])
        found.members = [m for m in found.members if m.capture_id in docs]  # deleted since
        size = 0
        for m in found.members:
            info = await ctx.blobs.stat(capture_key(m.capture_id))
            size += info.size if info else 0
        if size > settings.archive_bundle_max_bytes:
            raise HTTPException(
                413,
                f"archive {name[:200]} holds {size} capture bytes; a bundle packs at most "
                f"{settings.archive_bundle_max_bytes} (archive_bundle_max_bytes)",
            )
        filename = re.sub(r"[^A-Za-z0-9._+-]", "_", name)[:120]  # a header-safe name
        return StreamingResponse(
            async_stream_zip(_members(ctx, found, docs, views)),
            media_type=ZIP_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{filename}.zip"'},
        )
