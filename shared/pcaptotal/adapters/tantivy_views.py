"""Cursor pages and terms aggregations on a tantivy index (see ``pcaptotal.views``).

tantivy sorts by one fast field and has no search_after, so a page after the cursor
(value v, id i) is put together from three ordered pieces: the rest of the run of documents
whose sort value is v (by ``event.id``, after i), then the documents strictly past v (by the
sort field; equal values by ``event.id``), then the documents without a sort value (by
``event.id``), which sort last in either direction, as Elasticsearch's ``missing: _last``.
Blocking: the adapter runs these on its search pool.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tantivy

from pcaptotal.fields import Field, FieldType
from pcaptotal.views import (
    MAX_BUCKETS,
    Agg,
    Page,
    TermsAgg,
    agg_request,
    ask_short_tops,
    check_top,
    decode_cursor,
    encode_cursor,
    recounted,
)

ID = "event.id"
_Q = tantivy.Query
_O = tantivy.Occur
_CHUNK = 1000
_LOOKAHEAD = 16  # hits fetched past the page: where the run of equal values at its end stops
_RUN_IN_MEMORY = 512  # longer runs of equal values are ordered by a query
_MISSING = None  # the cursor value of a document without a sort value


def _and(*queries: tantivy.Query) -> tantivy.Query:
    return _Q.boolean_query([(_O.Must, q) for q in queries])


def _ftype(f: Field) -> tantivy.FieldType:
    return tantivy.FieldType.Float if f.type is FieldType.FLOAT else tantivy.FieldType.Integer


def _equal(schema: tantivy.Schema, f: Field, value: Any) -> tantivy.Query:
    return _Q.range_query(schema, f.name, _ftype(f), value, value)


def _from(schema: tantivy.Schema, f: Field, value: Any, descending: bool) -> tantivy.Query:
    """``value`` and the values past it in the sort order."""
    if descending:
        return _Q.range_query(schema, f.name, _ftype(f), None, value)
    return _Q.range_query(schema, f.name, _ftype(f), value, None)


def _missing(f: Field) -> tantivy.Query:
    return _Q.boolean_query([(_O.Must, _Q.all_query()), (_O.MustNot, _Q.exists_query(f.name))])


def _by_id_after(
    searcher: tantivy.Searcher, query: tantivy.Query, after: str | None, limit: int
) -> list[tantivy.DocAddress]:
    """Up to ``limit`` hits ordered by event.id, those with an id > ``after`` only."""
    out: list[tantivy.DocAddress] = []
    offset = 0
    while len(out) < limit:
        hits = searcher.search(
            query, _CHUNK, count=False, order_by_field=ID, order=tantivy.Order.Asc, offset=offset
        ).hits
        for key, address in hits:
            if after is None or str(key) > after:
                out.append(address)
                if len(out) == limit:
                    break
        if len(hits) < _CHUNK:
            break
        offset += _CHUNK
    return out


def _ordered(
    searcher: tantivy.Searcher,
    schema: tantivy.Schema,
    query: tantivy.Query,
    f: Field,
    descending: bool,
    limit: int,
    load: Any,
    after: tuple[Any, str] | None = None,
) -> list[tantivy.DocAddress]:
    """The first ``limit`` hits of ``query`` (all have a sort value) by (value, event.id),
    past ``after`` (value, id) when given: of the run of ``after``'s value, only ids after it.

    A run of equal values wholly among the hits fetched (``_LOOKAHEAD`` past the page tell
    where the last one ends) is ordered by reading its documents' ids; only a run the fetch
    may have cut, or a long one, is a query of its own (the run's value, by event.id): that
    query filters the sort column of every record, and with one per run (records of
    different kinds share a time) a cursor page cost 3-16 times the first page at a million
    records."""
    order = tantivy.Order.Desc if descending else tantivy.Order.Asc
    fetch = limit + _LOOKAHEAD
    while True:
        hits = searcher.search(query, fetch, count=False, order_by_field=f.name, order=order).hits
        page = _ordered_hits(searcher, schema, query, f, hits, fetch, limit, load, after)
        # hits skipped in ``after``'s run took places in the fetch: fetch more when short
        if len(page) >= limit or len(hits) < fetch:
            return page[:limit]
        fetch *= 4


def _ordered_hits(
    searcher: tantivy.Searcher,
    schema: tantivy.Schema,
    query: tantivy.Query,
    f: Field,
    hits: list[tuple[Any, tantivy.DocAddress]],
    fetch: int,
    limit: int,
    load: Any,
    after: tuple[Any, str] | None,
) -> list[tantivy.DocAddress]:
    page: list[tantivy.DocAddress] = []
    i = 0
    while i < len(hits) and len(page) < limit:
        j = i
        while j < len(hits) and hits[j][0] == hits[i][0]:
            j += 1
        cut = j == len(hits) and len(hits) == fetch  # the run may go on past the fetch
        last = after[1] if after is not None and hits[i][0] == after[0] else None
        if j - i == 1 and not cut and last is None:
            page.append(hits[i][1])
        elif not cut and j - i <= _RUN_IN_MEMORY:
            keyed = [(str(load(searcher, a)[ID]), a) for _, a in hits[i:j]]
            keyed.sort(key=lambda k: k[0])
            page.extend(a for key, a in keyed if last is None or key > last)
        else:
            run_query = _and(query, _equal(schema, f, hits[i][0]))
            page.extend(_by_id_after(searcher, run_query, last, limit - len(page)))
        i = j
    return page


def _sort_value(searcher: tantivy.Searcher, f: Field, address: tantivy.DocAddress) -> Any:
    (value,) = searcher.fast_field_values(f.name, [address])
    return value


def page_after(
    index: tantivy.Index,
    schema: tantivy.Schema,
    query: tantivy.Query,
    f: Field,
    descending: bool,
    limit: int,
    cursor: str | None,
    load: Any,
) -> Page:
    """One page of ``query`` ordered by ``f`` (then event.id), after ``cursor``."""
    searcher = index.searcher()  # one snapshot for every piece
    total = int(searcher.search(query, 1, count=True).count or 0)  # type: ignore[attr-defined]
    if limit <= 0:
        return Page(total=total, hits=[], cursor=cursor)
    value: Any = _MISSING
    last: str | None = None
    in_missing = False
    if cursor is not None:
        value, last = decode_cursor(cursor)
        in_missing = value is _MISSING
    has_value = _and(query, _Q.exists_query(f.name))
    want = limit + 1  # one past the page: whether any hit is left for a next page
    addresses: list[tantivy.DocAddress] = []
    if not in_missing:
        if cursor is not None:  # the rest of the cursor's run, then the values past it
            rest = _and(query, _from(schema, f, value, descending))
            after: tuple[Any, str] | None = (value, str(last))
        else:
            rest, after = has_value, None
        addresses += _ordered(searcher, schema, rest, f, descending, want, load, after)
        last = None  # the missing tail starts from its beginning
    if len(addresses) < want:
        tail = _and(query, _missing(f))
        addresses += _by_id_after(searcher, tail, last, want - len(addresses))
    more = len(addresses) > limit
    addresses = addresses[:limit]
    hits = [load(searcher, a) for a in addresses]
    next_cursor = None
    if more:
        end = addresses[-1]
        next_cursor = encode_cursor(_sort_value(searcher, f, end), str(hits[-1][ID]))
    return Page(total=total, hits=hits, cursor=next_cursor)


def aggregate(
    index: tantivy.Index, schema: tantivy.Schema, query: tantivy.Query, aggs: Mapping[str, Agg]
) -> dict[str, Any]:
    """The backend answer of ``aggs`` (``agg_request``'s body) over ``query``, from one
    snapshot; a short top list (``pcaptotal.views.short_top``) asked for its first values and
    proven exact (``_exact_top``)."""
    searcher = index.searcher()
    body = agg_request(aggs, "tantivy")
    tops = ask_short_tops(aggs, body)
    result: dict[str, Any] = searcher.aggregate(query, body) if body else {}
    for name, agg in tops.items():
        result[name] = _exact_top(searcher, schema, query, agg, result.get(name) or {})
    return result


def _exact_top(
    searcher: tantivy.Searcher,
    schema: tantivy.Schema,
    query: tantivy.Query,
    agg: TermsAgg,
    first: Mapping[str, Any],
) -> dict[str, Any]:
    """Buckets holding the exact ``agg.size`` largest values by count, ties included: the
    first answer when ``check_top`` proves it, else its values counted again over the records
    holding one of them when that proves it, else every value (the full answer)."""
    check = check_top(agg, first)
    if check.exact:
        return dict(first)
    if check.recount:
        having = tantivy.Query.term_set_query(schema, agg.field, check.recount)
        # Every value of those records (multi-valued fields hold others too), never cut.
        spec = {"terms": {"field": agg.field, "size": MAX_BUCKETS, "segment_size": MAX_BUCKETS}}
        again = searcher.aggregate(_and(query, having), {"x": spec})["x"]
        exact = recounted(agg, check, again)
        if exact is not None:
            return exact
    return _every_value(searcher, query, agg)


def _every_value(searcher: tantivy.Searcher, query: tantivy.Query, agg: TermsAgg) -> dict[str, Any]:
    """The full answer: every value (up to ``MAX_BUCKETS``), as ``agg_request`` asks."""
    spec = {"terms": {"field": agg.field, "size": MAX_BUCKETS}}
    full: dict[str, Any] = searcher.aggregate(query, {"x": spec})["x"]
    return full
