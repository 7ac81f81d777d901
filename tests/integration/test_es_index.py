"""ElasticsearchIndex against osmem-server: what the contract suite does not reach.

Edge values where Elasticsearch and tantivy could disagree (sub-millisecond bounds, dates at
the ends of ``date_nanos``, regex syntax, fuzzy) are run on both adapters and must agree.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch, BadRequestError
from elasticsearch.exceptions import ApiError
from pcaptotal.adapters.es_index import ElasticsearchIndex
from pcaptotal.adapters.tantivy_index import TantivyIndex
from pcaptotal.ports import Index
from pcaptotal.query import QueryError, parse_query

pytestmark = pytest.mark.integration


def _es(url: str, **kw: Any) -> ElasticsearchIndex:
    return ElasticsearchIndex(url, prefix=f"unit-{uuid.uuid4().hex[:12]}", **kw)


@pytest.fixture
async def es(es_url: str) -> AsyncIterator[ElasticsearchIndex]:
    idx = _es(es_url)
    await idx.start()
    try:
        yield idx
    finally:
        await idx.delete_indices()
        await idx.close()


def flow(key: str, **fields: Any) -> dict[str, Any]:
    doc = {"event.id": f"c-{key}", "pcaptotal.capture_id": "c", **fields}
    if "event.start" in doc:
        doc["@timestamp"] = doc["event.start"]
    return doc


DOCS = [
    flow(
        "a",
        **{
            "event.start": "2009-11-18T16:43:00.123456+00:00",
            "tls.server.x509.not_before": ["2009-01-01T00:00:00+00:00"],
            "url.original": ["/a.b\nc"],
            "user_agent.original": ["x#y@z<1>"],
            "dns.question.name": ["ab"],
        },
    ),
    flow(
        "b",
        **{
            "event.start": "2009-11-18T16:43:00.123600+00:00",
            "tls.server.x509.not_before": ["2009-01-01T00:00:01+00:00"],
            "dns.question.name": ["ba", "abc"],
        },
    ),
    flow(
        "c",
        **{
            "event.start": "1970-01-01T00:00:00+00:00",
            "tls.server.x509.not_after": ["9999-12-31T23:59:59+00:00"],
            "dns.question.name": ["b", "xyz"],
        },
    ),
    flow("d", **{"event.start": 1258562580123, "dns.question.name": ["a"]}),  # epoch millis
]

EDGE_QUERIES = [
    "event.start:>=2009-11-18T16:43:00.1235",
    "event.start:>2009-11-18T16:43:00.1234",
    "event.start:<=2009-11-18T16:43:00.12345",
    "event.start:2009-11-18T16:43:00.123",
    "event.start:<1960-01-01",
    "event.start:>1960-01-01",
    "event.start:<=1970-01-01T00:00:00",
    "event.start:>3000-01-01",
    "event.start:<3000-01-01",
    "tls.server.x509.not_before:>=2009-01-01T00:00:00.0005",
    "tls.server.x509.not_before:>2009-01-01T00:00:00.0005",
    "tls.server.x509.not_before:<2009-01-01T00:00:00.0005",
    "tls.server.x509.not_before:<=2009-01-01T00:00:00.0005",
    "tls.server.x509.not_after:>=9000-01-01",
    r"url.original:/.*\..*/",
    "url.original:/(?s).*c/",
    "url.original:/.a.*/",
    "user_agent.original:/x#y@z<1>/",
    "user_agent.original:x#y@z*",
    "dns.question.name:/[^a]b?/",
    "dns.question.name:/[a-z]{3}/",
    "dns.question.name:ab~1",
    "dns.question.name:ab~2",
    "dns.question.name:xya~1",
    "dns.question.name:a?",
    "ab",
]


@pytest.fixture
async def both(es: ElasticsearchIndex, tmp_path: Path) -> AsyncIterator[tuple[Index, Index]]:
    tv = TantivyIndex(tmp_path / "tantivy")
    await tv.start()
    try:
        for idx in (tv, es):
            await idx.add_flows(DOCS)
        yield tv, es
    finally:
        await tv.close()


@pytest.mark.parametrize("text", EDGE_QUERIES)
async def test_same_hits_as_tantivy_on_edge_values(both: tuple[Index, Index], text: str) -> None:
    tv, es = both
    query = parse_query(text)
    expected = await tv.search_flows(query, limit=100)
    got = await es.search_flows(query, limit=100)
    assert [h["event.id"] for h in got.hits] == [h["event.id"] for h in expected.hits]
    assert got.total == expected.total


async def test_bad_batch_writes_nothing(es: ElasticsearchIndex) -> None:
    with pytest.raises(ValueError, match=r"destination\.port"):
        await es.add_flows([DOCS[0], {**DOCS[1], "destination.port": "x"}])
    assert (await es.search_flows(parse_query(""))).total == 0


async def test_many_bulk_requests_are_all_visible(es_url: str) -> None:
    idx = _es(es_url, bulk_docs=3)
    await idx.start()
    try:
        docs = [flow(f"n{i}", **{"network.bytes": i}) for i in range(10)]
        await idx.add_flows(docs)
        result = await idx.search_flows(parse_query("network.bytes:>=0"), limit=100)
        assert result.total == 10
        assert sorted(h["event.id"] for h in result.hits) == sorted(d["event.id"] for d in docs)
    finally:
        await idx.delete_indices()
        await idx.close()


async def test_ids_are_quoted_in_paths(es: ElasticsearchIndex) -> None:
    doc = flow("ip-2001:db8::1/x?y#z", **{"network.bytes": 1})
    await es.add_flows([doc])
    assert await es.get_flow(doc["event.id"]) == doc


async def test_paging_past_the_result_window_is_a_query_error(es: ElasticsearchIndex) -> None:
    with pytest.raises(QueryError, match="page past"):
        await es.search_flows(parse_query(""), limit=10, offset=10_000)


async def test_start_is_idempotent_and_adds_nothing_twice(es_url: str) -> None:
    prefix = f"unit-{uuid.uuid4().hex[:12]}"
    first = ElasticsearchIndex(es_url, prefix=prefix)
    second = ElasticsearchIndex(f"{es_url}?prefix={prefix}")
    assert second.flows_index == f"{prefix}-flows"
    await first.start()
    await second.start()  # the indices exist: only the mapping is re-put
    try:
        await first.add_flows([DOCS[0]])
        assert await second.get_flow(DOCS[0]["event.id"]) == DOCS[0]
    finally:
        await first.delete_indices()
        await first.close()
        await second.close()


async def test_not_started_and_unreachable(es_url: str) -> None:
    idx = _es(es_url)
    assert await idx.ping() is False
    with pytest.raises(RuntimeError, match="not started"):
        await idx.get_flow("x")
    await idx.close()
    dead = ElasticsearchIndex("http://127.0.0.1:9", max_retries=0, request_timeout=2)
    with pytest.raises(Exception):  # noqa: B017 - any transport error, after no retries
        await dead.start()
    assert await dead.ping() is False


async def test_the_clients_own_api_is_refused_by_osmem(es_url: str) -> None:
    """Why es_index sends requests through the transport: the client's compat media type."""
    client = AsyncElasticsearch(es_url)
    try:
        with pytest.raises((BadRequestError, ApiError)) as caught:
            await client.indices.create(index=f"unit-{uuid.uuid4().hex[:8]}", mappings={})
        assert caught.value.meta.status == 406
    finally:
        await client.close()


def test_url_parsing() -> None:
    idx = ElasticsearchIndex("https://u:p@es.example:9243/proxy?prefix=prod")
    assert (idx.prefix, idx.flows_index, idx.captures_index) == (
        "prod",
        "prod-flows",
        "prod-captures",
    )
    assert ElasticsearchIndex("http://h:9200").prefix == "pcaptotal"
    with pytest.raises(ValueError, match="http"):
        ElasticsearchIndex("tantivy:///x")
