"""Queries at the cost bounds of ``pcaptotal.query.limits`` run on every Index adapter with the
same hits, and a query the index cannot run is a QueryError on every adapter (never another
exception, which the API would turn into a 500)."""

from __future__ import annotations

import pytest
from pcaptotal.fields import FLOW_FIELDS_BY_NAME
from pcaptotal.ports import Index
from pcaptotal.query import QueryError, QueryLimits, ir
from pcaptotal.query.parse import ValidatedQuery

from tests.contract import test_index_contract as contract

# the contract suite's fixtures: every adapter, loaded with its documents
index = contract.index
loaded = contract.loaded
names = contract.names

LIMITS = QueryLimits()
TCP = {"http", "tls", "tls6", "ssh"}
NOT_TCP = {"dns", "icmp", "dns6", "gre"}
_PAD = " OR ".join(["x"] * (LIMITS.max_terms - 1))

AT_THE_BOUNDS: list[tuple[str, str, set[str]]] = [
    ("max-depth-nots", "NOT " * LIMITS.max_depth + "network.transport:tcp", TCP),
    ("max-depth-nots-odd", "NOT " * (LIMITS.max_depth - 1) + "network.transport:tcp", NOT_TCP),
    (
        "max-depth-parens",
        "(" * LIMITS.max_depth + "network.transport:tcp" + ")" * LIMITS.max_depth,
        TCP,
    ),
    (
        "max-depth-not-groups",
        "NOT (" * (LIMITS.max_depth // 2) + "network.transport:tcp" + ")" * (LIMITS.max_depth // 2),
        TCP,
    ),
    ("1024-terms", f"network.transport:(tcp OR {_PAD})", TCP),
    ("fuzzy-64-bare", "a" * LIMITS.max_fuzzy_length + "~2", set()),
    ("fuzzy-64", "dns.question.name:" + "en.wikipedia.org" * 4 + "~2", set()),
    ("fuzzy-near", "dns.question.name:en.wikipedia.orgx~1", {"dns"}),
    ("8-wildcards-bare", "*k*i*p*e*d*i*a*.org", {"dns", "tls", "dns6"}),
    ("8-wildcards", "dns.question.name:" + "?" * 7 + "*", {"dns", "dns6"}),
    (
        "regex-256",
        "dns.question.name:/" + "(en|www)\\.wikipedia\\.org|" * 9 + "x{1,8}/",
        {"dns", "dns6"},
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in AT_THE_BOUNDS], ids=[c[0] for c in AT_THE_BOUNDS]
)
async def test_queries_at_the_bounds_give_the_same_hits(
    loaded: Index, text: str, expected: set[str]
) -> None:
    assert len(text) <= LIMITS.max_length
    assert set(await names(loaded, text)) == expected


async def test_what_the_index_cannot_run_is_a_query_error(loaded: Index) -> None:
    # An IR no parse can produce (past the wildcard bound): the adapter must still answer with
    # a QueryError (tantivy: automaton state limit; Elasticsearch: its own refusal, or hits).
    node = ir.Wildcard(FLOW_FIELDS_BY_NAME["url.domain"], (("?", ""),) * 60)
    query = ValidatedQuery("url.domain:" + "?" * 60)
    query.__dict__["ir"] = node  # the cached property, set directly
    try:
        result = await loaded.search_flows(query, limit=10)
    except QueryError as exc:
        assert "too complex" in str(exc) or "cannot run query" in str(exc)
    else:
        assert result.total == 0
