"""The public read gateway: captures, search, fields, downloads, health."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pcaptotal.captures import Status
from pcaptotal.context import Context
from pcaptotal.fields import FLOW_FIELDS, STORED_OBJECTS
from pcaptotal.query import QueryGuard, parse_query
from pcaptotal.web import component_ref, error_responses, media_response

from pcaptotal_search_api import exports
from pcaptotal_search_api.bundle import add_bundle_route
from pcaptotal_search_api.capture_body import CaptureBodies
from pcaptotal_search_api.capture_view import CaptureList, CaptureView
from pcaptotal_search_api.cross_routes import add_cross_routes
from pcaptotal_search_api.delete_route import add_delete_route
from pcaptotal_search_api.downloads import add_download_routes
from pcaptotal_search_api.exports.rulesets import MEDIA_TYPE as RULES_MEDIA_TYPE
from pcaptotal_search_api.exports.rulesets import TIERS, VERDICTS_AT_LEAST
from pcaptotal_search_api.exports.stix import MEDIA_TYPE as STIX_MEDIA_TYPE
from pcaptotal_search_api.exports.stix_models import StixBundle
from pcaptotal_search_api.models import (
    FieldList,
    FieldView,
)
from pcaptotal_search_api.params import ID_SCHEMA, CaptureId, CtxDep, check_id, existing_capture
from pcaptotal_search_api.search_route import add_search_routes
from pcaptotal_search_api.views import add_view_routes

_ID_SCHEMA = ID_SCHEMA
# Flows that can carry indicators: a feed hit or a verdict that is not clean.
_EXPORT_QUERY = parse_query(
    "NOT pcaptotal.verdict:clean OR _exists_:threat.enrichments.indicator.name"
)
# the per-capture exports read flow records only
FLOWS_ONLY = ("flow",)
_EXPORT_MAX_FLOWS = 10_000  # Elasticsearch's result window; the rules header says when cut
_ROLLING_MAX_CAPTURES = 1000
RuleSetName = Literal["known", "likely"]
PCAP_MEDIA_TYPE = "application/vnd.tcpdump.pcap"


_BAD_ID = "a capture id that is not 64 lowercase hex digits"
_NO_CAPTURE = "no capture with this id"
_ONE_CAPTURE = error_responses({400: _BAD_ID, 404: _NO_CAPTURE, 503: ""})
_EXPORT_ERRORS = error_responses(
    {400: _BAD_ID, 404: _NO_CAPTURE, 409: "the capture is not analysed (done) yet", 503: ""}
)
_UNAVAILABLE = error_responses([503])
_STIX_BUNDLE = component_ref(StixBundle)
_RULES = media_response("text/plain", "a Suricata rules file")


_check_id = check_id


async def _export_flows(ctx: Context, capture_id: str) -> tuple[list[dict[str, Any]], int]:
    """(the capture's flows that can carry indicators, how many matched in all)."""
    result = await ctx.index.search_flows(
        _EXPORT_QUERY, capture_id=capture_id, limit=_EXPORT_MAX_FLOWS, datasets=FLOWS_ONLY
    )
    return result.hits, result.total


async def _done_capture(ctx: Context, capture_id: str) -> dict[str, Any]:
    doc = await ctx.captures.get(_check_id(capture_id))
    if doc is None:
        raise HTTPException(404, f"no capture {capture_id}")
    if doc.get("status") != Status.DONE.value:
        raise HTTPException(
            409, f"capture {capture_id} is {doc.get('status')}, exports need it done"
        )
    return doc


def create_router() -> APIRouter:
    router = APIRouter()
    guards: list[QueryGuard] = []  # one per router, built from the settings on first use
    bodies = CaptureBodies()

    def _query_guard(ctx: Context) -> QueryGuard:
        if not guards:
            guards.append(QueryGuard.from_settings(ctx.settings))
        return guards[0]

    # Routes are matched in order, each candidate costing a few µs: the busiest go first.
    add_search_routes(router, _query_guard)

    @router.get(
        "/v1/captures/{capture_id}",
        response_model=CaptureView,
        tags=["captures"],
        responses=_ONE_CAPTURE,
    )
    async def get_capture(capture_id: CaptureId, request: Request) -> Response:
        # Pre-serialised CaptureView JSON (``capture_body``); the model stays the documented one.
        # The context straight from the app (what ``CtxDep`` gives): one dependency fewer to
        # solve on the most frequent request.
        ctx: Context = request.app.state.ctx
        return await bodies.response(ctx, _check_id(capture_id))

    @router.get(
        "/v1/captures", response_model=CaptureList, tags=["captures"], responses=_UNAVAILABLE
    )
    async def list_captures(
        ctx: CtxDep,
        status: Annotated[list[Status] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> CaptureList:
        docs = await ctx.index.find_captures([s.value for s in status] if status else None, limit)
        return CaptureList(captures=[CaptureView.from_document(d) for d in docs])

    @router.get(
        "/v1/captures/{capture_id}/indicators.stix",
        tags=["exports"],
        response_class=Response,
        responses={
            200: media_response(STIX_MEDIA_TYPE, "a STIX 2.1 bundle", _STIX_BUNDLE),
            **_EXPORT_ERRORS,
        },
    )
    async def capture_stix(capture_id: CaptureId, ctx: CtxDep) -> Response:
        """STIX 2.1 bundle of the indicators observed in the capture (deterministic ids)."""
        doc = await _done_capture(ctx, capture_id)
        flows, _ = await _export_flows(ctx, capture_id)
        bundle = exports.bundle(doc, exports.capture_observables(doc, flows))
        return Response(bundle.serialize(sort_keys=True), media_type=STIX_MEDIA_TYPE)

    @router.get(
        "/v1/captures/{capture_id}/rules",
        tags=["exports"],
        response_class=Response,
        responses={200: _RULES, **_EXPORT_ERRORS},
    )
    async def capture_rules(
        capture_id: CaptureId,
        ctx: CtxDep,
        rule_set: Annotated[
            RuleSetName | None, Query(alias="set", description="only one rule set")
        ] = None,
    ) -> Response:
        """Suricata rules for the capture's indicators: "known bad" and "likely bad" sets."""
        doc = await _done_capture(ctx, capture_id)
        flows, total = await _export_flows(ctx, capture_id)
        text = exports.capture_rules(doc, exports.capture_observables(doc, flows), TIERS[rule_set])
        if total > len(flows):
            text = f"# built from the first {len(flows)} of {total} flows\n" + text
        return Response(text, media_type=RULES_MEDIA_TYPE)

    @router.get(
        "/v1/rules",
        tags=["exports"],
        response_class=Response,
        responses={200: _RULES, **_UNAVAILABLE},
    )
    async def rolling_rules(
        ctx: CtxDep,
        since: Annotated[datetime, Query(description="captures analysed (updated) since")],
        min_verdict: Annotated[Literal["suspicious", "malicious"], Query()] = "malicious",
        rule_set: Annotated[
            RuleSetName | None, Query(alias="set", description="only one rule set")
        ] = None,
    ) -> Response:
        """Rolling Suricata rules from every capture analysed since a date, deduplicated by
        indicator, with stable sids (a sensor can pull this on a schedule)."""
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        docs = await ctx.index.find_captures(
            [Status.DONE.value],
            _ROLLING_MAX_CAPTURES,
            updated_since=since,
            verdicts=VERDICTS_AT_LEAST[min_verdict],
        )
        per_capture, notes = [], []
        for doc in docs:
            flows, total = await _export_flows(ctx, doc["id"])
            if total > len(flows):
                notes.append(f"capture {doc['id']}: first {len(flows)} of {total} flows")
            per_capture.append(exports.capture_observables(doc, flows))
        if len(docs) == _ROLLING_MAX_CAPTURES:
            notes.append(f"only the newest {_ROLLING_MAX_CAPTURES} captures: narrow 'since'")
        text = exports.rolling_rules(
            per_capture,
            since=since,
            min_verdict=min_verdict,
            captures=len(docs),
            tiers=TIERS[rule_set],
            notes=notes,
        )
        return Response(text, media_type=RULES_MEDIA_TYPE)

    add_view_routes(router, _query_guard, existing_capture)
    add_cross_routes(router, _query_guard)
    add_download_routes(router)
    add_bundle_route(router)
    add_delete_route(router)

    @router.get("/v1/fields", response_model=FieldList, tags=["search"])
    async def fields() -> FieldList:
        return FieldList(
            fields=[
                FieldView(name=f.name, type=f.type.value, multi=f.multi, description=f.description)
                for f in (*FLOW_FIELDS, *STORED_OBJECTS)
            ]
        )

    return router
