"""``GET /v1/captures/{id}/similar``: other captures ranked by what they share with this one.

Compared: destinations, DNS names, SNIs, JA3, JA4, URIs, user agents and carved file hashes.
A shared value weighs ``field weight * idf``, idf = ln(1 + N / df) over the N captures in the
index (df: the captures holding the value), so a value every capture has adds little and a
rare one a lot. ``weighting_mode`` picks the field weights: ``behavior`` (who a capture talks
to and how: destinations, names, fingerprints) or ``content`` (what it moved: URIs, files,
user agents). ``prioritize_uncommon_fields`` also multiplies each field by its own idf (the
captures that have the field at all), so sharing a rare kind of value (a file hash, a JA4)
beats sharing a common one (a destination). ``intensity`` (1-10) is how much of the capture
is compared: its ``20 * intensity`` most frequent values per field. The score is the shared
weight over the capture's own total (1.0: shares every value compared).

Every count comes from Index aggregations (nested terms: value → captures), so it is the
same on both backends.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from enum import StrEnum
from ipaddress import ip_address
from typing import Annotated

from fastapi import APIRouter, Query
from pcaptotal.context import Context
from pcaptotal.fields import FLOW_FIELDS_BY_NAME
from pcaptotal.query import ir
from pcaptotal.views import MAX_BUCKETS, Aggregations, TermsAgg
from pcaptotal.web import error_responses
from pydantic import Field

from pcaptotal_search_api.cross import CAPTURE_FIELD, Strict, any_of, capture_docs, guarded, query
from pcaptotal_search_api.params import CaptureId, CtxDep, existing_capture
from pcaptotal_search_api.views import GuardFor


class Mode(StrEnum):
    BEHAVIOR = "behavior"
    CONTENT = "content"


# name -> (record field, datasets it is read from)
COMPARED: dict[str, tuple[str, tuple[str, ...]]] = {
    "destination": ("destination.ip", ("flow",)),
    "dns_name": ("dns.question.name", ("flow",)),
    "sni": ("tls.client.server_name", ("flow",)),
    "ja3": ("tls.client.ja3", ("flow",)),
    "ja4": ("tls.client.ja4", ("flow",)),
    "uri": ("url.original", ("flow",)),
    "user_agent": ("user_agent.original", ("flow",)),
    "file_sha256": ("file.hash.sha256", ("file",)),
}
WEIGHTS: dict[Mode, dict[str, float]] = {
    Mode.BEHAVIOR: {
        "destination": 1.0,
        "dns_name": 1.0,
        "sni": 1.0,
        "ja3": 1.5,
        "ja4": 1.5,
        "uri": 0.5,
        "user_agent": 0.75,
        "file_sha256": 0.5,
    },
    Mode.CONTENT: {
        "destination": 0.5,
        "dns_name": 0.5,
        "sni": 0.5,
        "ja3": 0.75,
        "ja4": 0.75,
        "uri": 1.5,
        "user_agent": 1.0,
        "file_sha256": 2.0,
    },
}
VALUES_PER_INTENSITY = 20
_ALL = query(ir.MatchAll())


class SharedValue(Strict):
    field: str = Field(description="what kind of value: destination, dns_name, sni, ja3, ...")
    value: str | int | float | bool
    captures_with_value: int = Field(description="captures in the index holding it (df)")
    weight: float = Field(description="what it adds to the score before normalising")


class SimilarCapture(Strict):
    capture_id: str
    score: float = Field(description="shared weight / the capture's own weight (0..1]")
    verdict: str | None
    filename: str | None
    shared_count: int
    shared: list[SharedValue] = Field(description="heaviest first")


class SimilarView(Strict):
    capture_id: str
    weighting_mode: Mode
    intensity: int
    prioritize_uncommon_fields: bool
    captures_in_index: int = Field(description="N of the idf")
    compared: dict[str, int] = Field(description="values of this capture compared, per field")
    results: list[SimilarCapture]


def idf(total: int, df: int) -> float:
    return math.log(1.0 + total / max(df, 1))


async def _counts(ctx: Context, cid: str, depth: int) -> tuple[Aggregations, int]:
    """(this capture's ``depth`` most frequent values per field, N)."""
    own = {name: TermsAgg(f, depth) for name, (f, _) in COMPARED.items()}
    own_flows = {k: v for k, v in own.items() if COMPARED[k][1] == ("flow",)}
    own_files = {k: v for k, v in own.items() if k not in own_flows}
    flows, files, everyone = await asyncio.gather(
        ctx.index.aggregate(_ALL, own_flows, capture_id=cid, datasets=["flow"]),
        ctx.index.aggregate(_ALL, own_files, capture_id=cid, datasets=["file"]),
        ctx.index.aggregate(_ALL, {"caps": TermsAgg(CAPTURE_FIELD, MAX_BUCKETS)}),
    )
    flows.terms.update(files.terms)
    return flows, len(everyone.terms["caps"])


async def _field_df(ctx: Context, field: str, datasets: tuple[str, ...]) -> int:
    """Captures holding ``field`` at all."""
    result = await ctx.index.aggregate(
        query(ir.Exists(FLOW_FIELDS_BY_NAME[field])),
        {"caps": TermsAgg(CAPTURE_FIELD, MAX_BUCKETS)},
        datasets=list(datasets),
    )
    return len(result.terms["caps"])


async def rank(
    ctx: Context, cid: str, *, intensity: int, mode: Mode, uncommon: bool, limit: int
) -> SimilarView:
    own, total = await _counts(ctx, cid, VALUES_PER_INTENSITY * intensity)
    names = [n for n in COMPARED if own.terms.get(n)]

    async def sharing(name: str) -> tuple[str, Aggregations, int]:
        field, datasets = COMPARED[name]
        values: list[object] = [b.key for b in own.terms[name]]
        if field == "destination.ip":  # IP terms take addresses
            values = [ip_address(str(v)) for v in values]
        agg = TermsAgg(field, MAX_BUCKETS, by=TermsAgg(CAPTURE_FIELD, MAX_BUCKETS))
        found, fdf = await asyncio.gather(
            ctx.index.aggregate(query(any_of(field, values)), {"v": agg}, datasets=list(datasets)),
            _field_df(ctx, field, datasets) if uncommon else asyncio.sleep(0, 1),
        )
        return name, found, fdf

    answers = await asyncio.gather(*(sharing(n) for n in names))
    weights = WEIGHTS[mode]
    scores: dict[str, float] = defaultdict(float)
    shared: dict[str, list[SharedValue]] = defaultdict(list)
    own_total = 0.0
    for name, found, fdf in answers:
        field_weight = weights[name] * (idf(total, fdf) if uncommon else 1.0)
        for b in found.terms["v"]:
            holders = [str(s.key) for s in b.sub or []]
            w = round(field_weight * idf(total, len(holders)), 6)
            own_total += w
            for other in holders:
                if other == cid:
                    continue
                scores[other] += w
                shared[other].append(
                    SharedValue(field=name, value=b.key, captures_with_value=len(holders), weight=w)
                )
    ranked = sorted(scores, key=lambda c: (-round(scores[c], 9), c))[:limit]
    docs = await capture_docs(ctx, ranked)
    results = []
    for other in ranked:
        doc = docs.get(other) or {}
        values = sorted(shared[other], key=lambda s: (-s.weight, s.field, str(s.value)))
        results.append(
            SimilarCapture(
                capture_id=other,
                score=round(scores[other] / own_total, 6) if own_total else 0.0,
                verdict=doc.get("verdict"),
                filename=doc.get("filename"),
                shared_count=len(values),
                shared=values,
            )
        )
    return SimilarView(
        capture_id=cid,
        weighting_mode=mode,
        intensity=intensity,
        prioritize_uncommon_fields=uncommon,
        captures_in_index=total,
        compared={n: len(own.terms[n]) for n in names},
        results=results,
    )


def add_similar_routes(router: APIRouter, guard_for: GuardFor) -> None:
    @router.get(
        "/v1/captures/{capture_id}/similar",
        response_model=SimilarView,
        tags=["captures"],
        responses=error_responses({400: "a bad capture id", 404: "no capture", 503: ""}),
    )
    async def similar(
        capture_id: CaptureId,
        ctx: CtxDep,
        intensity: Annotated[
            int,
            Query(ge=1, le=10, description="how much is compared: 20*intensity values per field"),
        ] = 5,
        weighting_mode: Annotated[Mode, Query()] = Mode.BEHAVIOR,
        prioritize_uncommon_fields: Annotated[
            bool, Query(description="also weigh each field by how few captures have it")
        ] = True,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> SimilarView:
        """Other captures ranked by shared destinations, DNS names, SNIs, JA3/JA4, URIs, user
        agents and file hashes; uncommon shared values weigh more (idf over the index)."""
        await existing_capture(ctx, capture_id)
        return await guarded(
            guard_for(ctx),
            lambda: rank(
                ctx,
                capture_id,
                intensity=intensity,
                mode=weighting_mode,
                uncommon=prioritize_uncommon_fields,
                limit=limit,
            ),
        )
