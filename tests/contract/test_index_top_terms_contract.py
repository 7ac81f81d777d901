"""Contract of short top lists (``TermsAgg`` by count, a few values): the exact ``size``
largest values by count, ties ordered by key, on both adapters, computed here from the
documents. The records are written in several batches (several tantivy segments), with many
values counted once or twice beside a few frequent ones and ties at the cut, so the embedded
adapters' short first answer (``pcaptotal.views.check_top``) is undercounted or cut and has to
be proven exact or replaced by the full answer."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import pytest
from pcaptotal import views
from pcaptotal.adapters import tantivy_views
from pcaptotal.adapters.tantivy_index import TantivyIndex
from pcaptotal.ports import Index
from pcaptotal.query import parse_query
from pcaptotal.views import TermsAgg

from tests.contract.test_index_contract import index

__all__ = ["index"]

CAP = hashlib.sha256(b"top terms").hexdigest()
BATCHES = 4


def _ip(n: int) -> str:
    return f"198.51.{n // 250}.{n % 250 + 1}"


def _docs(batch: int, skewed: bool) -> list[dict[str, Any]]:
    """One batch: 5 frequent addresses (a clear order when ``skewed``, else tied), 20 spread
    addresses seen twice in every batch, and 300 local ones seen 3 times in this batch only.
    In a segment the spread ones rank below the local ones, overall above them: a segment's
    short list leaves them out though they belong in a top list longer than 5."""
    docs = []
    n = 0

    def add(ip: str, ja3: list[str] | str, times: int) -> None:
        nonlocal n
        for _ in range(times):
            docs.append(
                {
                    "event.id": f"{CAP}-{batch}-{n}",
                    "event.dataset": "flow",
                    "pcaptotal.capture_id": CAP,
                    "destination.ip": ip,
                    "tls.client.ja3": ja3,
                }
            )
            n += 1

    for rank in range(5):
        add(_ip(rank), f"{rank:032x}", (40 - rank) if skewed else 12)
    for spread in range(20):
        add(_ip(100 + spread), [f"{5 + spread:032x}", f"{spread % 5:032x}"], 2)
    for local in range(300):
        add(_ip(1000 + batch * 300 + local), f"{100 + batch * 300 + local:032x}", 3)
    return docs


def _expected(docs: list[dict[str, Any]], field: str, size: int) -> list[tuple[Any, int]]:
    counts: Counter[str] = Counter()
    for d in docs:
        value = d[field]
        counts.update(set(value) if isinstance(value, list) else {value})
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ordered[:size]


async def _load(index: Index, skewed: bool) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for batch in range(BATCHES):  # one commit each: a segment each on tantivy
        part = _docs(batch, skewed)
        await index.add_flows(part)
        docs += part
    return docs


@pytest.mark.parametrize("short", [False, True])
@pytest.mark.parametrize("skewed", [True, False])
@pytest.mark.parametrize("size", [1, 5, 10, 29])
async def test_short_top_lists_are_exact(
    index: Index, skewed: bool, size: int, short: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if short:  # each segment's (shard's) list cut too (an error bound), not only the answer
        monkeypatch.setattr(views, "first_ask", lambda agg: agg.size + 2)
    docs = await _load(index, skewed)
    got = await index.aggregate(
        parse_query(""),
        {"dst": TermsAgg("destination.ip", size), "ja3": TermsAgg("tls.client.ja3", size)},
        capture_ids=[CAP],
    )
    assert [(b.key, b.count) for b in got.terms["dst"]] == _expected(docs, "destination.ip", size)
    assert [(b.key, b.count) for b in got.terms["ja3"]] == _expected(docs, "tls.client.ja3", size)


async def test_tantivy_proves_a_clear_top_and_falls_back_on_a_flat_one(
    index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The short first answer is used when it can be proven exact (a clear order), the full
    answer when not (every value once: nothing above the error bound)."""
    if not isinstance(index, TantivyIndex):
        pytest.skip("the embedded adapter's way to an exact top list")
    full = []
    every_value = tantivy_views._every_value

    def spy(*args: Any) -> dict[str, Any]:
        full.append(args[-1].field)
        return every_value(*args)

    monkeypatch.setattr(tantivy_views, "_every_value", spy)
    docs = await _load(index, skewed=True)
    clear = TermsAgg("destination.ip", 10)
    got = await index.aggregate(parse_query(""), {"dst": clear})
    assert [(b.key, b.count) for b in got.terms["dst"]] == _expected(docs, "destination.ip", 10)
    assert full == []
    flat = parse_query("event.dataset:flow AND NOT destination.ip:198.51.0.0/24")  # local ones
    got = await index.aggregate(flat, {"dst": clear})
    tail = [d for d in docs if not d["destination.ip"].startswith("198.51.0.")]
    assert [(b.key, b.count) for b in got.terms["dst"]] == _expected(tail, "destination.ip", 10)
    assert full == ["destination.ip"]
