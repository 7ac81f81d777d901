"""Query cost bounds: every hostile query of issue 7 is a QueryError naming the problem, the
queries at each bound still parse, limits come from Settings, and the guard keeps parsing and
searching off the event loop under time budgets with bounded concurrency."""

from __future__ import annotations

import asyncio
import time

import pytest
from pcaptotal.adapters.tantivy_docs import tantivy_schema
from pcaptotal.fields import FLOW_FIELDS_BY_NAME
from pcaptotal.query import (
    QueryError,
    QueryGuard,
    QueryLimits,
    QueryTimeout,
    es_compiler,
    ir,
    parse_query,
    tantivy_compiler,
)
from pcaptotal.query.limits import limits_from, nesting_depth
from pcaptotal.query.parse import _DEFAULT_FIELDS
from pcaptotal.settings import Settings

LIMITS = QueryLimits()
KEYWORD_FIELDS = len(_DEFAULT_FIELDS)

# The failures observed in issue 7, and what the error must say.
HOSTILE: list[tuple[str, str, str]] = [
    ("fuzzy-5000", "a" * 5000 + "~2", r"fuzzy term .* is too long \(5000 characters, at most 64\)"),
    ("regex-size", "/" + r"\w{1000}" + "/", r"bad regular expression .*size limit"),
    ("regex-long", "/" + "a" * 300 + "/", r"regular expression .* too long \(300 characters"),
    ("not-320", "NOT " * 320 + "a", r"nested too deeply \(more than 20 levels"),
    ("not-950", "NOT " * 950 + "a", r"nested too deeply"),
    ("parens-2000", "(" * 2000 + "a" + ")" * 2000, r"nested too deeply"),
    ("minus-500", "-" * 500 + "a", r"nested too deeply"),
    ("or-11000", " OR ".join(f"t{i}" for i in range(11000)), r"too long \(\d+ characters, at"),
    ("or-1100", " OR ".join("t" for _ in range(1100)), r"too many terms \(more than 1024\)"),
    ("wildcards-9", "a*" * 9, r"too many wildcards \(9 \* and \?, at most 8\)"),
    ("wildcard-long", "*" + "a" * 300, r"wildcard term .* too long \(301 characters"),
    ("bare-patterns", "*a* *b* *c* *d*", r"too many fuzzy, wildcard and regex clauses"),
]


@pytest.mark.parametrize(("text", "message"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_queries_are_query_errors(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=message) as info:
        parse_query(text)
    # quotes at most a short prefix of the input
    assert len(str(info.value)) < 200
    if len(text) > 60:
        assert text[:60] not in str(info.value)


def test_hostile_queries_fail_fast() -> None:
    for name, text, _ in HOSTILE:
        start = time.monotonic()
        with pytest.raises(QueryError):
            parse_query(text)
        assert time.monotonic() - start < 1.0, name


# -- each bound is inclusive ---------------------------------------------------------------------

AT_THE_LIMIT = [
    ("length", '"' + "a" * (LIMITS.max_length - 2) + '"'),
    ("depth-not", "NOT " * LIMITS.max_depth + "a"),
    ("depth-parens", "(" * LIMITS.max_depth + "a" + ")" * LIMITS.max_depth),
    ("depth-mixed", "NOT (" * (LIMITS.max_depth // 2) + "a" + ")" * (LIMITS.max_depth // 2)),
    ("terms", " OR ".join("t" for _ in range(LIMITS.max_terms))),
    ("fuzzy", "a" * LIMITS.max_fuzzy_length + "~2"),
    ("wildcards", "a*" * LIMITS.max_wildcards),
    ("wildcard-length", "dns.question.name:*" + "a" * (LIMITS.max_pattern_length - 1)),
    ("regex-length", "dns.question.name:/" + "a" * LIMITS.max_pattern_length + "/"),
    ("fielded-patterns", " OR ".join(["url.domain:a*"] * LIMITS.max_pattern_clauses)),
    (
        "bare-patterns",
        " ".join(f"*{c}*" for c in "abc"[: LIMITS.max_pattern_clauses // KEYWORD_FIELDS]),
    ),
]


@pytest.mark.parametrize("text", [t for _, t in AT_THE_LIMIT], ids=[n for n, _ in AT_THE_LIMIT])
def test_queries_at_each_bound_parse_and_compile(text: str) -> None:
    query = parse_query(text)
    assert tantivy_compiler.compile_query(query, tantivy_schema()) is not None
    assert es_compiler.compile_query(query)


def test_one_past_each_bound_fails() -> None:
    over = [
        '"' + "a" * (LIMITS.max_length - 1) + '"',
        "NOT " * (LIMITS.max_depth + 1) + "a",
        "(" * (LIMITS.max_depth + 1) + "a" + ")" * (LIMITS.max_depth + 1),
        " OR ".join("t" for _ in range(LIMITS.max_terms + 1)),
        "a" * (LIMITS.max_fuzzy_length + 1) + "~2",
        "a*" * (LIMITS.max_wildcards + 1),
        "dns.question.name:*" + "a" * LIMITS.max_pattern_length,
        "dns.question.name:/" + "a" * (LIMITS.max_pattern_length + 1) + "/",
        " OR ".join(["url.domain:a*"] * (LIMITS.max_pattern_clauses + 1)),
    ]
    for text in over:
        with pytest.raises(QueryError):
            parse_query(text)


def test_a_range_is_one_term() -> None:
    text = " OR ".join(["destination.port:[1 TO 2]"] * LIMITS.max_terms)
    assert len(text) > LIMITS.max_length  # so raise the length bound for this one
    parse_query(text, QueryLimits(max_length=len(text)))


# -- the depth scan ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("a b c", 0),
        ("NOT a", 1),
        ("-a", 1),
        ("!a", 1),
        ("--a", 2),
        ("NOT NOT a AND NOT b", 2),
        ("(a) (b) (c)", 1),
        ("((a))", 2),
        ("NOT (NOT (a))", 4),
        ("-field:(-a OR b)", 3),
        ('"((((((((" a', 0),  # parentheses in a phrase do not nest
        ("dns.question.name:/((((a))))/", 0),  # nor in a regex
        (r"\(\(\(a", 0),  # nor escaped ones
        ("10.0.0.0/8 (a)", 1),  # a slash inside a word does not start a regex
        (")))(a", 1),  # unbalanced: luqum reports the syntax error
    ],
)
def test_nesting_depth(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth


def test_depth_limit_is_checked_before_luqum_parses() -> None:
    # 100k characters of parentheses would otherwise reach luqum (and the recursive walks);
    # the length bound is raised so that the depth scan is what refuses it
    text = "(" * 50_000 + "a" + ")" * 50_000
    start = time.monotonic()
    with pytest.raises(QueryError, match="nested too deeply"):
        parse_query(text, QueryLimits(max_length=len(text)))
    assert time.monotonic() - start < 1.0


# -- configurable --------------------------------------------------------------------------------


def test_limits_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCAPTOTAL_QUERY_MAX_FUZZY_LENGTH", "8")
    monkeypatch.setenv("PCAPTOTAL_QUERY_MAX_DEPTH", "3")
    settings = Settings()
    limits = limits_from(settings)
    assert (limits.max_fuzzy_length, limits.max_depth) == (8, 3)
    assert limits.max_terms == LIMITS.max_terms  # the others keep their defaults
    with pytest.raises(QueryError, match="at most 8"):
        parse_query("abcdefghi~1", limits)
    with pytest.raises(QueryError, match="more than 3 levels"):
        parse_query("NOT NOT NOT NOT a", limits)
    guard = QueryGuard.from_settings(settings)
    assert guard.limits == limits
    assert guard.max_concurrent_searches == settings.search_max_concurrent


def test_default_settings_match_default_limits() -> None:
    assert limits_from(Settings()) == LIMITS


# -- compilers never overflow the stack ----------------------------------------------------------


def test_compilers_turn_deep_ir_into_query_errors() -> None:
    node: ir.Node = ir.MatchAll()
    for _ in range(5000):  # deeper than any parsed query can be
        node = ir.Not(node)
    with pytest.raises(QueryError, match="nested too deeply"):
        tantivy_compiler.compile_query(node, tantivy_schema())
    with pytest.raises(QueryError, match="nested too deeply"):
        es_compiler.compile_query(node)


def test_too_complex_wildcard_is_a_query_error_naming_it() -> None:
    # an IR past the parser's bounds: tantivy's automaton state limit still gives a QueryError
    node = ir.Wildcard(FLOW_FIELDS_BY_NAME["url.domain"], (("?", ""),) * 60)
    with pytest.raises(QueryError, match=r"wildcard term '\?+.*' is too complex: .*limit"):
        tantivy_compiler.compile_query(node, tantivy_schema())


# -- the guard -----------------------------------------------------------------------------------


async def test_guard_parses_in_a_thread_and_raises_query_errors() -> None:
    guard = QueryGuard()
    query = await guard.parse("network.transport:tcp")
    assert query.ir == parse_query("network.transport:tcp").ir
    with pytest.raises(QueryError, match="too long"):
        await guard.parse("a" * 5000 + "~2")


async def test_guard_parse_budget_overrun_is_a_timeout() -> None:
    guard = QueryGuard(parse_timeout_s=0.001)
    text = " OR ".join(f"t{i}" for i in range(1000))  # ~0.1 s of luqum
    with pytest.raises(QueryTimeout, match=r"not parsed within 0\.001 s"):
        await guard.parse(text)


async def test_guard_bounds_concurrent_searches() -> None:
    guard = QueryGuard(max_concurrent_searches=2)
    running = peak = 0

    async def one_search() -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        return 1

    results = await asyncio.gather(*(guard.search(one_search) for _ in range(6)))
    assert results == [1] * 6
    assert peak == 2


async def test_guard_search_budget_includes_waiting_for_a_slot() -> None:
    guard = QueryGuard(max_concurrent_searches=1, search_timeout_s=0.2)

    async def slow() -> None:
        await asyncio.sleep(0.5)

    start = time.monotonic()
    outcomes = await asyncio.gather(guard.search(slow), guard.search(slow), return_exceptions=True)
    assert all(isinstance(o, QueryTimeout) for o in outcomes), outcomes
    assert "did not finish within 0.2 s" in str(outcomes[0])
    assert time.monotonic() - start < 0.45


async def test_guard_does_not_relabel_the_index_timeouts() -> None:
    guard = QueryGuard(search_timeout_s=5)

    async def index_timeout() -> None:
        raise TimeoutError("index request timed out")

    with pytest.raises(TimeoutError, match="index request"):
        await guard.search(index_timeout)
