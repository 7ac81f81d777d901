"""A page of records from the embedded index, oldest ``@timestamp`` first, ties by ``event.id``.

Runs in a search pool thread, the stored documents read there too. Reading them on the event
loop instead (``Searcher.doc`` releases the GIL for each read, and a pool thread then waits
for the GIL behind the loop) was measured with ``bench/api.py`` at 1M records: no better,
as it puts ~0.5 ms more per search on the loop's thread.
"""

from __future__ import annotations

from typing import Any

import orjson
import tantivy

from pcaptotal.adapters.tantivy_docs import ID, SORT_FIELD, SOURCE, _parse
from pcaptotal.ports import SearchResult
from pcaptotal.views import encode_cursor

_Q = tantivy.Query
_O = tantivy.Occur

_RUN_IN_MEMORY = 512  # longer runs of equal times are ordered by a query
_LOOKAHEAD = 16  # hits fetched past the page end


def count(result: tantivy.SearchResult) -> int:
    found: int | None = result.count  # type: ignore[attr-defined]  # missing from the stub
    return found or 0


def ordered_search(
    index: tantivy.Index,
    schema: tantivy.Schema,
    query: tantivy.Query,
    limit: int,
    offset: int,
    raw: bool = False,
) -> SearchResult:
    """Hits ``offset .. offset+limit`` with the total and search_page's cursor of the last."""
    searcher = index.searcher()  # one snapshot for every step below
    if limit <= 0:  # tantivy refuses a zero limit
        return SearchResult(total=count(searcher.search(query, 1, count=True)), hits=[])
    total, page, last_value = _ordered_page(schema, searcher, query, limit, offset)
    sources = [a if isinstance(a, bytes) else _source(searcher, a) for a in page]
    cursor = None
    if sources and total > offset + len(sources):  # search_page's cursor: (time, id) of the last
        cursor = encode_cursor(last_value, str(_parse(sources[-1])[ID]))
    if raw:
        return SearchResult(total=total, hits=[], cursor=cursor, raw=[_json(b) for b in sources])
    return SearchResult(total=total, hits=[_parse(b) for b in sources], cursor=cursor)


def _source(searcher: tantivy.Searcher, address: tantivy.DocAddress) -> bytes:
    raw: bytes = searcher.doc(address)[SOURCE][0]
    return raw


def _json(source: bytes) -> bytes:
    """``_source`` as a JSON answer may embed it: as stored, unless the json fallback of
    ``tantivy_docs._dump`` wrote NaN/Infinity there, which strict JSON has not (rewritten as
    the parsed document serialises)."""
    if b"NaN" in source or b"Infinity" in source:
        return orjson.dumps(_parse(source))
    return source


def _ordered_page(
    schema: tantivy.Schema,
    searcher: tantivy.Searcher,
    query: tantivy.Query,
    limit: int,
    offset: int,
) -> tuple[int, list[tantivy.DocAddress | bytes], Any]:
    """Hits ``offset .. offset+limit`` ordered by (@timestamp, event.id): addresses, or the
    stored ``_source`` where documents had to be read to order them; and the @timestamp (µs,
    None when it has none) of the last.

    tantivy sorts by one fast field. Sort by @timestamp, then order each run of equal times
    that overlaps the page by event.id: a run wholly among the hits fetched (up to
    ``_RUN_IN_MEMORY`` of them) by reading its documents, which the page needs anyway; a run
    that goes on past what was fetched by a query sorted by event.id. ``_LOOKAHEAD`` hits
    past the page end tell where the run at the page end stops, so that query (a range over
    the time column of every record: it cost more than the search) is rarely needed.
    """
    end = offset + limit
    fetch = end + _LOOKAHEAD
    result = searcher.search(
        query, fetch, count=True, order_by_field=SORT_FIELD, order=tantivy.Order.Asc
    )
    hits = result.hits
    page: list[tantivy.DocAddress | bytes] = []
    last_value: Any = None
    i = 0
    while i < min(len(hits), end):
        j = i
        while j < len(hits) and hits[j][0] == hits[i][0]:
            j += 1
        lo, hi = max(i, offset), min(j, end)
        cut = j == len(hits) and len(hits) == fetch  # the run may go on past what we fetched
        if lo < hi:
            last_value = hits[i][0]
            if j - i == 1 and not cut:
                page.append(hits[i][1])
            elif not cut and j - i <= _RUN_IN_MEMORY:  # the whole run is here
                run_docs = [_source(searcher, address) for _, address in hits[i:j]]
                run_docs.sort(key=lambda b: str(_parse(b)[ID]))  # code points: UTF-8 order
                page.extend(run_docs[lo - i : hi - i])
            else:
                same = _same_start(schema, hits[i][0])
                run = _Q.boolean_query([(_O.Must, query), (_O.Must, same)])
                sub = searcher.search(
                    run,
                    hi - lo,
                    count=False,
                    order_by_field=ID,
                    order=tantivy.Order.Asc,
                    offset=lo - i,
                )
                page.extend(address for _, address in sub.hits)
        i = j
    return count(result), page, last_value


def _same_start(schema: tantivy.Schema, value: Any) -> tantivy.Query:
    if value is None:  # documents without @timestamp sort last
        return _Q.boolean_query(
            [(_O.Must, _Q.all_query()), (_O.MustNot, _Q.exists_query(SORT_FIELD))]
        )
    return _Q.range_query(schema, SORT_FIELD, tantivy.FieldType.Integer, value, value)
