"""``GET /v1/stats``: how threats evolve and whom they target, across the archive.

Time is traffic time (the records' ``@timestamp``): a capture is counted in the interval of
its first record, so uploads of old captures land where their traffic happened. Capture
breakdowns (captures, verdicts, malware families, sectors) come from one terms aggregation
(capture → first record time, families) joined with the capture documents; findings by
heuristic and intel hits by feed are date-histogram aggregations over the finding records.
Every breakdown takes the same filters: ``since``/``until`` (traffic time), ``archive`` and
``sector``.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pcaptotal.captures import Status
from pcaptotal.context import Context
from pcaptotal.fields import FLOW_FIELDS_BY_NAME
from pcaptotal.query import ir
from pcaptotal.views import MAX_BUCKETS, Bucket, DateHistogramAgg, HistogramBucket, TermsAgg
from pcaptotal.web import error_responses
from pydantic import Field

from pcaptotal_search_api.answer_cache import AnswerCache
from pcaptotal_search_api.archives_members import resolve
from pcaptotal_search_api.cross import CAPTURE_FIELD, Strict, guarded, query, within
from pcaptotal_search_api.params import CtxDep
from pcaptotal_search_api.view_models import BucketView
from pcaptotal_search_api.views import GuardFor

MAX_CAPTURES = MAX_BUCKETS  # capture documents joined per answer
JSON = "application/json"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Interval(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"


SECONDS = {Interval.HOUR: 3600, Interval.DAY: 86400, Interval.WEEK: 7 * 86400}


class Point(Strict):
    start: datetime = Field(description="the interval's start (UTC, a multiple since epoch)")
    count: int
    breakdown: list[BucketView] = Field(description="the count split by value")


class MaliciousTop(Strict):
    captures: int = Field(description="malicious captures these come from")
    destinations: list[BucketView]
    ja3: list[BucketView]
    ja4: list[BucketView]
    user_agents: list[BucketView]


class StatsView(Strict):
    interval: Interval
    since: datetime | None
    until: datetime | None
    archive: str | None
    sector: str | None
    captures_total: int
    captures: list[Point] = Field(description="captures by their first traffic, per verdict")
    families: list[Point] = Field(description="captures per malware family")
    sectors: list[Point] = Field(description="captures per targeted sector")
    findings: list[Point] = Field(description="heuristic finding records per heuristic")
    intel_hits: list[Point] = Field(description="intel hit records per feed")
    verdict_totals: list[BucketView]
    family_totals: list[BucketView]
    sector_totals: list[BucketView]
    finding_totals: list[BucketView]
    intel_totals: list[BucketView]
    malicious_top: MaliciousTop


def _bin(when: datetime, seconds: int) -> datetime:
    s = (when - _EPOCH) // timedelta(seconds=1)
    return _EPOCH + timedelta(seconds=s - s % seconds)


# The answer is put together as plain dicts and validated once (``StatsView.model_validate``,
# in pydantic-core): thousands of BucketView/Point objects built one by one in Python
# (``model_construct`` fills defaults in Python) were ~250 ms of a 1,000,000-record answer.
Plain = dict[str, Any]


def _views(counter: Counter[str], top: int | None = None) -> list[Plain]:
    ordered = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"key": k, "count": n} for k, n in ordered[:top]]


def _points(per_bin: dict[datetime, Counter[str]], counts: Counter[datetime]) -> list[Plain]:
    return [
        {"start": start, "count": counts[start], "breakdown": _views(per_bin[start])}
        for start in sorted(counts)
    ]


def _histogram(buckets: list[HistogramBucket]) -> tuple[list[Plain], Counter[str]]:
    totals: Counter[str] = Counter()
    points = []
    for h in buckets:
        sub = h.sub or []
        totals.update({str(b.key): b.count for b in sub})
        points.append({"start": h.start, "count": h.count, "breakdown": _bv(sub)})
    return points, totals


def _bv(buckets: list[Bucket]) -> list[Plain]:
    return [{"key": b.key, "count": b.count} for b in buckets]


def _read_error(done: asyncio.Future[Any]) -> None:
    if not done.cancelled():
        done.exception()


def _sector(doc: dict[str, Any]) -> str | None:
    context = doc.get("context")
    value = context.get("sector") if isinstance(context, dict) else doc.get("sector")
    return value if isinstance(value, str) else None


async def compute(
    ctx: Context,
    *,
    interval: Interval,
    since: datetime | None,
    until: datetime | None,
    archive: str | None,
    sector: str | None,
    top: int,
) -> StatsView:
    seconds = SECONDS[interval]
    base = within(ir.MatchAll(), since, until)
    source = FLOW_FIELDS_BY_NAME["pcaptotal.finding.source"]
    per_capture = TermsAgg(
        CAPTURE_FIELD,
        MAX_BUCKETS,
        span_field="@timestamp",
        by=TermsAgg("threat.enrichments.software.name", 100),
    )

    def findings_by(kind: str, field: str, only: list[str] | None) -> Any:
        node = ir.Term(source, kind)
        agg = DateHistogramAgg("@timestamp", seconds, by=TermsAgg(field, MAX_BUCKETS))
        return ctx.index.aggregate(
            query(within(node, since, until)),
            {"h": agg},
            datasets=["finding"],
            capture_ids=only,
        )

    def over_records(only: list[str] | None) -> Any:
        """Per capture (first time, families) and the findings histograms, at once."""
        return asyncio.gather(
            ctx.index.aggregate(
                query(base), {"caps": per_capture}, datasets=["flow"], capture_ids=only
            ),
            findings_by("heuristic", "pcaptotal.finding.name", only),
            findings_by("intel", "threat.enrichments.indicator.provider", only),
        )

    def top_of(capture_ids: list[str]) -> Any:
        return ctx.index.aggregate(
            query(base),
            {
                "dst": TermsAgg("destination.ip", top),
                "ja3": TermsAgg("tls.client.ja3", top),
                "ja4": TermsAgg("tls.client.ja4", top),
                "ua": TermsAgg("user_agent.original", top),
            },
            datasets=["flow"],
            capture_ids=capture_ids,
        )

    ids: set[str] | None = None
    if archive is not None:  # automatic and curated members alike (archives_members)
        found = await resolve(ctx, archive, since=since, until=until)
        ids = {m.capture_id for m in found.members}
    # Without a sector the aggregations over the records need no capture document: they run
    # while the documents are read.
    running = over_records(sorted(ids) if ids is not None else None) if sector is None else None
    try:
        listed = await ctx.index.find_captures([Status.DONE.value], MAX_CAPTURES)
        docs = {d["id"]: d for d in listed}
        if running is None:
            in_sector = {cid for cid, d in docs.items() if _sector(d) == sector}
            ids = in_sector if ids is None else ids & in_sector
            running = over_records(sorted(ids))
        # The malicious captures' top lists run beside the other aggregations instead of
        # after them. They start from the documents' verdicts; the exact list (below) can
        # only drop a candidate that has no flow in the span, which adds nothing to these
        # aggregations, unless its flows there have no @timestamp: then they run again.
        candidates = sorted(
            cid
            for cid, doc in docs.items()
            if (ids is None or cid in ids) and str(doc.get("verdict") or "none") == "malicious"
        )
        (caps, heuristics, intel), bad = await asyncio.gather(running, top_of(candidates))
    except BaseException:
        if running is not None:  # not left running, nor its error left unread
            running.cancel()
            running.add_done_callback(_read_error)
        raise
    counts: Counter[datetime] = Counter()
    verdicts: dict[datetime, Counter[str]] = defaultdict(Counter)
    families: dict[datetime, Counter[str]] = defaultdict(Counter)
    sectors: dict[datetime, Counter[str]] = defaultdict(Counter)
    family_counts: Counter[datetime] = Counter()
    sector_counts: Counter[datetime] = Counter()
    totals = {"verdict": Counter[str](), "family": Counter[str](), "sector": Counter[str]()}
    malicious: list[str] = []
    untimed: set[str] = set()  # captures with flows in the span, none of them timed
    for b in caps.terms["caps"]:
        cid = str(b.key)
        doc = docs.get(cid)
        if doc is not None and b.first is None:
            untimed.add(cid)
        if doc is None or b.first is None:  # not analysed (done), or no timed records
            continue
        start = _bin(b.first, seconds)
        verdict = str(doc.get("verdict") or "none")
        counts[start] += 1
        verdicts[start][verdict] += 1
        totals["verdict"][verdict] += 1
        if verdict == "malicious":
            malicious.append(cid)
        names = {str(s.key) for s in b.sub or []} | {
            str(t) for t in doc.get("tags") or [] if isinstance(t, str)
        }
        if names:
            family_counts[start] += 1
        for name in names:
            families[start][name] += 1
            totals["family"][name] += 1
        where = _sector(doc)
        if where is not None:
            sector_counts[start] += 1
            sectors[start][where] += 1
            totals["sector"][where] += 1
    finding_points, finding_totals = _histogram(heuristics.histograms["h"])
    intel_points, intel_totals = _histogram(intel.histograms["h"])
    if untimed.intersection(candidates):
        bad = await top_of(sorted(malicious))
    return StatsView.model_validate(
        {
            "interval": interval,
            "since": since,
            "until": until,
            "archive": archive,
            "sector": sector,
            "captures_total": sum(counts.values()),
            "captures": _points(verdicts, counts),
            "families": _points(families, family_counts),
            "sectors": _points(sectors, sector_counts),
            "findings": finding_points,
            "intel_hits": intel_points,
            "verdict_totals": _views(totals["verdict"]),
            "family_totals": _views(totals["family"], top),
            "sector_totals": _views(totals["sector"]),
            "finding_totals": _views(finding_totals, top),
            "intel_totals": _views(intel_totals, top),
            "malicious_top": {
                "captures": len(malicious),
                "destinations": _bv(bad.terms["dst"]),
                "ja3": _bv(bad.terms["ja3"]),
                "ja4": _bv(bad.terms["ja4"]),
                "user_agents": _bv(bad.terms["ua"]),
            },
        }
    )


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def add_stats_routes(router: APIRouter, guard_for: GuardFor) -> None:
    # The same answer until the next write of the index (the embedded one says when), kept
    # as the bytes FastAPI would send for the StatsView (``by_alias`` JSON): a cached answer
    # is not validated and serialised again (~350 KB at 200,000 records, tens of ms).
    answers: AnswerCache[bytes] = AnswerCache()

    @router.get(
        "/v1/stats",
        response_model=StatsView,
        tags=["search"],
        responses=error_responses({400: "bad parameters", 404: "no such archive", 503: ""}),
    )
    async def stats(
        ctx: CtxDep,
        interval: Annotated[Interval, Query(description="histogram interval")] = Interval.DAY,
        since: Annotated[datetime | None, Query(description="traffic from (inclusive)")] = None,
        until: Annotated[datetime | None, Query(description="traffic until (exclusive)")] = None,
        archive: Annotated[
            str | None, Query(description="only captures of this archive (GET /v1/archives)")
        ] = None,
        sector: Annotated[
            str | None, Query(description="only captures targeting this sector")
        ] = None,
        top: Annotated[int, Query(ge=1, le=100, description="entries per top list")] = 10,
    ) -> Response:
        """Histograms of captures by verdict, malware families, sectors, findings by
        heuristic and intel hits by feed; top destinations, JA3/JA4 and user agents of the
        malicious captures. Filtered by time, archive and sector."""

        async def answer() -> bytes:
            view = await guarded(
                guard_for(ctx),
                lambda: compute(
                    ctx,
                    interval=interval,
                    since=_utc(since),
                    until=_utc(until),
                    archive=archive,
                    sector=sector,
                    top=top,
                ),
            )
            return view.model_dump_json(by_alias=True).encode()

        if archive is not None:  # curated members live in the blob store, not the index
            body = await answer()
        else:
            params = (interval, _utc(since), _utc(until), sector, top)
            body = await answers.get_or_compute(ctx.index, params, answer)
        return Response(body, media_type=JSON)
