"""Bounds on what one query may cost: size, nesting, terms, and the expensive term kinds.

Fuzzy, wildcard and regex terms become automata that tantivy builds per field (a bare term
expands over every keyword field); their cost grows with term length and wildcard count, so
each is bounded here, before anything is built. Checks run in three cheap steps:

1. ``check_text``: length, and nesting depth from a token scan (before luqum parses, since
   deep nesting makes the recursive walks after parsing overflow the stack);
2. ``check_tree``: number of terms and a depth backstop on the parsed luqum tree (iterative);
3. the resolver in ``parse`` checks each fuzzy / wildcard / regex term and counts the clauses
   they expand to (``count_pattern_clause``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from luqum import tree as lt

from pcaptotal.query.errors import QueryError, excerpt

if TYPE_CHECKING:
    from pcaptotal.settings import Settings

MAX_FUZZY_DISTANCE = 2  # Lucene's and Elasticsearch's bound too


@dataclass(frozen=True, slots=True)
class QueryLimits:
    max_length: int = 8192
    """characters of query text"""
    max_depth: int = 20
    """nested parentheses and NOT / - / + prefixes. Elasticsearch refuses bool queries nested
    deeper than ``indices.query.bool.max_nested_depth`` (20 in 7.x, 30 in 8.x): within this
    bound both index backends run the same queries"""
    max_terms: int = 1024
    """terms as written (Elasticsearch's default ``max_clause_count``)"""
    max_pattern_clauses: int = 256
    """fuzzy/wildcard/regex clauses after a bare term is expanded over every keyword field"""
    max_pattern_length: int = 256
    """characters of one wildcard or regex term"""
    max_wildcards: int = 8
    """``*`` and ``?`` in one wildcard term"""
    max_fuzzy_length: int = 64
    """characters of one fuzzy term (its automaton grows with the length)"""


DEFAULT_LIMITS = QueryLimits()


def limits_from(settings: Settings) -> QueryLimits:
    return QueryLimits(
        max_length=settings.query_max_length,
        max_depth=settings.query_max_depth,
        max_terms=settings.query_max_terms,
        max_pattern_clauses=settings.query_max_pattern_clauses,
        max_pattern_length=settings.query_max_pattern_length,
        max_wildcards=settings.query_max_wildcards,
        max_fuzzy_length=settings.query_max_fuzzy_length,
    )


# -- 1. the text, before parsing -----------------------------------------------------------------

# Phrases and regexes are opaque (parentheses inside them do not nest); escapes are skipped.
_TOKENS = re.compile(
    r'"(?:\\.|[^"\\])*"?'  # phrase (possibly unterminated: luqum reports that)
    r"|(?<![^\s(:!+-])/(?:\\.|[^/\\])*/?"  # regex: a slash starting a term
    r"|\\."  # escaped character
    r"|[()]"
    r'|[^\s()"\\:]+:?|:'  # a word (a field name ends at its colon), operator or other
    r"|\s+"
)
_UNARY = frozenset({"NOT", "!", "-", "+"})


def nesting_depth(text: str) -> int:
    """Greatest nesting of parentheses and prefix operators (``NOT``, ``!``, ``-``, ``+``)."""
    stack: list[int] = []
    base = 0  # depth of the current group
    prefixes = 0  # prefix operators since the last term in this group
    deepest = 0
    for m in _TOKENS.finditer(text):
        tok = m.group()
        if tok.isspace():
            continue
        if tok == "(":
            stack.append(base)
            base += prefixes + 1
            prefixes = 0
            deepest = max(deepest, base)
        elif tok == ")":
            base = stack.pop() if stack else 0
            prefixes = 0
        elif tok in _UNARY:
            prefixes += 1
            deepest = max(deepest, base + prefixes)
        else:
            prefixes += len(tok) - len(tok.lstrip("-+!"))  # ``-a``, ``!a``, ``--a``
            deepest = max(deepest, base + prefixes)
            if not tok.endswith(":"):  # ``-field:(...)``: the prefix applies to the group
                prefixes = 0
    return deepest


def check_text(text: str, limits: QueryLimits) -> None:
    if len(text) > limits.max_length:
        raise QueryError(f"query is too long ({len(text)} characters, at most {limits.max_length})")
    depth = nesting_depth(text)
    if depth > limits.max_depth:
        raise QueryError(_too_deep(limits))


def _too_deep(limits: QueryLimits) -> str:
    return (
        f"query is nested too deeply (more than {limits.max_depth} levels of parentheses and NOT)"
    )


# -- 2. the parsed tree --------------------------------------------------------------------------

_LEAVES = (lt.Word, lt.Phrase, lt.Regex, lt.Fuzzy, lt.Proximity, lt.Range, lt.From, lt.To)
# luqum nests a few nodes per level the user sees (field, group, boost, NOT): a backstop only.
_TREE_LEVELS_PER_DEPTH = 4


def check_tree(tree: Any, limits: QueryLimits) -> None:
    """Count the terms and bound the depth of a luqum tree, without recursion."""
    terms = 0
    max_tree_depth = limits.max_depth * _TREE_LEVELS_PER_DEPTH + 8
    stack: list[tuple[Any, int]] = [(tree, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_tree_depth:
            raise QueryError(_too_deep(limits))
        if isinstance(item, _LEAVES):
            terms += 1
            if terms > limits.max_terms:
                raise QueryError(f"query has too many terms (more than {limits.max_terms})")
            continue
        stack.extend((child, depth + 1) for child in getattr(item, "children", ()))


# -- 3. one expensive term -----------------------------------------------------------------------


def check_fuzzy(value: str, limits: QueryLimits, pos: int | None) -> None:
    if len(value) > limits.max_fuzzy_length:
        raise QueryError(
            f"fuzzy term '{excerpt(value, 20)}' is too long "
            f"({len(value)} characters, at most {limits.max_fuzzy_length})",
            pos,
        )


def check_wildcard(raw: str, wildcards: int, limits: QueryLimits, pos: int | None) -> None:
    if len(raw) > limits.max_pattern_length:
        raise QueryError(
            f"wildcard term '{excerpt(raw, 20)}' is too long "
            f"({len(raw)} characters, at most {limits.max_pattern_length})",
            pos,
        )
    if wildcards > limits.max_wildcards:
        raise QueryError(
            f"wildcard term '{excerpt(raw, 20)}' has too many wildcards "
            f"({wildcards} * and ?, at most {limits.max_wildcards})",
            pos,
        )


def check_regex(pattern: str, limits: QueryLimits, pos: int | None) -> None:
    if len(pattern) > limits.max_pattern_length:
        raise QueryError(
            f"regular expression /{excerpt(pattern, 20)}/ is too long "
            f"({len(pattern)} characters, at most {limits.max_pattern_length})",
            pos,
        )


def pattern_clauses_error(limits: QueryLimits) -> QueryError:
    return QueryError(
        "query has too many fuzzy, wildcard and regex clauses (more than "
        f"{limits.max_pattern_clauses}; a term without a field counts once per keyword field): "
        "give such terms a field"
    )
