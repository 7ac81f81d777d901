"""What the query layer keeps: the guard's recently parsed query texts (a text seen lately is
not parsed again, bad texts are never kept, the set is bounded) and the tantivy compiler's
wildcard automata (only literals-and-``*`` patterns, bounded, per schema)."""

from __future__ import annotations

import pytest
from pcaptotal.adapters.tantivy_docs import tantivy_schema
from pcaptotal.query import QueryError, QueryGuard, guard, tantivy_compiler
from pcaptotal.query.parse import parse_query
from pcaptotal.query.tantivy_compiler import compile_query


async def test_a_text_parsed_lately_is_not_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counting(text: str, limits: object) -> object:
        calls.append(text)
        return parse_query(text, limits)  # type: ignore[arg-type]

    monkeypatch.setattr(guard, "parse_query", counting)
    g = QueryGuard()
    first = await g.parse("source.ip:10.0.0.1")
    again = await g.parse("source.ip:10.0.0.1")
    assert again is first and calls == ["source.ip:10.0.0.1"]
    for _ in range(2):  # a bad text is refused each time, never kept
        with pytest.raises(QueryError):
            await g.parse("source.ip:not-an-ip")
    assert calls.count("source.ip:not-an-ip") == 2


async def test_the_kept_texts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "PARSED_KEPT", 3)
    g = QueryGuard()
    for port in range(5):
        await g.parse(f"destination.port:{port}")
    await g.parse("destination.port:2")  # touched: the least recently used go first
    await g.parse("destination.port:9")
    assert list(g._parsed) == [f"destination.port:{p}" for p in (4, 2, 9)]


def test_wildcard_automata_are_kept_only_for_star_patterns() -> None:
    schema = tantivy_schema()
    star = parse_query("dns.question.name:*.example.org")
    assert compile_query(star, schema) is compile_query(star, schema)
    other = tantivy_schema.__wrapped__() if hasattr(tantivy_schema, "__wrapped__") else None
    if other is not None:  # another schema object never gets the first one's query
        assert compile_query(star, other) is not compile_query(star, schema)
    ask = parse_query("dns.question.name:?.example.org")  # '?' may blow up: never kept
    assert compile_query(ask, schema) is not compile_query(ask, schema)


def test_kept_wildcards_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # Earlier tests in this process may have filled it to the real bound; a lower bound still
    # holds from the next insert on.
    for n in range(5):
        tantivy_compiler._WILDCARDS[("url.domain", f"earlier{n}")] = (None, None)  # type: ignore[assignment]
    monkeypatch.setattr(tantivy_compiler, "WILDCARDS_KEPT", 2)
    schema = tantivy_schema()
    for n in range(4):
        compile_query(parse_query(f"url.domain:*.n{n}.example"), schema)
    kept = list(tantivy_compiler._WILDCARDS)
    assert len(kept) == 2 and all("earlier" not in pattern for _, pattern in kept)
    assert "n3" in kept[-1][1] and "n2" in kept[0][1]  # the most recent ones
