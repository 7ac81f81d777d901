"""Contract of record search paging (``GET /v1/search``): the first page's cursor
(``search_flows``) continues with ``search_page``, every page after it too, and both adapters
give the same pages: every record once, in (``@timestamp``, ``event.id``) order, ties and
records without a time included, a null cursor on the last page, and no duplicate or skipped
record when records are added between pages."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pcaptotal.adapters import tantivy_search, tantivy_views
from pcaptotal.ports import Index
from pcaptotal.query import parse_query

from tests.contract.test_index_contract import C1, DOCS, index, loaded
from tests.contract.test_index_views_contract import EXTRA, _expected_order

__all__ = ["index", "loaded"]  # the fixtures, shared with the main contract suite

EVERY = [*DOCS.values(), *EXTRA]


@pytest.fixture
async def records(loaded: Index) -> Index:
    await loaded.add_flows(EXTRA)
    return loaded


async def _walk(index: Index, limit: int, text: str = "", **kw: Any) -> list[str]:
    """Every hit, page by page: the first from search_flows, the rest by cursor."""
    first = await index.search_flows(parse_query(text), limit=limit, **kw)
    seen = [h["event.id"] for h in first.hits]
    cursor = first.cursor
    for _ in range(200):
        if cursor is None:
            return seen
        page = await index.search_page(parse_query(text), limit=limit, cursor=cursor, **kw)
        assert page.total == first.total
        assert page.hits, "a cursor is only given when hits are left"
        seen += [h["event.id"] for h in page.hits]
        cursor = page.cursor
    raise AssertionError("paging does not end")


@pytest.mark.parametrize("limit", [1, 2, 5, 12, 13, 100])
async def test_first_page_cursor_continues_in_order(records: Index, limit: int) -> None:
    expected = _expected_order(EVERY, "@timestamp", False)
    assert await _walk(records, limit) == expected


async def test_cursor_pages_restrict_as_the_first(records: Index) -> None:
    expected = _expected_order(
        [d for d in EXTRA if d["dns.response_code"] == "NXDOMAIN"], "@timestamp", False
    )
    got = await _walk(records, 4, "dns.response_code:NXDOMAIN", capture_id=C1, datasets=["dns"])
    assert got == expected


async def test_the_last_page_has_no_cursor(records: Index) -> None:
    n = len(EVERY)
    exact = await records.search_flows(parse_query(""), limit=n)
    assert len(exact.hits) == n and exact.cursor is None
    short = await records.search_flows(parse_query(""), limit=n - 1)
    assert short.cursor is not None
    rest = await records.search_page(parse_query(""), limit=1, cursor=short.cursor)
    assert len(rest.hits) == 1 and rest.cursor is None  # the page ends exactly at the end
    offset = await records.search_flows(parse_query(""), limit=3, offset=n - 3)
    assert len(offset.hits) == 3 and offset.cursor is None


async def test_offset_page_cursor_continues_after_it(records: Index) -> None:
    expected = _expected_order(EVERY, "@timestamp", False)
    window = await records.search_flows(parse_query(""), limit=4, offset=6)
    assert [h["event.id"] for h in window.hits] == expected[6:10]
    assert window.cursor is not None
    page = await records.search_page(parse_query(""), limit=100, cursor=window.cursor)
    assert [h["event.id"] for h in page.hits] == expected[10:]


def _later(n: int, when: str) -> dict[str, Any]:
    return {
        "event.id": f"{C1}-dns-late-{n}",
        "event.dataset": "dns",
        "pcaptotal.capture_id": C1,
        "@timestamp": when,
        "dns.response_code": "NOERROR",
    }


async def test_records_added_between_pages_move_no_other(records: Index) -> None:
    """Records indexed after a cursor was given, before and after it in the order, neither
    repeat nor hide any of the records that were there: those after the cursor show up."""
    before = _expected_order(EVERY, "@timestamp", False)
    first = await records.search_flows(parse_query(""), limit=10)
    seen = [h["event.id"] for h in first.hits]
    cursor = first.cursor
    # one long before every record, one inside the run of equal times, one after every record
    added = [
        _later(0, "2001-01-01T00:00:00Z"),
        _later(1, "2009-11-18T16:43:01.000000Z"),
        _later(2, "2030-01-01T00:00:00Z"),
    ]
    await records.add_flows(added)
    while cursor is not None:
        page = await records.search_page(parse_query(""), limit=7, cursor=cursor)
        seen += [h["event.id"] for h in page.hits]
        cursor = page.cursor
    assert len(seen) == len(set(seen))
    assert set(before) <= set(seen)
    after_all = _expected_order([*EVERY, *added], "@timestamp", False)
    assert seen == [x for x in after_all if x in set(before) or x in seen]
    assert added[2]["event.id"] in seen and added[0]["event.id"] not in seen


@pytest.mark.parametrize("text", ["", "dns.response_code:NXDOMAIN", "network.transport:udp"])
async def test_raw_hits_are_the_hits_as_json(records: Index, text: str) -> None:
    """``raw=True`` (what ``/v1/search`` embeds in its answer) gives each hit's JSON."""
    for limit, offset in ((100, 0), (3, 2)):
        parsed = await records.search_flows(parse_query(text), limit=limit, offset=offset)
        raw = await records.search_flows(parse_query(text), limit=limit, offset=offset, raw=True)
        assert raw.raw is not None and raw.hits == []
        assert [orjson.loads(b) for b in raw.raw] == parsed.hits
        assert (raw.total, raw.cursor) == (parsed.total, parsed.cursor)


@pytest.mark.parametrize("limit", [1, 3, 7])
async def test_runs_of_equal_times_ordered_by_query_give_the_same_pages(
    records: Index, limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded adapter orders a run of equal times in memory when it has it whole, else
    by a query per run: with no lookahead and no run kept in memory, the pages are the same
    (the other adapter ignores these knobs)."""
    for module in (tantivy_search, tantivy_views):
        monkeypatch.setattr(module, "_RUN_IN_MEMORY", 1)
        monkeypatch.setattr(module, "_LOOKAHEAD", 0)
    assert await _walk(records, limit) == _expected_order(EVERY, "@timestamp", False)
