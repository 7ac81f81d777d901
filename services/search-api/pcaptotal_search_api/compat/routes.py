"""``/compat/packettotal/v1``: PacketTotal's API over PcapTotal (reads; uploads are ingest's,
``pcaptotal_ingest.compat``). Every route goes through the same access layer as ``/v1``: the
role table (``pcaptotal.access.roles``) and the visibility scoping of every read, so an md5
of another owner's private capture answers exactly as an unknown one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse
from pcaptotal.access.identity import LOCAL_ADMIN, current_identity
from pcaptotal.access.usage import (
    Counts,
    UploadQuota,
    seconds_to_midnight,
    upload_ledger,
    utc_day,
)
from pcaptotal.context import Context
from pcaptotal.packettotal import PREFIX
from pcaptotal.query import QueryGuard
from pcaptotal.web import error_responses, media_response, quote_input
from stream_zip import async_stream_zip

from pcaptotal_search_api.bundle import bundle_members
from pcaptotal_search_api.compat.common import (
    Md5,
    Pretty,
    analysed_pcap,
    answer,
    flag,
    metadata,
    summary,
)
from pcaptotal_search_api.compat.models import (
    DeepSearchCreated,
    DeepSearchResults,
    MatchedTerm,
    PcapAnalysis,
    PcapInfo,
    SearchResults,
    SimilarGraph,
    SimilarPcap,
    UploadUsage,
    Usage,
)
from pcaptotal_search_api.compat.search import deep_results, search_now, start_deep
from pcaptotal_search_api.cross import capture_docs, guarded
from pcaptotal_search_api.downloads import ZIP_MEDIA_TYPE
from pcaptotal_search_api.params import CtxDep
from pcaptotal_search_api.similar import Mode, rank
from pcaptotal_search_api.views import _analysis

# PacketTotal's intensities, as the share of each field's values compared (similar.py: 1-10)
INTENSITY = {"minimal": 1, "low": 3, "medium": 5, "high": 10}
_DEEP_BODY_MAX = 64 * 1024
_DEEP_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["query"],
                    "properties": {"query": {"type": "string", "maxLength": 10_000}},
                },
                "example": {"query": "dns.question.name:*.example"},
            }
        },
    }
}
_BAD_PRETTY = "pretty is not true or false"
_PCAP_ERRORS = error_responses({400: "not an md5", 404: "no analysed pcap with this md5", 503: ""})


def _intensity(value: str) -> tuple[str, int]:
    text = value.strip().strip("'\"").lower()
    if text in INTENSITY:
        return text, INTENSITY[text]
    if text.isdigit() and 1 <= int(text) <= 10:
        return text, int(text)
    raise HTTPException(
        400, f"intensity must be minimal, low, medium, high or 1-10, got {quote_input(value)}"
    )


async def _small_body(request: Request) -> bytes:
    """The request body, refused (413) past ``_DEEP_BODY_MAX`` before more is read."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _DEEP_BODY_MAX:
            raise HTTPException(413, f"the body is over {_DEEP_BODY_MAX} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_compat_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["packettotal"])
    guards: list[QueryGuard] = []

    def guard_for(ctx: Context) -> QueryGuard:
        if not guards:
            guards.append(QueryGuard.from_settings(ctx.settings))
        return guards[0]

    @router.get("/pcaps/{md5}", response_model=PcapInfo, responses=_PCAP_ERRORS)
    async def pcap_info(md5: Md5, ctx: CtxDep, pretty: Pretty = None) -> Response:
        """High-level information on an analysed capture (404 until its analysis ends)."""
        doc = await analysed_pcap(ctx, md5)
        return answer(PcapInfo(pcap_metadata=metadata(doc), analysis_summary=summary(doc)), pretty)

    @router.get("/pcaps/{md5}/analysis", response_model=PcapAnalysis, responses=_PCAP_ERRORS)
    async def pcap_analysis(md5: Md5, ctx: CtxDep, pretty: Pretty = None) -> Response:
        """The detailed report: connections, DNS, HTTP, TLS, carved files, signatures."""
        doc = await analysed_pcap(ctx, md5)
        report = await guarded(guard_for(ctx), lambda: _analysis(ctx, doc))
        body = PcapAnalysis(
            pcap_metadata=metadata(doc),
            analysis_summary=summary(doc),
            analysis=report.model_dump(mode="json"),
        )
        return answer(body, pretty)

    @router.get(
        "/pcaps/{md5}/download",
        response_class=StreamingResponse,
        responses={
            200: media_response(
                ZIP_MEDIA_TYPE,
                "capture.pcap, one CSV per view, analysis.json and the carved files",
                {"type": "string", "format": "binary"},
            ),
            **_PCAP_ERRORS,
        },
    )
    async def pcap_download(md5: Md5, ctx: CtxDep) -> StreamingResponse:
        """The analysis archive (the same zip as /v1/captures/{id}/bundle.zip)."""
        doc = await analysed_pcap(ctx, md5)
        return StreamingResponse(
            async_stream_zip(bundle_members(ctx, doc)),
            media_type=ZIP_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{md5}.zip"'},
        )

    @router.get("/pcaps/{md5}/similar", response_model=SimilarGraph, responses=_PCAP_ERRORS)
    async def pcap_similar(
        md5: Md5,
        ctx: CtxDep,
        intensity: Annotated[
            str, Query(description="minimal, low, medium, high (or 1-10)")
        ] = "low",
        weighting_mode: Annotated[Mode, Query()] = Mode.BEHAVIOR,
        prioritize_uncommon_fields: Annotated[
            str | None, Query(description="true or false")
        ] = None,
        pretty: Pretty = None,
    ) -> Response:
        """Other captures ranked by the values they share with this one."""
        name, level = _intensity(intensity)
        uncommon = flag(prioritize_uncommon_fields, "prioritize_uncommon_fields")
        doc = await analysed_pcap(ctx, md5)
        cid = str(doc["id"])
        view = await guarded(
            guard_for(ctx),
            lambda: rank(
                ctx, cid, intensity=level, mode=weighting_mode, uncommon=uncommon, limit=100
            ),
        )
        docs = await capture_docs(ctx, [r.capture_id for r in view.results])
        similar = [
            SimilarPcap(
                md5=(docs.get(r.capture_id) or {}).get("md5"),
                capture_id=r.capture_id,
                name=r.filename,
                verdict=r.verdict,
                score=r.score,
                matched_terms=[
                    MatchedTerm(
                        field=s.field,
                        value=s.value,
                        pcaps_with_value=s.captures_with_value,
                        weight=s.weight,
                    )
                    for s in r.shared
                ],
            )
            for r in view.results
        ]
        body = SimilarGraph(
            pcap_metadata=metadata(doc),
            intensity=name,
            weighting_mode=weighting_mode.value,
            prioritize_uncommon_fields=uncommon,
            pcaps_in_index=view.captures_in_index,
            similar_pcaps=similar,
        )
        return answer(body, pretty)

    @router.get(
        "/search",
        response_model=SearchResults,
        responses=error_responses({400: "the query is invalid", 503: ""}),
    )
    async def search(
        ctx: CtxDep,
        query: Annotated[
            str, Query(description="a term (address, hash, name) or a Lucene query")
        ] = "",
        limit: Annotated[int, Query(ge=0, le=1000, description="records returned")] = 50,
        pretty: Pretty = None,
    ) -> Response:
        """Records matching the query (flows unless it names event.dataset), each with the
        md5 of its pcap."""
        return answer(await search_now(ctx, guard_for(ctx), query, limit), pretty)

    @router.post(
        "/search/deep",
        response_model=DeepSearchCreated,
        status_code=202,
        responses=error_responses(
            {400: 'the body is not {"query": ...} or the query is invalid', 413: "", 503: ""}
        ),
        openapi_extra=_DEEP_BODY,
    )
    async def deep_search(request: Request, ctx: CtxDep) -> Response:
        """Start a deep search (every match up to 10,000 records); fetch its results with
        GET /search/deep/results/{search_id}. The JSON body is read whatever its content
        type says (the SDK sends none); a key is required, so no page can send it."""
        raw = await _small_body(request)
        try:
            text = json.loads(raw).get("query") if raw else None
        except (ValueError, AttributeError):
            text = None
        if not isinstance(text, str):
            raise HTTPException(400, 'the body must be JSON {"query": "<term or Lucene query>"}')
        job = await start_deep(ctx, guard_for(ctx), text)
        created = DeepSearchCreated(
            search_id=job.search_id,
            status=job.status,
            results_url=f"{PREFIX}/search/deep/results/{job.search_id}",
        )
        return answer(created, None, 202)

    @router.get(
        "/search/deep/results/{search_id}",
        response_model=DeepSearchResults,
        responses=error_responses(
            {400: _BAD_PRETTY, 404: "no deep search with this id of this key's owner", 503: ""}
        ),
    )
    async def deep_search_results(search_id: str, ctx: CtxDep, pretty: Pretty = None) -> Response:
        """A deep search's state and, once done, its results."""
        return answer(await deep_results(ctx, search_id), pretty)

    @router.get(
        "/usage", response_model=Usage, responses=error_responses({400: _BAD_PRETTY, 503: ""})
    )
    async def usage(request: Request, pretty: Pretty = None) -> Response:
        """Requests made and uploads today by the calling key, and its quotas."""
        who = current_identity.get() or LOCAL_ADMIN
        ledger = upload_ledger(request)
        counts = Counts()
        if ledger is not None and who.key_id is not None:
            counts = await ledger.totals(who.key_id)
        settings = request.app.state.ctx.settings
        quota = ledger.quota if ledger is not None else UploadQuota.from_settings(settings)
        now = datetime.now(UTC)
        body = Usage(
            key_id=who.key_id,
            owner=who.owner,
            role=who.role.value,
            day=utc_day(now),
            requests_made=counts.requests,
            uploads=UploadUsage(count=counts.uploads, bytes=counts.upload_bytes),
            quota=quota.view(who, settings.rate_limit_per_minute),
            resets_at=(now + timedelta(seconds=seconds_to_midnight(now))).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
        )
        return answer(body, pretty)

    return router
