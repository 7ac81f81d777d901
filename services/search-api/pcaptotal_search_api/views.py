"""Per-capture views over its records: one list per record kind, the timeline of every record,
and the analysis report (aggregations in the Index port, the same on both backends)."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse
from pcaptotal.context import Context
from pcaptotal.query import QueryError, QueryGuard, QueryTimeout, ValidatedQuery, parse_query
from pcaptotal.views import Aggregations, Bucket, TermsAgg
from pcaptotal.web import error_responses

from pcaptotal_search_api.fast_json import FastJSONResponse
from pcaptotal_search_api.params import CaptureId, CtxDep
from pcaptotal_search_api.view_models import (
    PAGES,
    AnalysisView,
    BucketView,
    DnsAnalysis,
    FileAnalysis,
    FindingAnalysis,
    FlowAnalysis,
    HttpAnalysis,
    RecordPage,
    TlsAnalysis,
)

T = TypeVar("T")
RETRY_AFTER_S = "5"
TOP = 10
# path segment -> event.dataset(s) it lists (timeline: every kind)
VIEWS: dict[str, tuple[str, ...] | None] = {
    "flows": ("flow",),
    "dns": ("dns",),
    "http": ("http",),
    "tls": ("tls",),
    "files": ("file",),
    "findings": ("finding",),
    "timeline": None,
}
_ALL = parse_query("")
_LIST_ERRORS = error_responses(
    {
        400: "a bad capture id, query, sort field or cursor",
        404: "no capture with this id",
        503: "",
    }
)

GuardFor = Callable[[Context], QueryGuard]
Checked = Callable[[Context, str], Awaitable[dict[str, Any]]]


async def _guarded(guard: QueryGuard, run: Callable[[], Awaitable[T]]) -> T:
    try:
        return await guard.search(run)
    except QueryError as exc:
        raise HTTPException(400, f"invalid query: {exc}") from exc
    except QueryTimeout as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": RETRY_AFTER_S}) from exc


async def _parse(guard: QueryGuard, q: str) -> ValidatedQuery:
    try:
        return await guard.parse(q)
    except QueryError as exc:
        raise HTTPException(400, f"invalid query: {exc}") from exc
    except QueryTimeout as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": RETRY_AFTER_S}) from exc


def _view(buckets: Sequence[Bucket]) -> list[BucketView]:
    return [BucketView(key=b.key, count=b.count, sum=b.sum) for b in buckets]


def add_view_routes(router: APIRouter, guard_for: GuardFor, capture: Checked) -> None:
    """Register the list views and the analysis on ``router`` (``capture`` answers 400/404)."""

    def list_route(name: str, datasets: tuple[str, ...] | None) -> None:
        what = "every record, in time order" if datasets is None else f"{name} records"
        one_kind = datasets is not None and len(datasets) == 1
        page_model = PAGES[datasets[0]] if datasets and one_kind else RecordPage

        async def list_records(
            capture_id: CaptureId,
            ctx: CtxDep,
            q: Annotated[str, Query(description="query language, as /v1/search")] = "",
            sort: Annotated[
                str,
                Query(
                    description="a single-valued date or number field (GET /v1/fields); "
                    "-name for descending; ties by event.id"
                ),
            ] = "@timestamp",
            limit: Annotated[int, Query(ge=1, le=1000)] = 50,
            cursor: Annotated[
                str | None, Query(description="the cursor of the previous page")
            ] = None,
        ) -> JSONResponse:
            await capture(ctx, capture_id)
            guard = guard_for(ctx)
            query = await _parse(guard, q)
            page = await _guarded(
                guard,
                lambda: ctx.index.search_page(
                    query,
                    capture_id=capture_id,
                    datasets=datasets,
                    sort=sort,
                    limit=limit,
                    cursor=cursor,
                ),
            )
            # As stored: ``page_model`` declares the hits, the strict schema tests check them.
            hits = {"total": page.total, "hits": page.hits, "cursor": page.cursor}
            return FastJSONResponse(hits)

        list_records.__doc__ = f"The capture's {what}, a page at a time (cursor pagination)."
        router.add_api_route(
            f"/v1/captures/{{capture_id}}/{name}",
            list_records,
            methods=["GET"],
            response_model=page_model,
            tags=["captures"],
            responses=_LIST_ERRORS,
            name=f"capture_{name}",
        )

    for name, datasets in VIEWS.items():
        list_route(name, datasets)

    @router.get(
        "/v1/captures/{capture_id}/analysis",
        response_model=AnalysisView,
        tags=["captures"],
        responses=error_responses({400: "a bad capture id", 404: "no capture", 503: ""}),
    )
    async def analysis(capture_id: CaptureId, ctx: CtxDep) -> AnalysisView:
        """The capture report: top talkers, connections, DNS, HTTP, TLS, files, findings and
        the verdict with its reasons."""
        doc = await capture(ctx, capture_id)
        guard = guard_for(ctx)
        return await _guarded(guard, lambda: _analysis(ctx, doc))


async def _analysis(ctx: Context, doc: dict[str, Any]) -> AnalysisView:
    cid = str(doc["id"])

    def agg(dataset: str, aggs: dict[str, TermsAgg]) -> Awaitable[Aggregations]:
        return ctx.index.aggregate(_ALL, aggs, capture_id=cid, datasets=[dataset])

    flows, dns, http, tls, files, findings = await asyncio.gather(
        agg(
            "flow",
            {
                "by_bytes": TermsAgg("source.ip", TOP, "network.bytes"),
                "by_flows": TermsAgg("source.ip", TOP),
                "dest_bytes": TermsAgg("destination.ip", TOP, "network.bytes"),
                "transports": TermsAgg("network.transport", TOP),
                "protocols": TermsAgg("network.protocol", TOP),
                "ports": TermsAgg("destination.port", TOP),
            },
        ),
        agg(
            "dns",
            {
                "names": TermsAgg("dns.question.name", TOP),
                "types": TermsAgg("dns.question.type", TOP),
                "rcodes": TermsAgg("dns.response_code", 100),
            },
        ),
        agg(
            "http",
            {
                "hosts": TermsAgg("url.domain", TOP),
                "methods": TermsAgg("http.request.method", TOP),
                "status": TermsAgg("http.response.status_code", TOP),
                "agents": TermsAgg("user_agent.original", TOP),
                "types": TermsAgg("http.response.mime_type", TOP),
            },
        ),
        agg(
            "tls",
            {
                "sni": TermsAgg("tls.client.server_name", TOP),
                "versions": TermsAgg("tls.version", TOP),
                "ja3": TermsAgg("tls.client.ja3", TOP),
                "ja4": TermsAgg("tls.client.ja4", TOP),
                "issuers": TermsAgg("tls.server.x509.issuer.distinguished_name", TOP),
            },
        ),
        agg("file", {"types": TermsAgg("file.mime_type", TOP)}),
        agg(
            "finding",
            {
                "names": TermsAgg("pcaptotal.finding.name", 50),
                "severities": TermsAgg("pcaptotal.finding.severity", TOP),
                "sources": TermsAgg("pcaptotal.finding.source", TOP),
                "providers": TermsAgg("threat.enrichments.indicator.provider", TOP),
            },
        ),
    )
    rcodes = dns.terms["rcodes"]
    answered = sum(b.count for b in rcodes)
    nxdomain = sum(b.count for b in rcodes if b.key == "NXDOMAIN")
    score = doc.get("risk_score", doc.get("score"))
    return AnalysisView(
        capture_id=cid,
        status=str(doc.get("status")),
        verdict=doc.get("verdict"),
        risk_score=float(score) if isinstance(score, (int, float)) else None,
        reasons=[str(r) for r in doc.get("reasons") or []],
        flows=FlowAnalysis(
            count=flows.total,
            top_talkers_by_bytes=_view(flows.terms["by_bytes"]),
            top_talkers_by_flows=_view(flows.terms["by_flows"]),
            top_destinations_by_bytes=_view(flows.terms["dest_bytes"]),
            transports=_view(flows.terms["transports"]),
            protocols=_view(flows.terms["protocols"]),
            destination_ports=_view(flows.terms["ports"]),
        ),
        dns=DnsAnalysis(
            count=dns.total,
            top_names=_view(dns.terms["names"]),
            query_types=_view(dns.terms["types"]),
            response_codes=_view(rcodes[:TOP]),
            nxdomain_ratio=round(nxdomain / answered, 4) if answered else None,
        ),
        http=HttpAnalysis(
            count=http.total,
            hosts=_view(http.terms["hosts"]),
            methods=_view(http.terms["methods"]),
            status_codes=_view(http.terms["status"]),
            user_agents=_view(http.terms["agents"]),
            content_types=_view(http.terms["types"]),
        ),
        tls=TlsAnalysis(
            count=tls.total,
            server_names=_view(tls.terms["sni"]),
            versions=_view(tls.terms["versions"]),
            ja3=_view(tls.terms["ja3"]),
            ja4=_view(tls.terms["ja4"]),
            issuers=_view(tls.terms["issuers"]),
        ),
        files=FileAnalysis(count=files.total, types=_view(files.terms["types"])),
        findings=FindingAnalysis(
            count=findings.total,
            names=_view(findings.terms["names"]),
            severities=_view(findings.terms["severities"]),
            sources=_view(findings.terms["sources"]),
            intel_providers=_view(findings.terms["providers"]),
        ),
    )
