"""Compile the query IR to Elasticsearch / OpenSearch query DSL for ``adapters.es_mapping``.

Everything runs in filter context (hits are ordered by time, never by score). The aim is the
tantivy compiler's hit set, exactly:

- dates: ``date_nanos`` fields get bounds as ISO strings with microseconds (tantivy keeps µs),
  clamped to what ``date_nanos`` can hold; ``date`` fields (millisecond doc values) get bounds
  rounded to the millisecond so that ``t >= 0.0005`` still excludes ``t = 0.000``;
- regexes were validated against tantivy's Rust syntax; they are translated to Lucene's
  syntax here (see ``lucene_regex``) so that ``.``, escapes and anchors mean the same;
- fuzzy: Damerau-Levenshtein (transpositions cost 1), no common prefix, as tantivy's.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from typing import Any

from pcaptotal.fields import Field, FieldType
from pcaptotal.query import ir
from pcaptotal.query.errors import QueryError, excerpt
from pcaptotal.query.parse import ValidatedQuery

# Storage conventions shared with ``adapters.es_mapping`` (both sides import them from here).
NANOS_DATE_FIELDS = frozenset({"@timestamp", "event.start", "event.end"})
# date_nanos holds 1970-01-01 .. 2262-04-11T23:47:16.854775807Z
NANOS_MIN = datetime(1970, 1, 1, tzinfo=UTC)
NANOS_MAX = datetime(2262, 4, 11, 23, 47, 16, 854775, tzinfo=UTC)

Query = dict[str, Any]
MATCH_ALL: Query = {"match_all": {}}
MATCH_NONE: Query = {"match_none": {}}
# Lucene expands a fuzzy term to at most this many index terms (tantivy has no such cap).
FUZZY_MAX_EXPANSIONS = 1024
_MS = timedelta(milliseconds=1)


def is_nanos(f: Field) -> bool:
    """Is this date field stored as ``date_nanos`` (else ``date``, in milliseconds)?"""
    return f.type is FieldType.DATE and f.name in NANOS_DATE_FIELDS


def compile_query(query: ValidatedQuery | ir.Node) -> Query:
    """The ``query`` part of a search body; raises :class:`QueryError` for what ES cannot run."""
    node = query.ir if isinstance(query, ValidatedQuery) else query
    try:
        return _node(node)
    except RecursionError:  # ``limits`` bounds depth; this guards an IR built elsewhere
        raise QueryError("query is nested too deeply") from None


def _node(n: ir.Node) -> Query:
    if isinstance(n, ir.MatchAll):
        return MATCH_ALL
    if isinstance(n, ir.MatchNone):
        return MATCH_NONE
    if isinstance(n, (ir.And, ir.Not)):
        return _and(n.children if isinstance(n, ir.And) else (n,))
    if isinstance(n, ir.Or):
        return {"bool": {"should": [_node(c) for c in n.children], "minimum_should_match": 1}}
    if isinstance(n, ir.Term):
        return _term(n)
    if isinstance(n, ir.Range):
        return _range(n.field, n.low, n.high, n.include_low, n.include_high)
    if isinstance(n, ir.Wildcard):
        return {"wildcard": {n.field.name: {"value": n.to_lucene()}}}
    if isinstance(n, ir.Regexp):
        return {"regexp": {n.field.name: {"value": lucene_regex(n.pattern)}}}
    if isinstance(n, ir.Fuzzy):
        return _fuzzy(n)
    if isinstance(n, ir.Exists):
        return {"exists": {"field": n.field.name}}
    if isinstance(n, ir.TextMatch):
        if n.phrase:
            return {"match_phrase": {n.field.name: {"query": n.text}}}
        return {"match": {n.field.name: {"query": n.text, "operator": "and"}}}
    raise QueryError(f"unsupported query node {type(n).__name__}")


def _and(children: tuple[ir.Node, ...]) -> Query:
    # NOT children become must_not; a pure negation needs a positive clause (match_all).
    positive = [_node(c) for c in children if not isinstance(c, ir.Not)]
    negative = [_node(c.child) for c in children if isinstance(c, ir.Not)]
    body: dict[str, Any] = {"filter": positive or [MATCH_ALL]}
    if negative:
        body["must_not"] = negative
    return {"bool": body}


def _term(n: ir.Term) -> Query:
    f, value = n.field, n.value
    if f.type is FieldType.DATE and isinstance(value, datetime):
        return _range(f, value, value, True, True)
    if f.type is FieldType.IP or not isinstance(value, (str, int, float, bool)):
        value = str(value)
    return {"term": {f.name: {"value": value}}}


def _fuzzy(n: ir.Fuzzy) -> Query:
    if n.distance == 0:
        return {"term": {n.field.name: {"value": n.value}}}
    return {
        "fuzzy": {
            n.field.name: {
                "value": n.value,
                "fuzziness": n.distance,
                "transpositions": True,
                "prefix_length": 0,
                "max_expansions": FUZZY_MAX_EXPANSIONS,
            }
        }
    }


# -- ranges --------------------------------------------------------------------------------------


def _range(
    f: Field,
    low: ir.RangeValue | None,
    high: ir.RangeValue | None,
    include_low: bool,
    include_high: bool,
) -> Query:
    if f.type not in (FieldType.LONG, FieldType.FLOAT, FieldType.DATE, FieldType.IP):
        raise QueryError(f"ranges are not supported on {f.type.value} field '{f.name}'")
    if f.type is FieldType.DATE:
        return _date_range(f, low, high, include_low, include_high)
    return _range_query(f, _bound(low, _plain), include_low, _bound(high, _plain), include_high)


def _bound(value: Any, fmt: Any) -> Any:
    return None if value is None else fmt(value)


def _range_query(f: Field, low: Any, include_low: bool, high: Any, include_high: bool) -> Query:
    """An ES range over already formatted bounds; no bound at all means the field exists."""
    bounds: dict[str, Any] = {}
    if low is not None:
        bounds["gte" if include_low else "gt"] = low
    if high is not None:
        bounds["lte" if include_high else "lt"] = high
    if not bounds:
        return {"exists": {"field": f.name}}
    return {"range": {f.name: bounds}}


def _plain(value: ir.RangeValue) -> int | float | str:
    if isinstance(value, (int, float)):
        return value
    return str(value)  # ip address (a datetime on a non-date field is a compiler misuse)


def _utc(value: ir.RangeValue) -> datetime:
    if not isinstance(value, datetime):
        raise QueryError(f"bad date bound {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _date_range(
    f: Field,
    low: ir.RangeValue | None,
    high: ir.RangeValue | None,
    include_low: bool,
    include_high: bool,
) -> Query:
    lo = None if low is None else _utc(low)
    hi = None if high is None else _utc(high)
    if is_nanos(f):
        # date_nanos refuses bounds outside what it can store: clamp, or nothing can match.
        if (lo is not None and lo > NANOS_MAX) or (hi is not None and hi < NANOS_MIN):
            return MATCH_NONE
        if lo is not None and lo < NANOS_MIN:
            lo, include_low = None, True
        if hi is not None and hi > NANOS_MAX:
            hi, include_high = None, True
        fmt = _iso_micros
    else:
        # Stored values are whole milliseconds: turn µs bounds into equivalent ms bounds.
        if lo is not None:
            lo, include_low = (_floor_ms(lo), False) if not include_low else (_ceil_ms(lo), True)
        if hi is not None:
            hi, include_high = (_floor_ms(hi), True) if include_high else (_ceil_ms(hi), False)
        fmt = _iso_millis
    return _range_query(f, _bound(lo, fmt), include_low, _bound(hi, fmt), include_high)


def _floor_ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _ceil_ms(value: datetime) -> datetime:
    floor = _floor_ms(value)
    return floor if floor == value else floor + _MS


def _iso_seconds(v: datetime) -> str:
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"


def _iso_micros(value: datetime) -> str:
    return f"{_iso_seconds(value)}.{value.microsecond:06d}Z"


def _iso_millis(value: datetime) -> str:
    return f"{_iso_seconds(value)}.{value.microsecond // 1000:03d}Z"


# -- regular expressions -------------------------------------------------------------------------

# The parser checked the pattern with tantivy (Rust regex syntax). Python's ``re`` parser reads
# the common subset the same way; Lucene's syntax differs (``.`` also matches a newline, ``#``
# ``@`` ``&`` ``~`` ``<>`` are operators, no ``\d``/``^``/``$``), so the tree is re-emitted with
# every literal escaped. Rust-only syntax Python would misread is refused.
_sre: Any = importlib.import_module("re._parser")
_RUST_ONLY = ("[:", "&&", "--", "~~", "\\p", "\\P", "\\x{", "\\u{", "\\U{")
_UNICODE, _DOTALL = 32, 16
_CLASSES = {
    "CATEGORY_DIGIT": "0-9",
    "CATEGORY_WORD": "a-zA-Z0-9_",
    "CATEGORY_SPACE": " \\\t\\\n\\\r\\\f\\\v",
}
_NEGATED = {"CATEGORY_NOT_DIGIT": "0-9", "CATEGORY_NOT_WORD": "a-zA-Z0-9_"}
_NEGATED["CATEGORY_NOT_SPACE"] = _CLASSES["CATEGORY_SPACE"]


def lucene_regex(pattern: str) -> str:
    """A Rust-syntax regex (anchored, as tantivy runs it) in Lucene ``regexp`` syntax."""
    if any(token in pattern for token in _RUST_ONLY):
        raise _unsupported(pattern, "this syntax")
    try:
        tree = _sre.parse(pattern)
    except Exception as exc:  # re.error, and anything odd from a private module
        raise _unsupported(pattern, str(exc)) from None
    flags = int(tree.state.flags) & ~_UNICODE
    if flags & ~_DOTALL:
        raise _unsupported(pattern, "inline flags other than (?s)")
    items = list(tree)
    # tantivy matches whole terms: ``^`` first and ``$`` last are no-ops there.
    if (
        items
        and str(items[0][0]) == "AT"
        and str(items[0][1]) in ("AT_BEGINNING", "AT_BEGINNING_STRING")
    ):
        items = items[1:]
    if items and str(items[-1][0]) == "AT" and str(items[-1][1]) in ("AT_END", "AT_END_STRING"):
        items = items[:-1]
    return _Emitter(pattern).seq(items, bool(flags & _DOTALL))


def _unsupported(pattern: str, why: str) -> QueryError:
    return QueryError(
        f"regular expression /{excerpt(pattern)}/ is not supported by this index: {why}"
    )


def _lit(code: int) -> str:
    c = chr(code)
    return c if c.isascii() and c.isalnum() else "\\" + c


class _Emitter:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def seq(self, items: Any, dotall: bool) -> str:
        return "".join(self.item(op, av, dotall) for op, av in items)

    def item(self, op: Any, av: Any, dotall: bool) -> str:
        name = str(op)
        if name == "LITERAL":
            return _lit(av)
        if name == "NOT_LITERAL":
            return f"[^{_lit(av)}]"
        if name == "ANY":
            return "." if dotall else "[^\\\n]"  # Rust's ``.`` stops at a newline
        if name == "IN":
            return self.klass(av)
        if name == "BRANCH":
            return "(" + "|".join(self.seq(b, dotall) for b in av[1]) + ")"
        if name == "SUBPATTERN":
            _group, add, remove, sub = av
            if (add | remove) & ~(_DOTALL | _UNICODE):
                raise _unsupported(self.pattern, "inline flags other than (?s)")
            inner = dotall if not (add | remove) & _DOTALL else bool(add & _DOTALL)
            return "(" + self.seq(sub, inner) + ")"
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = av
            return "(" + self.seq(sub, dotall) + ")" + _repeat(low, high)
        if name == "AT":
            raise _unsupported(self.pattern, "anchors or word boundaries inside the pattern")
        raise _unsupported(self.pattern, name.lower().replace("_", " "))

    def klass(self, items: Any) -> str:
        negate = False
        parts: list[str] = []
        for op, av in items:
            name = str(op)
            if name == "NEGATE":
                negate = True
            elif name == "LITERAL":
                parts.append(_lit(av))
            elif name == "RANGE":
                parts.append(f"{_lit(av[0])}-{_lit(av[1])}")
            elif name == "CATEGORY" and str(av) in _CLASSES:
                parts.append(_CLASSES[str(av)])
            elif name == "CATEGORY" and str(av) in _NEGATED and len(items) == 1:
                return f"[^{_NEGATED[str(av)]}]"
            else:
                raise _unsupported(self.pattern, "this character class")
        return ("[^" if negate else "[") + "".join(parts) + "]"


def _repeat(low: int, high: int) -> str:
    unbounded = high == int(_sre.MAXREPEAT)
    if (low, unbounded) == (0, True):
        return "*"
    if (low, unbounded) == (1, True):
        return "+"
    if (low, high) == (0, 1):
        return "?"
    if unbounded:
        return f"{{{low},}}"
    return f"{{{low}}}" if low == high else f"{{{low},{high}}}"
