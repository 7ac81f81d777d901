"""Cursor pages and terms aggregations on a tantivy index (see ``pcaptotal.views``).

tantivy sorts by one fast field and has no search_after, so a page after the cursor
(value v, id i) is put together from three ordered pieces: the rest of the run of documents
whose sort value is v (by ``event.id``, after i), then the documents strictly past v (by the
sort field; equal values by ``event.id``), then the documents without a sort value (by
``event.id``), which sort last in either direction, as Elasticsearch's ``missing: _last``.
Blocking: the adapter runs these on its search pool.
"""

from __future__ import annotations

from typing import Any

import tantivy

from pcaptotal.fields import Field, FieldType
from pcaptotal.views import Page, decode_cursor, encode_cursor

ID = "event.id"
_Q = tantivy.Query
_O = tantivy.Occur
_CHUNK = 1000
_MISSING = None  # the cursor value of a document without a sort value


def _and(*queries: tantivy.Query) -> tantivy.Query:
    return _Q.boolean_query([(_O.Must, q) for q in queries])


def _ftype(f: Field) -> tantivy.FieldType:
    return tantivy.FieldType.Float if f.type is FieldType.FLOAT else tantivy.FieldType.Integer


def _equal(schema: tantivy.Schema, f: Field, value: Any) -> tantivy.Query:
    return _Q.range_query(schema, f.name, _ftype(f), value, value)


def _past(schema: tantivy.Schema, f: Field, value: Any, descending: bool) -> tantivy.Query:
    if descending:
        return _Q.range_query(schema, f.name, _ftype(f), None, value, include_upper=False)
    return _Q.range_query(schema, f.name, _ftype(f), value, None, include_lower=False)


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
) -> list[tantivy.DocAddress]:
    """The first ``limit`` hits of ``query`` (all have a sort value) by (value, event.id)."""
    order = tantivy.Order.Desc if descending else tantivy.Order.Asc
    hits = searcher.search(query, limit, count=False, order_by_field=f.name, order=order).hits
    page: list[tantivy.DocAddress] = []
    i = 0
    while i < len(hits) and len(page) < limit:
        j = i
        while j < len(hits) and hits[j][0] == hits[i][0]:
            j += 1
        if j - i == 1 and j < len(hits):
            page.append(hits[i][1])
        else:  # a run of equal values (or one the fetch may have cut): by event.id
            run = _and(query, _equal(schema, f, hits[i][0]))
            page.extend(_by_id_after(searcher, run, None, limit - len(page)))
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
        if cursor is not None:
            run = _and(query, _equal(schema, f, value))
            addresses += _by_id_after(searcher, run, last, want)
            rest = _and(query, _past(schema, f, value, descending))
        else:
            rest = has_value
        if len(addresses) < want:
            addresses += _ordered(searcher, schema, rest, f, descending, want - len(addresses))
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


def aggregate(index: tantivy.Index, query: tantivy.Query, body: dict[str, Any]) -> dict[str, Any]:
    searcher = index.searcher()
    result: dict[str, Any] = searcher.aggregate(query, body) if body else {}
    return result
