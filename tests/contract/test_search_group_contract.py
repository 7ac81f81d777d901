"""Contract of ``GET /v1/search?group=capture`` and ``GET /v1/search/export``, computed by the
search API's own functions over each Index adapter (tantivy; osmem in the integration tier):
the same captures, views, hits, scores, order and pages on every backend, and the ones worked
out here from the documents; the export pages through every hit in search order."""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from pcaptotal.captures import CaptureRepository
from pcaptotal.ports import Index
from pcaptotal.query import QueryError, QueryGuard, parse_query
from pcaptotal_search_api import search_export
from pcaptotal_search_api.search_group import group_by_capture

from tests.contract.test_index_contract import index

__all__ = ["index"]

CAPS = [hashlib.sha256(f"group {n}".encode()).hexdigest() for n in range(5)]
BASE = datetime(2023, 7, 1, 8, 0, tzinfo=UTC)
KINDS = ["flow", "dns", "http", "tls", "file", "finding"]
# per capture: how many records of each kind (capture 4 has none matching "evil")
SHAPE = [
    {"flow": 3, "dns": 2, "http": 1},
    {"flow": 1, "tls": 4},
    {"flow": 2, "dns": 2, "http": 1},  # the same shape as capture 0 but one flow fewer
    {"finding": 2, "file": 1},
    {"flow": 5},
]


def _docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    n = 0
    for i, shape in enumerate(SHAPE):
        for kind, count in shape.items():
            for k in range(count):
                n += 1
                when = BASE + timedelta(minutes=n % 7)  # equal times across captures
                docs.append(
                    {
                        "event.id": f"{CAPS[i]}-{kind}-{k}",
                        "event.dataset": kind,
                        "pcaptotal.capture_id": CAPS[i],
                        "@timestamp": when.isoformat().replace("+00:00", "Z"),
                        "tags": ["evil"] if i != 4 else ["fine"],
                        "url.original": [f'http://x.test/a,b"{k}', "=cmd"]
                        if kind == "http"
                        else None,
                    }
                )
    return [{k: v for k, v in d.items() if v is not None} for d in docs]


DOCS = _docs()


@pytest.fixture
async def ctx(index: Index) -> Any:
    await index.add_flows(DOCS)
    repo = CaptureRepository(index)
    for n, cid in enumerate(CAPS[:4]):  # capture 4 has records but no document (deleted)
        await repo.create(cid, size=n + 1, filename=f"c{n}.pcap", status="done", verdict="clean")
    return SimpleNamespace(index=index, captures=repo)


def _expected(
    docs: list[dict[str, Any]], kinds: set[str] | None = None
) -> list[tuple[str, float, dict[str, int]]]:
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for d in docs:
        if kinds is None or d["event.dataset"] in kinds:
            per[d["pcaptotal.capture_id"]][d["event.dataset"]] += 1
    rows = [
        (cid, round(sum(math.log1p(c) for c in views.values()), 6), dict(views))
        for cid, views in per.items()
    ]
    return sorted(rows, key=lambda r: (-r[1], r[0]))


def _rows(page: Any) -> list[tuple[str, float, dict[str, int]]]:
    return [(c.capture_id, c.score, {v.view: v.hits for v in c.views}) for c in page.captures]


async def test_group_gives_captures_views_hits_and_scores(ctx: Any) -> None:
    page = await group_by_capture(ctx, parse_query("tags:evil"), limit=100)
    evil = [d for d in DOCS if d["tags"] == ["evil"]]
    assert _rows(page) == _expected(evil)
    assert (page.total, page.records_total, page.complete, page.cursor) == (
        4,
        len(evil),
        True,
        None,
    )
    first = page.captures[0]
    assert first.capture_id == CAPS[0] and first.hits == 6 and first.filename == "c0.pcap"
    assert [v.view for v in first.views] == ["flow", "dns", "http"]  # most hits first
    assert first.verdict == "clean" and first.status == "done"


async def test_group_restricts_by_kind_query_and_capture(ctx: Any) -> None:
    q = parse_query("")
    kinds = await group_by_capture(ctx, q, datasets=["dns", "tls"], limit=100)
    assert _rows(kinds) == _expected(DOCS, {"dns", "tls"})
    named = await group_by_capture(ctx, parse_query("event.dataset:flow"), limit=100)
    assert _rows(named) == _expected(DOCS, {"flow"})
    one = await group_by_capture(ctx, q, capture_id=CAPS[1], limit=100)
    assert [c.capture_id for c in one.captures] == [CAPS[1]] and one.records_total == 5
    gone = next(c for c in named.captures if c.capture_id == CAPS[4])
    assert gone.filename is None and gone.status is None  # records without a document


@pytest.mark.parametrize("size", [1, 2, 3])
async def test_group_cursor_pages_through_every_capture_once(ctx: Any, size: int) -> None:
    q = parse_query("")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await group_by_capture(ctx, q, limit=size, cursor=cursor)
        assert page.total == 5 and len(page.captures) <= size
        seen += [c.capture_id for c in page.captures]
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == [r[0] for r in _expected(DOCS)]


async def test_group_cursor_is_keyset_stable(ctx: Any) -> None:
    q = parse_query("")
    page = await group_by_capture(ctx, q, limit=2)
    assert page.cursor is not None
    # a new capture that ranks first does not shift the next page
    extra = hashlib.sha256(b"group late").hexdigest()
    await ctx.index.add_flows(
        [
            {"event.id": f"{extra}-{k}-0", "event.dataset": k, "pcaptotal.capture_id": extra}
            for k in KINDS
        ]
    )
    after = await group_by_capture(ctx, q, limit=10, cursor=page.cursor)
    assert [c.capture_id for c in after.captures] == [r[0] for r in _expected(DOCS)][2:]


async def test_group_bad_cursor_is_a_query_error(ctx: Any) -> None:
    with pytest.raises(QueryError):
        await group_by_capture(ctx, parse_query(""), cursor="bm90IG91cnM")


@pytest.mark.parametrize("limit", [None, 7])
async def test_export_pages_through_every_hit_in_search_order(
    ctx: Any, monkeypatch: pytest.MonkeyPatch, limit: int | None
) -> None:
    monkeypatch.setattr(search_export, "PAGE", 3)  # several pages, ties across page ends
    q = parse_query("tags:evil")
    guard = QueryGuard()
    first = await ctx.index.search_page(q, datasets=None, limit=3)
    pages = [
        hits
        async for hits in search_export.export_pages(
            ctx,
            guard,
            q,
            capture_id=None,
            datasets=None,
            first=first,
            limit=limit,
        )
    ]
    got = [h["event.id"] for hits in pages for h in hits]
    every = await ctx.index.search_flows(q, limit=1000)
    assert got == [h["event.id"] for h in every.hits][:limit]
    assert all(len(p) <= 3 for p in pages) and len(set(got)) == len(got)
