"""Contract of the cross-capture aggregations of the Index port: nested terms (``by``), first
and last dates per bucket (``span_field``), date histograms and the ``capture_ids``
restriction give the same answers on both adapters, computed here from the documents."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pcaptotal.ports import Index
from pcaptotal.query import QueryError, parse_query
from pcaptotal.views import DateHistogramAgg, TermsAgg

from tests.contract.test_index_contract import index

__all__ = ["index"]

CAPS = [hashlib.sha256(f"cross {n}".encode()).hexdigest() for n in range(4)]
BASE = datetime(2021, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
JA3 = ["a" * 32, "b" * 32, "c" * 32]


def _doc(n: int) -> dict[str, Any]:
    cap = CAPS[n % 4]
    when = BASE + timedelta(hours=7 * n, microseconds=n)
    doc: dict[str, Any] = {
        "event.id": f"{cap}-tls-{n}",
        "event.dataset": "tls" if n % 3 else "finding",
        "pcaptotal.capture_id": cap,
        "@timestamp": when.isoformat().replace("+00:00", "Z"),
        "tls.client.ja3": JA3[n % 3] if n % 5 else [JA3[0], JA3[1]],
        "destination.ip": f"192.0.2.{n % 6}",
    }
    if n % 3 == 0:
        doc["pcaptotal.finding.name"] = ["beacon", "scan"][n % 2]
    return doc


DOCS = [_doc(n) for n in range(40)]


def _ts(d: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(d["@timestamp"])


@pytest.fixture
async def cross(index: Index) -> Index:
    await index.add_flows(DOCS)
    return index


def _values(d: dict[str, Any], field: str) -> list[Any]:
    v = d.get(field)
    return [] if v is None else list(v) if isinstance(v, list) else [v]


async def test_nested_terms_count_captures_per_value(cross: Index) -> None:
    agg = TermsAgg("tls.client.ja3", 100, by=TermsAgg("pcaptotal.capture_id", 100))
    got = await cross.aggregate(parse_query(""), {"ja3": agg})
    expected: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for d in DOCS:
        for v in _values(d, "tls.client.ja3"):
            expected[v][d["pcaptotal.capture_id"]] += 1
    assert got.total == len(DOCS)
    assert {b.key: {s.key: s.count for s in b.sub or []} for b in got.terms["ja3"]} == {
        k: dict(v) for k, v in expected.items()
    }
    for b in got.terms["ja3"]:  # sub-buckets ordered by count, then key
        subs = b.sub or []
        assert [(s.count, s.key) for s in subs] == sorted(
            ((s.count, s.key) for s in subs), key=lambda t: (-t[0], t[1])
        )


async def test_span_gives_first_and_last_time_per_bucket(cross: Index) -> None:
    agg = TermsAgg("pcaptotal.capture_id", 10, span_field="@timestamp")
    got = await cross.aggregate(parse_query(""), {"caps": agg})
    for b in got.terms["caps"]:
        times = [_ts(d) for d in DOCS if d["pcaptotal.capture_id"] == b.key]
        assert (b.first, b.last, b.count) == (min(times), max(times), len(times))


@pytest.mark.parametrize("interval_s", [3600, 86400, 7 * 86400])
async def test_date_histogram_with_terms(cross: Index, interval_s: int) -> None:
    agg = DateHistogramAgg("@timestamp", interval_s, by=TermsAgg("pcaptotal.finding.name", 10))
    got = await cross.aggregate(parse_query(""), {"h": agg}, datasets=["finding"])
    expected: dict[datetime, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for d in DOCS:
        if d["event.dataset"] != "finding":
            continue
        seconds = (_ts(d) - epoch) // timedelta(seconds=1)
        start = epoch + timedelta(seconds=seconds - seconds % interval_s)
        expected[start][d["pcaptotal.finding.name"]] += 1
    assert [(h.start, h.count) for h in got.histograms["h"]] == [
        (k, sum(v.values())) for k, v in sorted(expected.items())
    ]
    for h in got.histograms["h"]:
        assert {s.key: s.count for s in h.sub or []} == dict(expected[h.start])


async def test_capture_ids_restrict(cross: Index) -> None:
    agg = {"caps": TermsAgg("pcaptotal.capture_id", 10)}
    got = await cross.aggregate(parse_query(""), agg, capture_ids=CAPS[:2])
    assert {b.key: b.count for b in got.terms["caps"]} == {CAPS[0]: 10, CAPS[1]: 10}
    assert got.total == 20
    none = await cross.aggregate(parse_query(""), agg, capture_ids=[])
    assert none.total == 0 and none.terms["caps"] == []


async def test_bad_histogram_field_is_a_query_error(cross: Index) -> None:
    with pytest.raises(QueryError):
        await cross.aggregate(parse_query(""), {"h": DateHistogramAgg("destination.ip", 60)})
    with pytest.raises(QueryError):
        await cross.aggregate(parse_query(""), {"h": DateHistogramAgg("@timestamp", 0)})
