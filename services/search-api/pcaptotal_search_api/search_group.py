"""``GET /v1/search?group=capture``: the captures a query matched, not the records.

One terms aggregation of the Index port does the grouping on every backend: buckets of
``pcaptotal.capture_id`` with nested ``event.dataset`` buckets, so each capture comes with the
views (record kinds) it matched in and the hits per view. Both adapters return every bucket
(up to ``MAX_BUCKETS`` captures), so the ranking and the paging happen here, the same for
tantivy and Elasticsearch:

- ``score`` = sum over the views matched of ln(1 + hits in that view), rounded to 6 decimals:
  breadth counts (a capture matching in three views outranks one with the same hits in one)
  and many hits in one view have diminishing returns. Computed from integer counts only, so
  both backends give the same number.
- order: score descending, then capture id ascending (a total order);
- cursor: the (score, capture id) of the page's last capture (``pcaptotal.views`` encoding);
  the next page starts strictly after it in that order. Keyset paging: a capture added or
  removed between pages does not shift the others, and a page costs the same wherever it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pcaptotal.context import Context
from pcaptotal.query import QueryError, ValidatedQuery
from pcaptotal.views import MAX_BUCKETS, Bucket, TermsAgg, decode_cursor, encode_cursor
from pcaptotal.web import ProblemError
from pydantic import Field

from pcaptotal_search_api.capture_view import SummaryView
from pcaptotal_search_api.cross import CAPTURE_FIELD, Strict, capture_docs

DATASET_FIELD = "event.dataset"
# every record kind the index holds (pcaptotal.records); the nested buckets take them all
KINDS = ("flow", "dns", "http", "tls", "file", "finding")
Kind = Literal["flow", "dns", "http", "tls", "file", "finding"]
_BAD_CURSOR = "bad cursor: pass back the cursor of the previous page"
MAX_PAGE = 1000  # captures per page: each is a capture document read for the page


class ViewHits(Strict):
    view: str = Field(description="an event.dataset value: flow, dns, http, tls, file, finding")
    hits: int = Field(ge=1, description="records of this kind that matched")


class CaptureHit(Strict):
    capture_id: str
    score: float = Field(ge=0, description="sum over the views matched of ln(1 + hits)")
    hits: int = Field(ge=1, description="records of the capture that matched")
    views: list[ViewHits] = Field(description="the views it matched in, most hits first")
    filename: str | None = None
    status: str | None = None
    verdict: str | None = None
    risk_score: float | None = Field(default=None, description="the capture's score, 0-100")
    created: datetime | None = None
    summary: SummaryView | None = None


class CaptureSearchPage(Strict):
    group: Literal["capture"] = "capture"
    total: int = Field(ge=0, description="captures that matched")
    records_total: int = Field(ge=0, description="records that matched, in every capture")
    complete: bool = Field(
        description=f"false when more than {MAX_BUCKETS} captures matched: only the "
        f"{MAX_BUCKETS} with the most hits are ranked"
    )
    captures: list[CaptureHit] = Field(description="highest score first, ties by capture id")
    cursor: str | None = Field(description="pass back for the next page; null on the last")


def score(views: Sequence[ViewHits]) -> float:
    return round(sum(math.log1p(v.hits) for v in views), 6)


def _views(bucket: Bucket) -> list[ViewHits]:
    subs = [ViewHits(view=str(s.key), hits=s.count) for s in bucket.sub or [] if s.count > 0]
    return sorted(subs, key=lambda v: (-v.hits, v.view))


def _after(cursor: str) -> tuple[float, str]:
    value, cid = decode_cursor(cursor)  # QueryError when it is not ours
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise QueryError(_BAD_CURSOR)
    return float(value), cid


def check_group_cursor(cursor: str, kind: str) -> None:
    """A 400 problem of ``kind`` for a cursor no group page gave, before any index work."""
    try:
        _after(cursor)
    except QueryError as exc:
        raise ProblemError(400, str(exc), kind=kind) from exc


def rank(buckets: Sequence[Bucket]) -> list[tuple[str, float, int, list[ViewHits]]]:
    """(capture id, score, hits, views) of every bucket, in page order."""
    rows = []
    for b in buckets:
        views = _views(b)
        rows.append((str(b.key), score(views), b.count, views))
    return sorted(rows, key=lambda r: (-r[1], r[0]))


def page_of(
    ranked: Sequence[tuple[str, float, int, list[ViewHits]]], limit: int, cursor: str | None
) -> tuple[list[tuple[str, float, int, list[ViewHits]]], str | None]:
    """The ``limit`` rows after ``cursor`` and the cursor of the next page (None: last)."""
    start = 0
    if cursor is not None:
        after_score, after_id = _after(cursor)
        key = (-after_score, after_id)
        start = next((i for i, r in enumerate(ranked) if (-r[1], r[0]) > key), len(ranked))
    rows = list(ranked[start : start + limit])
    more = start + limit < len(ranked)
    return rows, encode_cursor(rows[-1][1], rows[-1][0]) if rows and more else None


def _risk(doc: dict[str, Any]) -> float | None:
    value = doc.get("score")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _hit(row: tuple[str, float, int, list[ViewHits]], doc: dict[str, Any]) -> CaptureHit:
    cid, value, hits, views = row
    summary = doc.get("summary")
    return CaptureHit(
        capture_id=cid,
        score=value,
        hits=hits,
        views=views,
        filename=doc.get("filename"),
        status=doc.get("status"),
        verdict=doc.get("verdict"),
        risk_score=_risk(doc),
        created=doc.get("created"),
        summary=SummaryView.model_validate(summary) if isinstance(summary, dict) else None,
    )


async def group_by_capture(
    ctx: Context,
    query: ValidatedQuery,
    *,
    capture_id: str | None = None,
    datasets: Sequence[str] | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> CaptureSearchPage:
    """One page of the captures ``query`` matched (see the module docstring). ``ctx.index`` is
    the caller's view of the index, so captures the caller may not see never appear."""
    if cursor is not None:
        _after(cursor)  # a bad cursor is a 400 before any index work
    agg = TermsAgg(CAPTURE_FIELD, MAX_BUCKETS, by=TermsAgg(DATASET_FIELD, len(KINDS)))
    found = await ctx.index.aggregate(query, {"c": agg}, capture_id=capture_id, datasets=datasets)
    buckets = found.terms["c"]
    ranked = rank(buckets)
    rows, next_cursor = page_of(ranked, limit, cursor)
    docs = await capture_docs(ctx, [r[0] for r in rows])
    return CaptureSearchPage(
        total=len(ranked),
        records_total=found.total,
        complete=len(buckets) < MAX_BUCKETS,
        captures=[_hit(r, docs.get(r[0]) or {}) for r in rows],
        cursor=next_cursor,
    )
