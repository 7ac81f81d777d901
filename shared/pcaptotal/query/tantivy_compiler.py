"""Compile the query IR to ``tantivy.Query`` for the schema of ``adapters.tantivy_index``.

Storage conventions shared with that schema (both sides import them from here):

- keyword: raw-tokenized text, fast (``exists_query`` needs a fast field), case-sensitive;
- ip: ip_addr (tantivy keeps IPv4 as IPv6-mapped; IPv4 strings in queries map the same way);
- date: i64 microseconds since the epoch. tantivy's own date type truncates indexed values to
  whole seconds while query bounds keep their fraction, so ``>= 16:43:00.1`` would miss
  ``16:43:00.9``; plain integers keep full precision.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import UTC, datetime
from functools import cache

import tantivy

from pcaptotal.fields import Field, FieldType
from pcaptotal.query import ir
from pcaptotal.query.errors import QueryError, excerpt
from pcaptotal.query.parse import ValidatedQuery
from pcaptotal.query.tantivy_regex import tantivy_reason

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_Q = tantivy.Query
_O = tantivy.Occur


def to_micros(value: datetime) -> int:
    """A datetime as i64 µs since the epoch (naive datetimes are UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@cache
def _text_analyzer() -> tantivy.TextAnalyzer:
    # Same pipeline as tantivy's "default" tokenizer used for ``text`` fields.
    builder = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
    return builder.filter(tantivy.Filter.remove_long(40)).filter(tantivy.Filter.lowercase()).build()


def compile_query(query: ValidatedQuery | ir.Node, schema: tantivy.Schema) -> tantivy.Query:
    """Build the tantivy query; raises :class:`QueryError` for anything tantivy refuses.

    CPU-bound (each wildcard/regex clause compiles an automaton): run it off the event loop.
    """
    node = query.ir if isinstance(query, ValidatedQuery) else query
    try:
        return _Compiler(schema).node(node)
    except QueryError:
        raise
    except RecursionError:  # ``limits`` bounds depth; this guards an IR built elsewhere
        raise QueryError("query is nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise QueryError(f"cannot run query: {tantivy_reason(exc)}") from None


# Compiled wildcard queries, least recently used first: building the automaton was most of a
# name-wildcard search's CPU (~1.5 ms of ~4 ms at a million records). Only patterns of
# literals and ``*`` no longer than ``_KEEP_LEN`` are kept: their automata grow with the
# pattern's length, where a ``?`` after a ``*`` can make one exponentially large (up to
# tantivy's size limit), so a bounded count of kept ones is a bounded amount of memory.
# Values hold the schema they were built for (a query is only reused for that schema).
WILDCARDS_KEPT = 128
_KEEP_LEN = 128
_WILDCARDS: OrderedDict[tuple[str, str], tuple[tantivy.Schema, tantivy.Query]] = OrderedDict()
_WILDCARDS_LOCK = threading.Lock()  # compiles run on the adapters' search threads


def _keepable(n: ir.Wildcard, pattern: str) -> bool:
    return len(pattern) <= _KEEP_LEN and all(kind != "?" for kind, _ in n.parts)


class _Compiler:
    def __init__(self, schema: tantivy.Schema) -> None:
        self.schema = schema

    def node(self, n: ir.Node) -> tantivy.Query:
        if isinstance(n, ir.MatchAll):
            return _Q.all_query()
        if isinstance(n, ir.MatchNone):
            return _Q.empty_query()
        if isinstance(n, ir.And):
            return self._and(n.children)
        if isinstance(n, ir.Or):
            return _Q.boolean_query([(_O.Should, self.node(c)) for c in n.children])
        if isinstance(n, ir.Not):
            return self._and((n,))
        if isinstance(n, ir.Term):
            return self._term(n)
        if isinstance(n, ir.Range):
            return self._range(n)
        if isinstance(n, ir.Wildcard):
            return self._wildcard(n)
        if isinstance(n, ir.Regexp):
            return self._regex(n.field, n.pattern, f"regular expression /{excerpt(n.pattern)}/")
        if isinstance(n, ir.Fuzzy):
            return _Q.fuzzy_term_query(self.schema, n.field.name, n.value, n.distance, True)
        if isinstance(n, ir.Exists):
            return _Q.exists_query(n.field.name)
        if isinstance(n, ir.TextMatch):
            return self._text(n)
        raise QueryError(f"unsupported query node {type(n).__name__}")

    def _wildcard(self, n: ir.Wildcard) -> tantivy.Query:
        pattern = n.to_regex()
        if not _keepable(n, pattern):
            return self._regex(n.field, pattern, f"wildcard term '{excerpt(n.to_lucene())}'")
        key = (n.field.name, pattern)
        with _WILDCARDS_LOCK:
            kept = _WILDCARDS.get(key)
            if kept is not None and kept[0] is self.schema:
                _WILDCARDS.move_to_end(key)
                return kept[1]
        query = self._regex(n.field, pattern, f"wildcard term '{excerpt(n.to_lucene())}'")
        with _WILDCARDS_LOCK:
            _WILDCARDS[key] = (self.schema, query)
            while len(_WILDCARDS) > WILDCARDS_KEPT:  # while: the bound is a setting
                _WILDCARDS.popitem(last=False)
        return query

    def _regex(self, f: Field, pattern: str, what: str) -> tantivy.Query:
        try:
            return _Q.regex_query(self.schema, f.name, pattern)
        except ValueError as exc:  # e.g. its automaton exceeds tantivy's size limit
            raise QueryError(f"{what} is too complex: {tantivy_reason(exc)}") from None

    def _and(self, children: tuple[ir.Node, ...]) -> tantivy.Query:
        # NOT children become MustNot clauses; a pure negation needs a positive clause.
        clauses = [
            (_O.MustNot, self.node(c.child)) if isinstance(c, ir.Not) else (_O.Must, self.node(c))
            for c in children
        ]
        if all(occur == _O.MustNot for occur, _ in clauses):
            clauses.append((_O.Must, _Q.all_query()))
        return _Q.boolean_query(clauses)

    def _term(self, n: ir.Term) -> tantivy.Query:
        value = n.value
        if n.field.type is FieldType.IP:
            value = str(value)
        return _Q.term_query(self.schema, n.field.name, value)

    def _range(self, n: ir.Range) -> tantivy.Query:
        return _Q.range_query(
            self.schema,
            n.field.name,
            _range_type(n.field),
            _range_value(n.field, n.low),
            _range_value(n.field, n.high),
            include_lower=n.include_low,
            include_upper=n.include_high,
        )

    def _text(self, n: ir.TextMatch) -> tantivy.Query:
        words = _text_analyzer().analyze(n.text)
        if not words:
            return _Q.empty_query()
        if n.phrase and len(words) > 1:
            return _Q.phrase_query(self.schema, n.field.name, list(words))
        terms = [(_O.Must, _Q.term_query(self.schema, n.field.name, w)) for w in words]
        return _Q.boolean_query(terms)


def _range_value(f: Field, value: ir.RangeValue | None) -> int | float | str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return to_micros(value)  # dates are stored as µs, see module doc
    if isinstance(value, (int, float)):
        return value
    return str(value)  # ip address


_RANGE_TYPES = {
    FieldType.LONG: tantivy.FieldType.Integer,
    FieldType.DATE: tantivy.FieldType.Integer,  # stored as µs, see module doc
    FieldType.FLOAT: tantivy.FieldType.Float,
    FieldType.IP: tantivy.FieldType.IpAddr,
}


def _range_type(f: Field) -> tantivy.FieldType:
    if f.type not in _RANGE_TYPES:
        raise QueryError(f"ranges are not supported on {f.type.value} field '{f.name}'")
    return _RANGE_TYPES[f.type]
