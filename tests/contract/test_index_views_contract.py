"""Contract of the Index port's cursor pages and terms aggregations: both adapters give the
same pages and the same buckets (ties included), computed here from the documents."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from ipaddress import ip_address
from typing import Any

import pytest
from pcaptotal.ports import Index
from pcaptotal.query import QueryError, parse_query
from pcaptotal.views import Bucket, TermsAgg

from tests.contract.test_index_contract import BY_ID, C1, DOCS, index, loaded

__all__ = ["index", "loaded"]  # the fixtures, shared with the main contract suite

EXTRA = [  # records of other kinds, sharing one time and missing sort values, for the ties
    {
        "event.id": f"{C1}-dns-udp-1-{n}",
        "event.dataset": "dns",
        "pcaptotal.capture_id": C1,
        "pcaptotal.flow_id": f"{C1}-udp-1",
        "@timestamp": "2009-11-18T16:43:01.000000Z",
        "dns.question": [{"name": f"n{n % 3}.example", "type": "A", "class": "IN"}],
        "dns.answers": [{"type": "A", "ttl": 60 + n, "data": f"192.0.2.{n}"}],
        "dns.response_code": "NXDOMAIN" if n % 2 else "NOERROR",
        **({"event.duration": 1000 * (n % 4)} if n % 5 else {}),
    }
    for n in range(12)
]


@pytest.fixture
async def records(loaded: Index) -> Index:
    await loaded.add_flows(EXTRA)
    return loaded


def _expected_order(docs: list[dict[str, Any]], field: str, descending: bool) -> list[str]:
    with_value = [d for d in docs if d.get(field) is not None]
    missing = sorted((d for d in docs if d.get(field) is None), key=lambda d: d["event.id"])
    with_value.sort(key=lambda d: d["event.id"])
    with_value.sort(
        key=lambda d: datetime.fromisoformat(d[field]) if field == "@timestamp" else d[field],
        reverse=descending,
    )
    return [d["event.id"] for d in with_value + missing]


async def _all_pages(index: Index, limit: int, **kw: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        page = await index.search_page(parse_query(""), limit=limit, cursor=cursor, **kw)
        assert all("_id" not in h for h in page.hits)
        seen += [h["event.id"] for h in page.hits]
        cursor = page.cursor
        if cursor is None:
            return seen
    raise AssertionError("paging does not end")


@pytest.mark.parametrize("limit", [1, 3, 7, 100])
@pytest.mark.parametrize("sort", ["@timestamp", "-@timestamp", "network.bytes", "-event.duration"])
async def test_cursor_pages_walk_every_record_in_order(
    records: Index, sort: str, limit: int
) -> None:
    every = [*DOCS.values(), *EXTRA]
    expected = _expected_order(every, sort.lstrip("-"), sort.startswith("-"))
    assert await _all_pages(records, limit, sort=sort) == expected


async def test_pages_restrict_to_capture_and_dataset(records: Index) -> None:
    got = await _all_pages(records, 5, capture_id=C1, datasets=["dns"])
    assert got == _expected_order(EXTRA, "@timestamp", False)
    page = await records.search_page(parse_query("dns.response_code:NXDOMAIN"), datasets=["dns"])
    assert page.total == 6 and page.cursor is None


@pytest.mark.parametrize("bad", [{"sort": "dns.question.name"}, {"sort": "nope"}, {"cursor": "!!"}])
async def test_bad_sort_or_cursor_is_a_query_error(records: Index, bad: dict[str, str]) -> None:
    with pytest.raises(QueryError):
        await records.search_page(parse_query(""), sort=bad.get("sort"), cursor=bad.get("cursor"))


def _buckets(docs: list[dict[str, Any]], field: str, sum_field: str | None = None) -> list[Bucket]:
    counts: Counter[Any] = Counter()
    sums: dict[Any, float] = defaultdict(float)
    for d in docs:
        values = d.get(field)
        for v in dict.fromkeys(values if isinstance(values, list) else [values]):
            if v is None:
                continue
            key = str(ip_address(v)) if field.endswith(".ip") else v
            counts[key] += 1
            if sum_field:
                sums[key] += float(d.get(sum_field) or 0)
    out = [Bucket(k, n, sums[k] if sum_field else None) for k, n in counts.items()]
    if sum_field:
        out.sort(key=lambda b: (-(b.sum or 0), -b.count, str(b.key)))
    else:
        out.sort(key=lambda b: (-b.count, str(b.key)))
    return out


async def test_terms_aggregations_give_the_same_buckets(records: Index) -> None:
    flows = list(DOCS.values())
    aggs = {
        "transport": TermsAgg("network.transport", size=3),
        "protocol": TermsAgg("network.protocol", size=10),
        "talkers": TermsAgg("source.ip", size=4, sum_field="network.bytes"),
        "ports": TermsAgg("destination.port", size=10),
    }
    result = await records.aggregate(parse_query(""), aggs, datasets=["flow"])
    assert result.total == len(flows)
    assert result.terms["transport"] == _buckets(flows, "network.transport")[:3]
    assert result.terms["protocol"] == _buckets(flows, "network.protocol")
    assert result.terms["talkers"] == _buckets(flows, "source.ip", "network.bytes")[:4]
    assert result.terms["ports"] == _buckets(flows, "destination.port")
    dns = await records.aggregate(
        parse_query("event.dataset:dns"),
        {"names": TermsAgg("dns.question.name"), "rcodes": TermsAgg("dns.response_code")},
        capture_id=C1,
    )
    assert dns.total == len(EXTRA)
    assert dns.terms["rcodes"] == [Bucket("NOERROR", 6), Bucket("NXDOMAIN", 6)]
    assert dns.terms["names"] == [Bucket("n0.example", 4), Bucket("n1.example", 4),
                                  Bucket("n2.example", 4)]  # fmt: skip
    assert set(BY_ID.values()) >= {"http"}
