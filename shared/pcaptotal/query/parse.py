"""Parse Lucene query text with luqum and check it against the flow field schema.

Semantics (Kibana / Elasticsearch ``query_string`` with ``default_operator: AND``):

- ``a b`` means ``a AND b``; ``AND`` binds tighter than ``OR``; ``-x`` / ``NOT x`` exclude,
  ``+x`` is just ``x``.
- A term without a field searches every keyword field (exact value, wildcard, regex or fuzzy),
  plus every ip field when the term is an ip address or CIDR.
- ``field:*`` and ``_exists_:field`` match documents that have the field.
- A date names an interval as wide as its precision: ``event.start:2009-11-18`` is that whole
  day, ``event.start:<=2009-11-18T16`` includes the whole hour.
- Boosts (``^2``) are accepted and ignored (hits are ordered by time, not score); proximity
  (``"a b"~2``) is rejected; fuzzy (``term~1``) works on keyword fields.
- Size, nesting, term count and the cost of fuzzy / wildcard / regex terms are bounded by
  :class:`~pcaptotal.query.limits.QueryLimits` (see ``limits``).
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from ipaddress import IPv4Network, IPv6Network
from typing import Any

from luqum import tree as lt
from luqum.exceptions import ParseError
from luqum.parser import parser as _luqum_parser

from pcaptotal.fields import FLOW_FIELDS, FLOW_FIELDS_BY_NAME, Field, FieldType
from pcaptotal.query import ir
from pcaptotal.query.errors import QueryError, excerpt
from pcaptotal.query.limits import (
    DEFAULT_LIMITS,
    MAX_FUZZY_DISTANCE,
    QueryLimits,
    check_fuzzy,
    check_regex,
    check_text,
    check_tree,
    check_wildcard,
    pattern_clauses_error,
)
from pcaptotal.query.tantivy_regex import regex_problem
from pcaptotal.query.values import (
    parse_bool,
    parse_date,
    parse_float,
    parse_ip,
    parse_ip_or_cidr,
    parse_long,
    unescape,
    wildcard_parts,
)

EXISTS_FIELD = "_exists_"
_NUMERIC = (FieldType.LONG, FieldType.FLOAT)
# luqum's ply parser keeps module-level state: one parse at a time.
_PARSE_LOCK = threading.Lock()


@dataclass(frozen=True)
class ValidatedQuery:
    """A query that parsed and matched the schema. ``tree`` is None when it matches everything.

    ``ir`` is the backend-neutral form every index adapter compiles from.
    """

    text: str
    tree: Any = field(default=None, compare=False)  # luqum.tree.Item (untyped library)
    limits: QueryLimits = field(default=DEFAULT_LIMITS, compare=False, repr=False)

    @cached_property
    def ir(self) -> ir.Node:
        if self.tree is None:
            return ir.MatchAll()
        return _Resolver(self.limits).node(self.tree, None)


def parse_query(text: str, limits: QueryLimits = DEFAULT_LIMITS) -> ValidatedQuery:
    """Parse and validate; raises only :class:`QueryError`.

    CPU-bound (milliseconds for typical queries, up to a fraction of a second at the limits):
    async callers run it in a thread, see ``pcaptotal.query.guard``.
    """
    if not isinstance(text, str):
        raise QueryError(f"query must be a string, got {type(text).__name__}")
    check_text(text, limits)  # before luqum: length and nesting
    if not text.strip() or text.strip() == "*":
        return ValidatedQuery(text, None, limits)
    try:
        with _PARSE_LOCK:
            tree = _luqum_parser.parse(text)
        check_tree(tree, limits)
        query = ValidatedQuery(text, tree, limits)
        _ = query.ir  # validate now so errors surface at parse time
    except QueryError:
        raise
    except ParseError as exc:
        msg = _luqum_message(exc)
        if "':'" in msg:
            msg += "; quote values that contain ':' (IPv6 addresses, times with an offset)"
        raise QueryError(f"syntax error: {msg}") from None
    except RecursionError:
        raise QueryError("query is nested too deeply") from None
    except Exception as exc:  # luqum/ply can raise odd things on junk input
        raise QueryError(f"cannot parse query: {exc}") from None
    return query


def _luqum_message(exc: Exception) -> str:
    msg = str(exc)
    for prefix in ("Syntax error in input : ", "Syntax error in input: "):
        msg = msg.removeprefix(prefix)
    return msg.rstrip("!")


def _unknown_field(name: str, pos: int | None) -> QueryError:
    names = [f.name for f in FLOW_FIELDS]
    close = difflib.get_close_matches(name[:100], [*names, EXISTS_FIELD], n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return QueryError(f"unknown field '{excerpt(name)}'{hint}", pos)


def _bad_value(value: str, f: Field, pos: int | None, why: str = "") -> QueryError:
    return QueryError(f"bad value '{excerpt(value)}' for {f.type.value} field '{f.name}'{why}", pos)


_IPV6_HINT = ': quote IPv6 addresses, e.g. source.ip:"2001:db8::1"'


class _Resolver:
    """Walks a luqum tree; ``f`` is the field in scope (None = all default fields).

    Recursive: ``limits.check_tree`` bounded the tree's depth before this runs.
    """

    def __init__(self, limits: QueryLimits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.pattern_clauses = 0

    def _count_pattern(self) -> None:
        self.pattern_clauses += 1
        if self.pattern_clauses > self.limits.max_pattern_clauses:
            raise pattern_clauses_error(self.limits)

    def node(self, item: Any, f: Field | None) -> ir.Node:
        pos: int | None = getattr(item, "pos", None)
        if isinstance(item, lt.SearchField):
            return self._search_field(item, f, pos)
        if isinstance(item, (lt.AndOperation, lt.UnknownOperation)):
            return ir.And(tuple(self.node(c, f) for c in item.children))
        if isinstance(item, lt.OrOperation):
            return ir.Or(tuple(self.node(c, f) for c in item.children))
        if isinstance(item, (lt.Not, lt.Prohibit)):
            negative_number = isinstance(item, lt.Prohibit) and isinstance(item.a, lt.Word)
            if f is not None and f.type in _NUMERIC and negative_number:
                return self._value(f, "-" + item.a.value, pos, quoted=False)  # ``port:-1``
            return ir.Not(self.node(item.a, f))
        if isinstance(item, lt.Plus):
            return self.node(item.a, f)
        if isinstance(item, (lt.Group, lt.FieldGroup)):
            return self.node(item.expr, f)
        if isinstance(item, lt.Boost):
            return self.node(item.expr, f)  # scoring is irrelevant: hits are time-ordered
        if isinstance(item, lt.Proximity):
            raise QueryError('proximity searches ("..."~N) are not supported', pos)
        if isinstance(item, (lt.Range, lt.From, lt.To)):
            if f is None:
                raise QueryError("a range needs a field, e.g. destination.port:[1 TO 1023]", pos)
            return self._range(item, f, pos)
        if isinstance(item, lt.Fuzzy):
            value, degree = self._fuzzy_term(item, f, pos)
            return self._per_field(f, lambda g: self._fuzzy(value, degree, g, pos))
        if isinstance(item, lt.Regex):
            pattern = item.value[1:-1]
            self._check_regex(pattern, pos)
            return self._per_field(f, lambda g: self._regex(pattern, g, pos))
        if isinstance(item, lt.Phrase):
            text = unescape(item.value[1:-1])
            return self._leaf(f, text, pos, quoted=True)
        if isinstance(item, lt.Word):
            return self._word(item.value, f, pos)
        raise QueryError(f"unsupported query syntax {type(item).__name__}", pos)

    # -- fields ---------------------------------------------------------------------------------

    def _search_field(self, item: Any, outer: Field | None, pos: int | None) -> ir.Node:
        name: str = unescape(item.name)
        if outer is not None:
            hint = _IPV6_HINT if outer.type is FieldType.IP else ""
            raise QueryError(f"field '{name}' inside field '{outer.name}'{hint}", pos)
        if name == EXISTS_FIELD:
            return self._exists(item.expr, pos)
        f = FLOW_FIELDS_BY_NAME.get(name)
        if f is None:
            raise _unknown_field(name, pos)
        if f.type is FieldType.IP and isinstance(item.expr, lt.SearchField):
            raise QueryError(f"bad value for ip field '{name}'{_IPV6_HINT}", pos)
        return self.node(item.expr, f)

    def _exists(self, expr: Any, pos: int | None) -> ir.Node:
        if isinstance(expr, (lt.Word, lt.Phrase)):
            raw = expr.value[1:-1] if isinstance(expr, lt.Phrase) else expr.value
            name = unescape(raw)
            f = FLOW_FIELDS_BY_NAME.get(name)
            if f is None:
                raise _unknown_field(name, pos)
            return ir.Exists(f)
        raise QueryError("_exists_ takes one field name, e.g. _exists_:dns.question.name", pos)

    def _per_field(self, f: Field | None, make: Callable[[Field], ir.Node]) -> ir.Node:
        """Apply ``make`` to the field in scope, or OR it over every keyword field."""
        if f is not None:
            return make(f)
        return ir.Or(tuple(make(g) for g in _DEFAULT_FIELDS))

    # -- values ---------------------------------------------------------------------------------

    def _word(self, raw: str, f: Field | None, pos: int | None) -> ir.Node:
        if f is None and (raw in ("&&", "||") or (raw.startswith("!") and len(raw) > 1)):
            raise QueryError(f"'{raw[:2]}' is not an operator here: use AND, OR, NOT", pos)
        if raw == "*":
            return ir.MatchAll() if f is None else ir.Exists(f)
        parts = wildcard_parts(raw)
        if parts is not None:
            if all(kind == "*" for kind, _ in parts):  # ``**``
                return ir.MatchAll() if f is None else ir.Exists(f)
            wildcards = sum(1 for kind, _ in parts if kind != "lit")
            check_wildcard(raw, wildcards, self.limits, pos)
            return self._per_field(f, lambda g: self._wildcard(g, parts, pos))
        return self._leaf(f, unescape(raw), pos, quoted=False)

    def _wildcard(self, f: Field, parts: tuple[tuple[str, str], ...], pos: int | None) -> ir.Node:
        if f.type is FieldType.KEYWORD:
            self._count_pattern()
            return ir.Wildcard(f, parts)
        if f.type is FieldType.TEXT:
            self._count_pattern()
            lowered = tuple((k, t.lower()) for k, t in parts)
            return ir.Wildcard(f, lowered)
        why = "; use CIDR, e.g. 10.0.0.0/8" if f.type is FieldType.IP else ""
        raise QueryError(
            f"wildcards work on keyword fields only, not {f.type.value} field '{f.name}'{why}", pos
        )

    def _leaf(self, f: Field | None, text: str, pos: int | None, *, quoted: bool) -> ir.Node:
        if f is not None:
            return self._value(f, text, pos, quoted=quoted)
        options: list[ir.Node] = [ir.Term(g, text) for g in _DEFAULT_FIELDS]
        try:
            parse_ip_or_cidr(text)
        except ValueError:
            pass
        else:
            options += [self._value(g, text, pos, quoted=quoted) for g in _IP_FIELDS]
        return ir.Or(tuple(options))

    def _value(self, f: Field, text: str, pos: int | None, *, quoted: bool) -> ir.Node:
        t = f.type
        try:
            if t is FieldType.KEYWORD:
                return ir.Term(f, text)
            if t is FieldType.TEXT:
                return ir.TextMatch(f, text, phrase=quoted)
            if t is FieldType.IP:
                value = parse_ip_or_cidr(text)
                if isinstance(value, (IPv4Network, IPv6Network)):
                    return ir.Range(f, value[0], value[-1])
                return ir.Term(f, value)
            if t is FieldType.LONG:
                return ir.Term(f, parse_long(text))
            if t is FieldType.FLOAT:
                return ir.Term(f, parse_float(text))
            if t is FieldType.BOOL:
                return ir.Term(f, parse_bool(text))
            if t is FieldType.DATE:
                first, last = parse_date(text)
                return ir.Range(f, first, last)
        except (ValueError, OverflowError):
            raise _bad_value(text, f, pos, _expected(t)) from None
        raise QueryError(f"field '{f.name}' has unsupported type {t.value}", pos)

    def _bound(self, item: Any, f: Field, pos: int | None) -> tuple[Any, Any] | None:
        """A range bound as (first, last) of the value it names; None for ``*``."""
        if isinstance(item, lt.Prohibit) and isinstance(item.a, lt.Word):
            text = "-" + unescape(item.a.value)  # luqum reads ``-5`` as NOT 5
        elif isinstance(item, lt.Phrase):
            text = unescape(item.value[1:-1])
        elif isinstance(item, lt.Word):
            if item.value == "*":
                return None
            text = unescape(item.value)
        else:
            raise QueryError(f"bad range bound '{excerpt(str(item))}' for field '{f.name}'", pos)
        try:
            if f.type is FieldType.LONG:
                v: Any = parse_long(text)
                return v, v
            if f.type is FieldType.FLOAT:
                v = parse_float(text)
                return v, v
            if f.type is FieldType.IP:
                v = parse_ip(text)
                return v, v
            if f.type is FieldType.DATE:
                return parse_date(text)
        except (ValueError, OverflowError):
            raise _bad_value(text, f, pos, _expected(f.type)) from None
        raise QueryError(f"ranges are not supported on {f.type.value} field '{f.name}'", pos)

    def _range(self, item: Any, f: Field, pos: int | None) -> ir.Node:
        if isinstance(item, lt.Range):
            low, high = self._bound(item.low, f, pos), self._bound(item.high, f, pos)
            inc_low, inc_high = bool(item.include_low), bool(item.include_high)
        elif isinstance(item, lt.From):
            low, high, inc_low, inc_high = (
                self._bound(item.a, f, pos),
                None,
                bool(item.include),
                True,
            )
        else:
            low, high, inc_low, inc_high = (
                None,
                self._bound(item.a, f, pos),
                True,
                bool(item.include),
            )
        if low is None and high is None:
            return ir.Exists(f)
        # ``>x`` is past everything x names; ``>=x`` starts at its first instant (ES rounding).
        lo = None if low is None else (low[0] if inc_low else low[1])
        hi = None if high is None else (high[1] if inc_high else high[0])
        return ir.Range(f, lo, hi, inc_low, inc_high)

    def _fuzzy_term(self, item: Any, f: Field | None, pos: int | None) -> tuple[str, int]:
        """The term and edit distance of ``term~N``, checked once for every field."""
        if not isinstance(item.term, lt.Word):
            where = f"on '{f.name}'" if f is not None else "on phrases"
            raise QueryError(f"fuzzy search (~) works on keyword terms only, not {where}", pos)
        degree = MAX_FUZZY_DISTANCE if item._implicit_degree else item.degree
        if degree not in range(MAX_FUZZY_DISTANCE + 1):
            raise QueryError(f"fuzzy edit distance must be 0, 1 or 2, got {degree}", pos)
        value = unescape(item.term.value)
        check_fuzzy(value, self.limits, pos)
        return value, int(degree)

    def _fuzzy(self, value: str, degree: int, f: Field, pos: int | None) -> ir.Node:
        if f.type is not FieldType.KEYWORD:
            raise QueryError(
                f"fuzzy search (~) works on keyword terms only, not on '{f.name}'", pos
            )
        self._count_pattern()
        return ir.Fuzzy(f, value, degree)

    def _check_regex(self, pattern: str, pos: int | None) -> None:
        check_regex(pattern, self.limits, pos)
        problem = regex_problem(pattern)  # the embedded engine runs them
        if problem:
            raise QueryError(f"bad regular expression /{excerpt(pattern)}/: {problem}", pos)

    def _regex(self, pattern: str, f: Field, pos: int | None) -> ir.Node:
        if f.type is not FieldType.KEYWORD:
            raise QueryError(
                f"regular expressions work on keyword fields only, not '{f.name}'", pos
            )
        self._count_pattern()
        return ir.Regexp(f, pattern)


def _expected(t: FieldType) -> str:
    return {
        FieldType.IP: " (expected an IPv4/IPv6 address or CIDR such as 10.0.0.0/8)",
        FieldType.LONG: " (expected an integer)",
        FieldType.FLOAT: " (expected a number)",
        FieldType.BOOL: " (expected true or false)",
        FieldType.DATE: " (expected ISO-8601 like 2009-11-18T16:43:00Z, epoch millis or now-1d)",
    }.get(t, "")


_DEFAULT_FIELDS: tuple[Field, ...] = tuple(
    f for f in FLOW_FIELDS if f.type is FieldType.KEYWORD and f.bare
)
_IP_FIELDS: tuple[Field, ...] = tuple(f for f in FLOW_FIELDS if f.type is FieldType.IP)
