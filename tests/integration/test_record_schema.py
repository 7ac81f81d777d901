"""Every record of every shared capture (tests/data/pcaps), as the parser and the enricher
write them (with feeds that list some of each capture's own addresses, names and URLs, so
flows carry ``threat.enrichments`` and there are intel finding records), against the field
schema and both index backends.

- every leaf of every record is declared (``pcaptotal.fields``) and listed by ``GET
  /v1/fields``: an undeclared field fails;
- ECS basics: ``event.id`` (= the document id), ``event.dataset``/``event.kind``,
  ``ecs.version``, RFC 3339 UTC times ending in ``Z``, no ``_id``;
- tantivy and osmem-server index them all and answer record queries the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pcaptotal.adapters.es_index import ElasticsearchIndex
from pcaptotal.adapters.tantivy_index import TantivyIndex
from pcaptotal.fields import (
    DATASET_KINDS,
    FLOW_FIELDS,
    FieldType,
    declared,
    leaf_paths,
    values_of,
)
from pcaptotal.ports import Index
from pcaptotal.query import parse_query
from pcaptotal.settings import Settings
from pcaptotal_enricher.intel import IndicatorSet, IntelEnrichment, build_indicator_set
from pcaptotal_enricher.records import finding_records, split_records
from pcaptotal_enricher.verdict import analyse_capture
from pcaptotal_parser.parse import parse_capture
from pcaptotal_runner.app import create_app
from pcaptotal_search_api.record_models import Record
from pydantic import TypeAdapter, ValidationError

from tests.paths import shared_captures

_FEODO_HEADER = '"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"\n'
_RFC3339_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
_DATES = {f.name for f in FLOW_FIELDS if f.type is FieldType.DATE}


def _feeds(flows: list[dict[str, Any]], work: Path) -> IndicatorSet:
    """A Feodo-style feed (a family per address) and a plain list (names, URLs) naming every
    third destination, DNS name and URL of the capture: feed hits of every matchable kind."""
    addresses = sorted({str(f["destination.ip"]) for f in flows if f.get("destination.ip")})
    names = sorted({str(n) for f in flows for n in values_of(f, "dns.question.name")})
    urls = sorted({str(u) for f in flows for u in values_of(f, "url.original") if "://" in u})
    feodo = work / "feodo.csv"
    rows = [f'"2024-01-01 00:00:00","{ip}","443","online","2024-01-02","Demo"' for ip in addresses]
    feodo.write_text(_FEODO_HEADER + "\n".join(rows[::3]) + "\n")
    plain = work / "plain.txt"
    plain.write_text("\n".join([*names[::3], *urls[::3]]) + "\n")
    return build_indicator_set([(feodo.name, feodo), (plain.name, plain)])


async def _records(path: Path, work: Path) -> list[dict[str, Any]]:
    capture_id = hashlib.sha256(path.name.encode()).hexdigest()
    parsed = await parse_capture(path, capture_id, work_dir=work)
    try:
        records = list(parsed.records())
    finally:
        await parsed.discard_files()
    flows, others = split_records(records)
    indicators = _feeds(flows, work)
    flows = IntelEnrichment(lambda: indicators)(flows)
    analysis = analyse_capture(flows)
    return [*analysis.flows, *others, *finding_records(capture_id, flows, analysis.findings)]


async def _all_records(work: Path) -> dict[str, list[dict[str, Any]]]:
    return {p.name: await _records(p, work) for p in shared_captures()}


@pytest.fixture(scope="module")
def shared_records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    # parsed once for the module, on a loop of its own (each test gets one)
    return asyncio.run(_all_records(tmp_path_factory.mktemp("records")))


def test_every_field_of_every_record_is_declared(
    shared_records: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    undeclared: dict[str, str] = {}
    paths: set[str] = set()
    for name, records in shared_records.items():
        for record in records:
            for path in leaf_paths(record):
                paths.add(path)
                if not declared(path):
                    undeclared.setdefault(path, name)
    assert not undeclared, f"fields the schema does not declare (first capture): {undeclared}"
    # GET /v1/fields lists each of them: as itself, or as the stored object holding it
    app = create_app(Settings(data_dir=tmp_path), workers=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:  # a host it answers
        listed = {f["name"]: f for f in client.get("/v1/fields").json()["fields"]}
    objects = {n for n, f in listed.items() if f["type"] == "object"}
    unlisted = {
        p for p in paths if p not in listed and not any(p.startswith(o + ".") for o in objects)
    }
    assert not unlisted, f"fields /v1/fields does not list: {sorted(unlisted)}"
    # the stored objects are listed, and the documents here do carry them
    assert {"threat.enrichments", "pcaptotal.findings"} <= objects
    for name in ("threat.enrichments", "pcaptotal.findings", "dns.question", "dns.answers"):
        assert any(p.startswith(name + ".") for p in paths), name


def test_every_record_matches_its_api_model(
    shared_records: dict[str, list[dict[str, Any]]],
) -> None:
    """The record models the OpenAPI document declares (strict, one per event.dataset) accept
    every record as written: a field of the wrong shape or kind fails here, not in a client."""
    records = TypeAdapter(Record)
    bad: dict[str, str] = {}
    for name, docs in shared_records.items():
        for doc in docs:
            try:
                records.validate_python(doc)
            except ValidationError as exc:
                bad.setdefault(name, f"{doc['event.dataset']}: {exc.errors()[:3]}")
    assert not bad, bad


def test_records_are_ecs_shaped(shared_records: dict[str, list[dict[str, Any]]]) -> None:
    counts: Counter[str] = Counter()
    for records in shared_records.values():
        ids = [r["event.id"] for r in records]
        assert len(set(ids)) == len(ids)  # deterministic and unique per capture
        flow_ids = {r["event.id"] for r in records if r["event.dataset"] == "flow"}
        for r in records:
            counts[r["event.dataset"]] += 1
            assert "_id" not in r
            assert r["event.kind"] == DATASET_KINDS[r["event.dataset"]]
            assert r["ecs.version"] and r["event.id"].startswith(r["pcaptotal.capture_id"])
            for name in _DATES & r.keys():
                for value in r[name] if isinstance(r[name], list) else [r[name]]:
                    assert _RFC3339_Z.fullmatch(value), (name, value)
            links = r.get("pcaptotal.flow_id")
            if r["event.dataset"] in ("dns", "http", "tls"):
                assert links in flow_ids and r["@timestamp"]
            elif links is not None:
                assert set(links) <= flow_ids
    # every record kind occurs in the shared set
    assert set(counts) == set(DATASET_KINDS), counts


def test_dns_answers_line_up(shared_records: dict[str, list[dict[str, Any]]]) -> None:
    """ECS answer objects: each A/AAAA answer has its own TTL and address."""
    answers = [
        a
        for records in shared_records.values()
        for r in records
        if r["event.dataset"] == "dns"
        for a in r.get("dns.answers", [])
    ]
    addresses = [a for a in answers if a["type"] in ("A", "AAAA")]
    assert addresses and all("data" in a and "ttl" in a for a in addresses)


def test_flows_carry_ecs_shapes(shared_records: dict[str, list[dict[str, Any]]]) -> None:
    """Threat data once (threat.enrichments), full URLs, DNS questions/answers as objects."""
    flows = [r for rs in shared_records.values() for r in rs if r["event.dataset"] == "flow"]
    hit = [f for f in flows if f.get("threat.enrichments")]
    assert hit, "the test feeds match nothing"
    fields = {v for f in hit for v in values_of(f, "threat.enrichments.matched.field")}
    assert {"destination.ip", "dns.question.name", "url.original"} <= fields
    for record in (r for rs in shared_records.values() for r in rs):
        assert not [k for k in record if k.startswith("threat.indicator")], record["event.id"]
    for flow in flows:
        assert "threat.software.name" not in flow
        for key in ("dns.question", "dns.answers", "threat.enrichments"):
            assert all(isinstance(o, dict) for o in flow.get(key, [])), key
        urls = flow.get("url.original", [])
        if flow.get("url.domain") and urls:  # a Host header completes origin-form targets
            assert not all(u.startswith("/") for u in urls), urls
        paths = set(flow.get("url.path", []))
        assert all(u.split("?", 1)[0].endswith(tuple(paths)) for u in urls if "://" in u)
    assert any(f.get("dns.answers") for f in flows)


def _osmem(request: pytest.FixtureRequest) -> Index:
    return ElasticsearchIndex(
        request.getfixturevalue("es_url"), prefix=f"t-{uuid.uuid4().hex[:12]}"
    )


@pytest.fixture(params=["tantivy", "osmem"])
async def index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Index]:
    idx = TantivyIndex(tmp_path / "index") if request.param == "tantivy" else _osmem(request)
    await idx.start()
    try:
        yield idx
    finally:
        if isinstance(idx, ElasticsearchIndex):
            await idx.delete_indices()
        await idx.close()


QUERIES = [
    "event.dataset:http AND http.response.status_code:>=400",
    "event.dataset:dns AND dns.response_code:NXDOMAIN",
    "event.dataset:dns AND dns.answers.type:A",
    "event.dataset:tls AND _exists_:tls.client.ja4",
    "event.dataset:file AND file.mime_type:application*",
    "event.dataset:finding",
    'url.path:"/" AND event.dataset:http',
    "_exists_:threat.enrichments.indicator.name",
    "threat.enrichments.matched.field:dns.question.name AND event.dataset:flow",
    "event.dataset:flow AND dns.answers.type:A AND dns.answers.class:IN",
    'event.dataset:flow AND url.path:"/"',
]


async def test_both_backends_index_every_record_and_agree(
    index: Index, shared_records: dict[str, list[dict[str, Any]]]
) -> None:
    every = [r for records in shared_records.values() for r in records]
    for i in range(0, len(every), 500):
        await index.add_flows(every[i : i + 500])
    total = await index.search_flows(parse_query(""), limit=0)
    assert total.total == len(every)
    flows = await index.search_flows(parse_query(""), limit=0, datasets=["flow"])
    assert flows.total == sum(1 for r in every if r["event.dataset"] == "flow")
    answers = {}
    for text in QUERIES:
        result = await index.search_flows(parse_query(text), limit=10_000)
        assert all("_id" not in h for h in result.hits)
        answers[text] = sorted(h["event.id"] for h in result.hits)
        assert result.total == len(result.hits)
    expected = {
        QUERIES[0]: sorted(
            r["event.id"]
            for r in every
            if r["event.dataset"] == "http" and r.get("http.response.status_code", 0) >= 400
        ),
        QUERIES[5]: sorted(r["event.id"] for r in every if r["event.dataset"] == "finding"),
        QUERIES[7]: sorted(r["event.id"] for r in every if r.get("threat.enrichments")),
        QUERIES[8]: sorted(
            r["event.id"]
            for r in every
            if r["event.dataset"] == "flow"
            and "dns.question.name" in values_of(r, "threat.enrichments.matched.field")
        ),
        QUERIES[9]: sorted(
            r["event.id"]
            for r in every
            if r["event.dataset"] == "flow" and "A" in values_of(r, "dns.answers.type")
        ),
        QUERIES[10]: sorted(
            r["event.id"]
            for r in every
            if r["event.dataset"] == "flow" and "/" in r.get("url.path", [])
        ),
    }
    for text, ids in expected.items():
        assert answers[text] == ids, text
    assert answers[QUERIES[0]] and answers[QUERIES[2]] and answers[QUERIES[3]]
    assert all(answers[q] for q in QUERIES[7:])
    # one record read back whole, as written
    sample = next(r for r in every if r["event.dataset"] == "dns" and r.get("dns.answers"))
    assert await index.get_flow(sample["event.id"]) == sample
