"""The batch document builders (tantivy ``flow_documents``, Elasticsearch ``bulk_bodies``)
make exactly what the one-record builders make, and refuse what they refuse."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pcaptotal.adapters.es_bulk import bulk_bodies
from pcaptotal.adapters.es_mapping import flow_source
from pcaptotal.adapters.tantivy_docs import flow_document, flow_documents

BASE: dict[str, Any] = {
    "event.id": "c-tcp-1",
    "event.dataset": "flow",
    "@timestamp": "2024-03-07T19:00:00.148783Z",
    "event.start": "2024-03-07T19:00:00.148783Z",
    "source.ip": "10.0.0.1",
    "destination.ip": "2001:DB8::0001",
    "source.port": 51000,
    "network.protocol": ["http", "tls"],
    "event.risk_score": 35,
    "pcaptotal.findings": [{"name": "x", "flow_ids": ["a"]}],  # not a declared field
}

GOOD: list[dict[str, Any]] = [
    BASE,
    {**BASE, "pcaptotal.findings": None, "network.protocol": []},
    {**BASE, "event.risk_score": 1.5, "destination.ip": "::ffff:1.2.3.4"},
    {**BASE, "dns.question": [{"name": "a.example", "type": "A"}], "dns.id": 7},
    {**BASE, "dns.question": {"name": "b.example"}, "dns.question.name": None},
    {**BASE, "network.protocol": ["http", None], "source.ip": None},
    {**BASE, "network.transport": 6, "url.original": True},  # keywords written as JSON
    {**BASE, "event.start": 1709838000148},  # epoch millis
    {**BASE, "event.start": datetime(2024, 3, 7, tzinfo=UTC)},
    {**BASE, "pcaptotal.findings": None, "source.port": (1, 2)},
    {**BASE, "pcaptotal.dns.answered": False},
]

# accepted by one backend or both: a name both flat and through objects, nulls and nested
# lists inside objects
EDGE: list[dict[str, Any]] = [
    {**BASE, "dns.question.name": "c.example", "dns.question": [{"name": "d.example"}]},
    {**BASE, "dns.answers": [{"data": "10.0.0.9", "ttl": 60}, None, {"data": None}]},
    {**BASE, "dns.question": [[{"name": "e.example"}]], "network.protocol": [["a"], "b"]},
]

BAD: list[dict[str, Any]] = [
    {**BASE, "source.port": (1, 2)},  # a tuple in a record with objects (tantivy only)
    {**BASE, "source.port": True},
    {**BASE, "source.port": 2**64},
    {**BASE, "event.risk_score": False},
    {**BASE, "source.ip": "01.2.3.4"},
    {**BASE, "source.ip": "fe80::1%eth0"},
    {**BASE, "event.start": "yesterday"},
    {**BASE, "network.protocol": [["http"]]},
    {**BASE, "network.protocol": {"name": "x"}},
    {**BASE, "pcaptotal.dns.answered": 1},
    {**BASE, "dns.question": [{"name": ["a"], "type": 5.5}], "dns.id": "x"},
    {**BASE, "event.id": ""},
]


def _tantivy(doc: Any) -> dict[str, Any]:
    return dict(doc.to_dict())


def _one_by_one(docs: list[dict[str, Any]]) -> list[dict[str, Any]] | str:
    try:
        return [_tantivy(flow_document(d)) for d in docs]
    except ValueError as exc:
        return str(exc)


def _batch(docs: list[dict[str, Any]]) -> list[dict[str, Any]] | str:
    try:
        return [_tantivy(d) for d in flow_documents(docs)]
    except ValueError as exc:
        return str(exc)


@pytest.mark.parametrize("doc", GOOD + EDGE + BAD)
def test_tantivy_batch_equals_one_by_one(doc: dict[str, Any]) -> None:
    assert _batch([doc]) == _one_by_one([doc])


def test_tantivy_batch_of_many() -> None:
    docs = [{**d, "event.id": f"c-{i}"} for i, d in enumerate(GOOD)]
    assert _batch(docs) == _one_by_one(docs)
    assert isinstance(_batch(docs), list)


def test_tantivy_batch_refuses_what_one_by_one_refuses() -> None:
    for doc in BAD:
        if isinstance(_one_by_one([doc]), list):
            continue
        with pytest.raises(ValueError):
            flow_documents([BASE, doc])


def _es_old(docs: list[dict[str, Any]], max_docs: int, max_bytes: int) -> list[bytes] | str:
    try:
        latest = dict(flow_source(d) for d in docs)
    except ValueError as exc:
        return str(exc)
    out, lines, size = [], [], 0
    for doc_id, body in latest.items():
        for part in ({"index": {"_id": doc_id}}, body):
            line = json.dumps(part, ensure_ascii=False, separators=(",", ":"), default=str)
            lines.append(line.encode() + b"\n")
            size += len(lines[-1])
        if len(lines) >= 2 * max_docs or size >= max_bytes:
            out.append(b"".join(lines))
            lines, size = [], 0
    if lines:
        out.append(b"".join(lines))
    return out


def _es_new(docs: list[dict[str, Any]], max_docs: int, max_bytes: int) -> list[bytes] | str:
    try:
        return bulk_bodies(docs, max_docs, max_bytes)
    except ValueError as exc:
        return str(exc)


@pytest.mark.parametrize("doc", GOOD + EDGE + BAD)
def test_es_bulk_equals_flow_source(doc: dict[str, Any]) -> None:
    assert _es_new([doc], 1000, 5_000_000) == _es_old([doc], 1000, 5_000_000)


def test_es_bulk_chunks_and_duplicates() -> None:
    docs = [{**d, "event.id": f"c-{i % 5}", "message": "é" * i} for i, d in enumerate(GOOD)]
    for max_docs, max_bytes in ((1000, 5_000_000), (2, 5_000_000), (1000, 1500)):
        new = _es_new(docs, max_docs, max_bytes)
        assert isinstance(new, list) and len(new) >= 1
        assert new == _es_old(docs, max_docs, max_bytes)
