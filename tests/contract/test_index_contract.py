"""Contract suite of the Index port: every adapter must give these exact answers.

Add an adapter by adding one entry to ``ADAPTERS`` (a factory from the test request and a
scratch directory to an unstarted ``Index``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tantivy
from pcaptotal.adapters import record_formats, tantivy_index
from pcaptotal.adapters.es_index import ElasticsearchIndex
from pcaptotal.adapters.tantivy_docs import flow_document, tantivy_schema
from pcaptotal.adapters.tantivy_index import TantivyIndex
from pcaptotal.captures import CaptureRepository, Status
from pcaptotal.fields import FLOW_FIELDS, FieldType
from pcaptotal.ports import Index
from pcaptotal.prepared import PreparedRecord
from pcaptotal.query import parse_query


def _osmem(request: pytest.FixtureRequest, path: Path) -> Index:
    # one server per session (fixture es_url), fresh indices per test (dropped after)
    url = request.getfixturevalue("es_url")
    return ElasticsearchIndex(url, prefix=f"test-{uuid.uuid4().hex[:12]}")


class PreparedTantivy(TantivyIndex):
    """tantivy written as the enricher writes it: each record encoded ahead
    (``record_formats``, as the analysis process does) and added with ``add_prepared``, so
    every answer of this suite holds for that path too."""

    async def add_flows(self, docs: Sequence[dict[str, Any]]) -> None:
        encode = record_formats.encoder(self.record_format)
        await self.add_prepared([PreparedRecord.of(encode(doc), doc) for doc in docs])


ADAPTERS: dict[str, Callable[[pytest.FixtureRequest, Path], Index]] = {
    "tantivy": lambda request, path: TantivyIndex(path / "index"),
    "tantivy-prepared": lambda request, path: PreparedTantivy(path / "index"),
    "osmem": _osmem,
}

C1 = hashlib.sha256(b"capture one").hexdigest()
C2 = hashlib.sha256(b"capture two").hexdigest()


def flow(capture: str, key: str, **fields: Any) -> dict[str, Any]:
    doc = {
        "event.id": f"{capture}-{key}",
        "event.dataset": "flow",
        "pcaptotal.capture_id": capture,
        "pcaptotal.flow_key": key,
    }
    doc.update({k.replace("__", "."): v for k, v in fields.items()})
    if "event.start" in doc:
        doc["@timestamp"] = doc["event.start"]
    return doc


# Short names -> documents: two captures, IPv4 and IPv6, tcp/udp/icmp/gre, dns/http/tls/ssh.
DOCS: dict[str, dict[str, Any]] = {
    "http": flow(
        C1,
        "tcp-0",
        **{
            "source.ip": "192.168.1.10",
            "source.port": 49152,
            "source.bytes": 400,
            "destination.ip": "93.184.216.34",
            "destination.port": 80,
            "destination.bytes": 1100,
            "network.type": "ipv4",
            "network.transport": "tcp",
            "network.iana_number": 6,
            "network.protocol": ["http"],
            "network.bytes": 1500,
            "network.packets": 10,
            "network.community_id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
            "pcaptotal.tcp_flags": ["SYN", "ACK", "PSH", "FIN"],
            "event.start": "2009-11-18T16:43:00.123456+00:00",
            "event.end": "2009-11-18T16:43:00.523456+00:00",
            "event.duration": 400_000_000,
            "http.request.method": ["GET"],
            "url.domain": ["example.com"],
            "url.original": ["/index.html"],
            "user_agent.original": ["Mozilla/5.0 (X11; Linux x86_64)"],
            "http.response.status_code": [200],
            "http.response.mime_type": ["text/html"],
        },
    ),
    "dns": flow(
        C1,
        "udp-1",
        **{
            "source.ip": "192.168.1.10",
            "source.port": 53211,
            "destination.ip": "8.8.8.8",
            "destination.port": 53,
            "network.type": "ipv4",
            "network.transport": "udp",
            "network.iana_number": 17,
            "network.protocol": ["dns"],
            "network.bytes": 180,
            "event.start": "2009-11-18T16:43:00.900000+00:00",
            "dns.question.name": ["en.wikipedia.org"],
            "dns.question.type": ["A"],
            "dns.answers.data": ["208.80.154.224"],
            "dns.response_code": ["NOERROR"],
        },
    ),
    "tls": flow(
        C1,
        "tcp-2",
        **{
            "source.ip": "192.168.1.10",
            "source.port": 49153,
            "destination.ip": "208.80.154.224",
            "destination.port": 443,
            "network.type": "ipv4",
            "network.transport": "tcp",
            "network.protocol": ["tls"],
            "network.bytes": 54000,
            "event.start": "2009-11-18T16:43:01+00:00",
            "tls.version": ["1.2"],
            "tls.client.server_name": ["en.wikipedia.org"],
            "tls.client.ja3": ["769,47-53-5-10-49161,0-10-11,23-24,0"],
            "tls.server.x509.subject.common_name": ["*.wikipedia.org"],
            "tls.server.x509.not_before": ["2009-01-01T00:00:00+00:00"],
            "tls.server.x509.not_after": ["2010-01-01T00:00:00+00:00"],
        },
    ),
    "icmp": flow(
        C1,
        "icmp-3",
        **{
            "source.ip": "192.168.1.10",
            "destination.ip": "10.0.0.1",
            "network.type": "ipv4",
            "network.transport": "icmp",
            "network.iana_number": 1,
            "network.bytes": 98,
            "event.start": "2009-11-18T16:44:00+00:00",
        },
    ),
    "dns6": flow(
        C1,
        "udp-4",
        **{
            "source.ip": "2001:db8::10",
            "source.port": 5353,
            "destination.ip": "2001:db8::53",
            "destination.port": 53,
            "network.type": "ipv6",
            "network.transport": "udp",
            "network.protocol": ["dns"],
            "network.bytes": 120,
            "event.start": "2009-11-18T16:45:00+00:00",
            "dns.question.name": ["www.wikipedia.org"],
        },
    ),
    "tls6": flow(
        C2,
        "tcp-0",
        **{
            "source.ip": "2001:db8:1::5",
            "source.port": 50000,
            "destination.ip": "2606:4700::1111",
            "destination.port": 443,
            "network.type": "ipv6",
            "network.transport": "tcp",
            "network.protocol": ["tls"],
            "network.bytes": 7000,
            "event.start": "2010-01-01T00:00:00+00:00",
            "tls.version": ["1.3"],
            "tls.client.server_name": ["cloudflare-dns.com"],
        },
    ),
    "ssh": flow(
        C2,
        "tcp-1",
        **{
            "source.ip": "10.1.2.3",
            "source.port": 51000,
            "destination.ip": "10.9.9.9",
            "destination.port": 22,
            "network.type": "ipv4",
            "network.transport": "tcp",
            "network.protocol": ["ssh"],
            "network.bytes": 250_000,
            "pcaptotal.tcp_flags": ["SYN", "ACK", "RST"],
            "event.start": "2010-01-01T00:00:00+00:00",  # same start as tls6: ties go by _id
        },
    ),
    "gre": flow(  # no event.start: sorts last
        C2,
        "ip-2",
        **{
            "source.ip": "172.16.0.1",
            "destination.ip": "172.16.0.2",
            "network.type": "ipv4",
            "network.transport": "gre",
            "network.iana_number": 47,
            "network.bytes": 600,
            "pcaptotal.outer.source.ip": ["198.51.100.1"],
            "pcaptotal.outer.destination.ip": ["198.51.100.2"],
        },
    ),
}
BY_ID = {doc["event.id"]: name for name, doc in DOCS.items()}
ORDER = ["http", "dns", "tls", "icmp", "dns6", "tls6", "ssh", "gre"]  # event.start, then _id
ALL = set(ORDER)


# The osmem case starts a real server: integration tier (make test-unit leaves it out).
@pytest.fixture(
    params=["tantivy", "tantivy-prepared", pytest.param("osmem", marks=pytest.mark.integration)]
)
async def index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Index]:
    idx = ADAPTERS[request.param](request, tmp_path)
    await idx.start()
    try:
        yield idx
    finally:
        if isinstance(idx, ElasticsearchIndex):
            await idx.delete_indices()
        await idx.close()


@pytest.fixture
async def loaded(index: Index) -> Index:
    await index.add_flows(list(DOCS.values())[:5])  # two batches: more than one segment
    await index.add_flows(list(DOCS.values())[5:])
    return index


async def names(index: Index, text: str, **kw: Any) -> list[str]:
    result = await index.search_flows(parse_query(text), limit=100, **kw)
    assert result.total == len(result.hits)
    return [BY_ID[h["event.id"]] for h in result.hits]


QUERIES: list[tuple[str, set[str]]] = [
    ("", ALL),
    ("*", ALL),
    # terms, phrases, case
    ("network.transport:tcp", {"http", "tls", "tls6", "ssh"}),
    ("network.transport:TCP", set()),
    ('dns.question.name:"en.wikipedia.org"', {"dns"}),
    ('user_agent.original:"Mozilla/5.0 (X11; Linux x86_64)"', {"http"}),
    ("http.response.status_code:200", {"http"}),
    ("pcaptotal.tcp_flags:RST", {"ssh"}),
    ("network.protocol:dns", {"dns", "dns6"}),
    # bare terms: every keyword field, and ip fields for addresses
    ("en.wikipedia.org", {"dns", "tls"}),
    ("208.80.154.224", {"dns", "tls"}),  # dns.answers.data and destination.ip
    ('"2001:db8::53"', {"dns6"}),
    # boolean logic
    ("network.transport:tcp AND destination.port:443", {"tls", "tls6"}),
    ("network.transport:tcp destination.port:443", {"tls", "tls6"}),
    ("network.transport:udp OR network.transport:icmp", {"dns", "dns6", "icmp"}),
    ("network.transport:(udp OR icmp)", {"dns", "dns6", "icmp"}),
    ("NOT network.transport:tcp", {"dns", "icmp", "dns6", "gre"}),
    ("-network.transport:tcp", {"dns", "icmp", "dns6", "gre"}),
    ("network.transport:tcp -destination.port:443", {"http", "ssh"}),
    ("network.transport:tcp AND NOT (destination.port:443 OR destination.port:22)", {"http"}),
    (
        "(network.transport:tcp AND destination.port:22) OR dns.question.name:www.wikipedia.org",
        {"ssh", "dns6"},
    ),
    ("NOT *", set()),
    # numeric ranges
    ("destination.port:[1 TO 80]", {"http", "dns", "dns6", "ssh"}),
    ("destination.port:{53 TO 443}", {"http"}),
    ("destination.port:[53 TO 443}", {"http", "dns", "dns6"}),
    ("destination.port:>=443", {"tls", "tls6"}),
    ("destination.port:>53", {"http", "tls", "tls6"}),
    ("destination.port:<53", {"ssh"}),
    ("network.bytes:>10000", {"tls", "ssh"}),
    ("network.bytes:[100 TO 1000]", {"dns", "dns6", "gre"}),
    ("network.bytes:[* TO *]", ALL),
    # dates (sub-second precision, ES-style rounding of coarse values)
    ("event.start:[2009-11-18T16:43:00.5 TO 2009-11-18T16:44:00]", {"dns", "tls", "icmp"}),
    ("event.start:<2009-11-18T16:43:00.5", {"http"}),
    ('event.start:"2009-11-18T16:43:00.123456Z"', {"http"}),
    ("event.start:2009-11-18T16:43:00", {"http", "dns"}),
    ("event.start:2009-11-18", {"http", "dns", "tls", "icmp", "dns6"}),
    ("event.start:>2009-11-18", {"tls6", "ssh"}),
    ('event.start:>="2010-01-01T01:00:00+01:00"', {"tls6", "ssh"}),
    ("event.start:>=now-1d", set()),
    ("tls.server.x509.not_after:<2010-06-01", {"tls"}),
    # ip: exact, CIDR v4 and v6, ranges
    ("source.ip:192.168.1.10", {"http", "dns", "tls", "icmp"}),
    ('source.ip:"2001:db8::10"', {"dns6"}),
    ('destination.ip:"10.0.0.0/8"', {"icmp", "ssh"}),
    ("destination.ip:10.0.0.0/8", {"icmp", "ssh"}),
    ("destination.ip:0.0.0.0/0", {"http", "dns", "tls", "icmp", "ssh", "gre"}),
    ('source.ip:"2001:db8::/32"', {"dns6", "tls6"}),
    ('destination.ip:"2001:db8::/48"', {"dns6"}),
    ("destination.ip:[10.0.0.0 TO 10.0.0.255]", {"icmp"}),
    ("pcaptotal.outer.source.ip:198.51.100.0/24", {"gre"}),
    # wildcards, regex, fuzzy
    ("dns.question.name:*.wikipedia.org", {"dns", "dns6"}),
    ("dns.question.name:www.*", {"dns6"}),
    ("tls.client.server_name:*wiki*", {"tls"}),
    ("*wiki*", {"dns", "tls", "dns6"}),
    ("user_agent.original:Mozilla*", {"http"}),
    ("url.domain:exa?ple.com", {"http"}),
    ('tls.server.x509.subject.common_name:"*.wikipedia.org"', {"tls"}),
    (r"tls.server.x509.subject.common_name:\*.wikipedia.org", {"tls"}),
    ("dns.question.name:/.*wiki.*/", {"dns", "dns6"}),
    ("url.domain:exampel.com~1", {"http"}),
    # exists
    ("_exists_:tls.version", {"tls", "tls6"}),
    ("dns.question.name:*", {"dns", "dns6"}),
    ("NOT _exists_:event.start", {"gre"}),
    ("_exists_:source.port AND NOT _exists_:network.protocol", set()),
    ("_exists_:pcaptotal.outer.destination.ip", {"gre"}),
]


@pytest.mark.parametrize(("text", "expected"), QUERIES, ids=[q or "<empty>" for q, _ in QUERIES])
async def test_query_hits(loaded: Index, text: str, expected: set[str]) -> None:
    assert set(await names(loaded, text)) == expected


async def test_hits_are_the_documents_in_time_order(loaded: Index) -> None:
    result = await loaded.search_flows(parse_query(""), limit=100)
    assert result.total == len(DOCS)
    assert [BY_ID[h["event.id"]] for h in result.hits] == ORDER
    assert result.hits == [DOCS[n] for n in ORDER]


async def test_capture_restriction(loaded: Index) -> None:
    assert await names(loaded, "*", capture_id=C2) == ["tls6", "ssh", "gre"]
    assert await names(loaded, "network.transport:tcp", capture_id=C1) == ["http", "tls"]
    assert await names(loaded, "*", capture_id="0" * 64) == []


@pytest.mark.parametrize(
    ("limit", "offset", "expected"),
    [
        (3, 0, ORDER[:3]),
        (3, 2, ORDER[2:5]),
        (2, 4, ["dns6", "tls6"]),  # page boundary inside a run of equal start times
        (1, 6, ["ssh"]),
        (5, 6, ["ssh", "gre"]),
        (10, 8, []),
        (10, 100, []),
        (0, 0, []),
    ],
)
async def test_limit_offset_total(
    loaded: Index, limit: int, offset: int, expected: list[str]
) -> None:
    result = await loaded.search_flows(parse_query("*"), limit=limit, offset=offset)
    assert result.total == len(DOCS)
    assert [BY_ID[h["event.id"]] for h in result.hits] == expected


async def test_total_counts_all_matches_not_the_page(loaded: Index) -> None:
    result = await loaded.search_flows(parse_query("network.transport:tcp"), limit=1, offset=1)
    assert result.total == 4
    assert [BY_ID[h["event.id"]] for h in result.hits] == ["tls"]


async def test_get_flow(loaded: Index) -> None:
    assert await loaded.get_flow(DOCS["tls6"]["event.id"]) == DOCS["tls6"]
    assert await loaded.get_flow(f"{C1}-tcp-999") is None


async def test_upsert_is_idempotent(loaded: Index) -> None:
    await loaded.add_flows([DOCS["http"]])
    await loaded.add_flows([DOCS["http"], DOCS["dns"]])
    assert (await loaded.search_flows(parse_query(""), limit=100)).total == len(DOCS)
    changed = {**DOCS["http"], "destination.port": 8080}
    await loaded.add_flows([changed])
    assert await names(loaded, "destination.port:8080") == ["http"]
    assert await names(loaded, "destination.port:80") == []
    assert await loaded.get_flow(changed["event.id"]) == changed


async def test_a_batch_of_new_records_and_one_replacement(loaded: Index) -> None:
    # an upsert batch may mix new ids with ids already in the index
    new = {**DOCS["dns"], "event.id": f"{C1}-udp-777", "destination.port": 5353}
    changed = {**DOCS["http"], "destination.port": 8080}
    await loaded.add_flows([new, changed])
    assert (await loaded.search_flows(parse_query(""), limit=100)).total == len(DOCS) + 1
    assert await loaded.get_flow(changed["event.id"]) == changed
    assert await loaded.get_flow(new["event.id"]) == new
    assert await names(loaded, "destination.port:80") == []


async def test_duplicate_ids_in_one_batch_keep_the_last(index: Index) -> None:
    first = DOCS["ssh"]
    second = {**first, "destination.port": 2222}
    await index.add_flows([first, second])
    assert await names(index, "*") == ["ssh"]
    assert await index.get_flow(first["event.id"]) == second


async def test_add_nothing(index: Index) -> None:
    await index.add_flows([])
    assert (await index.search_flows(parse_query(""))).total == 0


async def test_delete_flows_of_one_capture(loaded: Index) -> None:
    await loaded.delete_flows(C1)
    assert await names(loaded, "*") == ["tls6", "ssh", "gre"]
    assert await loaded.get_flow(DOCS["http"]["event.id"]) is None
    await loaded.delete_flows(C1)  # idempotent
    await loaded.delete_flows(C2)
    assert await names(loaded, "*") == []


def capture(cid: str, status: str, created: str) -> dict[str, Any]:
    return {
        "id": cid,
        "status": status,
        "error": None,
        "warnings": [],
        "size": 1234,
        "filename": "x.pcap",
        "created": created,
        "updated": created,
        "summary": {"packets": 10, "flows": {"tcp": 1, "udp": 0, "other": 0}},
        "status_times": {status: created},
    }


async def test_captures_put_get_find(index: Index) -> None:
    c3 = hashlib.sha256(b"capture three").hexdigest()
    one = capture(C1, "done", "2024-01-01T00:00:00+00:00")
    two = capture(C2, "parsing", "2024-01-02T00:00:00+00:00")
    three = capture(c3, "failed", "2024-01-03T00:00:00.5+00:00")
    for doc in (one, two, three):
        await index.put_capture(doc)
    assert await index.get_capture(C1) == one
    assert await index.get_capture("f" * 64) is None
    assert await index.find_captures() == [three, two, one]  # newest first
    assert await index.find_captures(limit=2) == [three, two]
    assert await index.find_captures(["done"]) == [one]
    assert await index.find_captures(["parsing", "failed"]) == [three, two]
    assert await index.find_captures(["enriching"]) == []
    assert await index.find_captures([]) == []

    updated = {**two, "status": "done", "updated": "2024-01-02T00:01:00+00:00"}
    await index.put_capture(updated)  # upsert by id
    assert await index.get_capture(C2) == updated
    assert await index.find_captures(["done"]) == [updated, one]
    assert await index.find_captures(["parsing"]) == []


async def test_change_capture_is_atomic(index: Index) -> None:
    # Ten writers at once, each adding its own tag: a read-modify-write that is not atomic
    # (get, change, put) keeps only some of them.
    assert await index.change_capture(C1, lambda doc: doc) is None  # nothing there, nothing put
    assert await index.get_capture(C1) is None
    created = await index.change_capture(
        C1, lambda doc: doc or capture(C1, "stored", "2024-01-01T00:00:00+00:00")
    )
    assert created is not None and await index.get_capture(C1) == created

    def tag(n: int) -> Callable[[dict[str, Any] | None], dict[str, Any] | None]:
        def change(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            assert doc is not None
            doc["tags"] = [*doc.get("tags", []), f"t{n}"]
            return doc

        return change

    await asyncio.gather(*(index.change_capture(C1, tag(n)) for n in range(10)))
    stored = await index.get_capture(C1)
    assert stored is not None and sorted(stored["tags"]) == sorted(f"t{n}" for n in range(10))
    with pytest.raises(ValueError, match="another id"):
        await index.change_capture(C1, lambda doc: {**(doc or {}), "id": C2})


async def test_capture_updates_do_not_erase_each_other(index: Index) -> None:
    # A stage's status and progress writes racing an owner's edit of the context.
    captures = CaptureRepository(index)
    await captures.create(C1, size=10, filename="a.pcap")
    await captures.update(C1, Status.PARSING)
    progress = {"stage": "parsing", "packets_processed": 1}
    await asyncio.gather(
        captures.update(C1, context={"tags": ["mine"]}),
        *(captures.set_progress(C1, {**progress, "packets_processed": n}) for n in range(5)),
        captures.update(C1, summary={"packets": 10}),
    )
    doc = await index.get_capture(C1)
    assert doc is not None and doc["status"] == "parsing"
    assert doc["context"] == {"tags": ["mine"]} and doc["summary"] == {"packets": 10}
    assert doc["progress"]["stage"] == "parsing"


async def test_find_captures_by_updated_and_verdict(index: Index) -> None:
    c3 = hashlib.sha256(b"capture three").hexdigest()
    one = {**capture(C1, "done", "2024-01-01T00:00:00+00:00"), "verdict": "malicious"}
    two = {
        **capture(C2, "done", "2024-01-02T00:00:00+00:00"),
        "updated": "2024-03-01T12:00:00.250+00:00",
        "verdict": "suspicious",
    }
    three = {**capture(c3, "parsing", "2024-01-03T00:00:00+00:00"), "updated": "2024-02-01"}
    for doc in (one, two, three):
        await index.put_capture(doc)
    since = datetime(2024, 1, 15, tzinfo=UTC)
    assert await index.find_captures(updated_since=since) == [three, two]
    assert await index.find_captures(updated_since=datetime(2024, 3, 1, 12)) == [two]  # naive=UTC
    boundary = datetime(2024, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    assert await index.find_captures(updated_since=boundary) == [two]  # inclusive
    assert await index.find_captures(updated_since=datetime(2024, 3, 2, tzinfo=UTC)) == []
    assert await index.find_captures(verdicts=["malicious", "suspicious"]) == [two, one]
    assert await index.find_captures(verdicts=["suspicious"]) == [two]
    assert await index.find_captures(verdicts=[]) == []
    both = await index.find_captures(["done"], updated_since=since, verdicts=["suspicious"])
    assert both == [two]
    assert await index.find_captures(["parsing"], verdicts=["suspicious"]) == []
    moved = {**one, "updated": "2024-04-01T00:00:00+00:00", "verdict": "clean"}
    await index.put_capture(moved)  # the filters follow the upserted document
    assert await index.find_captures(updated_since=since, verdicts=["clean"]) == [moved]
    assert await index.find_captures(verdicts=["malicious"]) == []


async def test_data_persists_across_close_and_start(loaded: Index) -> None:
    await loaded.put_capture(capture(C1, "done", "2024-01-01T00:00:00+00:00"))
    await loaded.close()
    await loaded.start()
    assert await names(loaded, "*") == ORDER
    assert (await loaded.get_capture(C1) or {})["status"] == "done"
    await loaded.add_flows([{**DOCS["gre"], "network.bytes": 1}])  # writable again
    assert await names(loaded, "network.bytes:1") == ["gre"]


async def test_ping(index: Index) -> None:
    assert await index.ping() is True


# -- tantivy specifics ----------------------------------------------------------------------------


SAMPLE_VALUES = {
    FieldType.KEYWORD: "v",
    FieldType.TEXT: "some words",
    FieldType.IP: "2001:db8::1",
    FieldType.LONG: 7,
    FieldType.FLOAT: 0.5,
    FieldType.DATE: "2009-11-18T16:43:00.123456+00:00",
    FieldType.BOOL: True,
}


def test_tantivy_schema_indexes_every_declared_field() -> None:
    tantivy_schema()  # builds from FLOW_FIELDS
    doc = {f.name: SAMPLE_VALUES[f.type] for f in FLOW_FIELDS}
    indexed = flow_document(doc).to_dict()
    assert set(indexed) == {f.name for f in FLOW_FIELDS} | {"_source"}
    assert indexed["event.start"] == [1258562580123456]  # µs since the epoch
    multi = flow_document({"event.id": "x", "dns.question.name": ["a", "b"], "source.ip": None})
    assert multi.to_dict()["dns.question.name"] == ["a", "b"]
    assert "source.ip" not in multi.to_dict()


@pytest.mark.parametrize(
    ("field", "value"),
    [("source.ip", "not-an-ip"), ("destination.port", "80"), ("event.start", "yesterday")],
)
def test_tantivy_rejects_bad_values_naming_the_field(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"flow x: bad .* value '{value}' for '{field}'"):
        flow_document({"event.id": "x", field: value})


TANTIVY_WRITES = pytest.mark.parametrize("kind", [TantivyIndex, PreparedTantivy])


@TANTIVY_WRITES
async def test_tantivy_bad_batch_writes_nothing(tmp_path: Path, kind: type[TantivyIndex]) -> None:
    idx = kind(tmp_path)
    await idx.start()
    try:
        with pytest.raises(ValueError, match=r"destination\.port"):
            await idx.add_flows([DOCS["http"], {**DOCS["dns"], "destination.port": "x"}])
        assert (await idx.search_flows(parse_query(""))).total == 0
    finally:
        await idx.close()


@TANTIVY_WRITES
async def test_tantivy_record_without_an_id_late_in_a_batch_rolls_the_batch_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: type[TantivyIndex]
) -> None:
    """Sent to the writer process a chunk at a time, a batch whose later record has no id
    fails naming that, and the chunks the writer took before it are not committed later."""
    monkeypatch.setattr(tantivy_index, "_CONVERT_CHUNK", 1)
    idx = kind(tmp_path)
    await idx.start()
    try:
        nameless = {k: v for k, v in DOCS["dns"].items() if k != "event.id"}
        with pytest.raises(ValueError, match=r"without a string event\.id"):
            await idx.add_flows([DOCS["http"], DOCS["tls"], nameless])
        await idx.add_flows([DOCS["ssh"]])  # commits: nothing of the failed batch with it
        assert await names(idx, "") == ["ssh"]
    finally:
        await idx.close()


@TANTIVY_WRITES
async def test_tantivy_bad_record_late_in_a_batch_rolls_the_batch_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: type[TantivyIndex]
) -> None:
    """Converted a chunk at a time, a batch whose bad record comes after others were written
    still leaves the index as it was: the earlier records' adds and deletes are undone."""
    monkeypatch.setattr(tantivy_index, "_CONVERT_CHUNK", 1)
    idx = kind(tmp_path)
    await idx.start()
    try:
        await idx.add_flows([DOCS["http"]])
        changed = {**DOCS["http"], "network.bytes": 1}
        with pytest.raises(ValueError, match=r"destination\.port"):
            await idx.add_flows([changed, DOCS["tls"], {**DOCS["dns"], "destination.port": "x"}])
        hits = (await idx.search_flows(parse_query(""))).hits
        assert hits == [DOCS["http"]]
        await idx.add_flows([DOCS["tls"]])  # the writer still writes, and nothing undone
        assert (await idx.search_flows(parse_query(""))).total == 2  # comes back with it
        assert await idx.get_flow(DOCS["http"]["event.id"]) == DOCS["http"]
    finally:
        await idx.close()


async def test_tantivy_prepared_encoding_it_refuses_is_indexed_from_the_record(
    tmp_path: Path,
) -> None:
    """An encoding tantivy's JSON reader refuses (here a number where an address goes) does
    not lose the record: it is indexed from the record itself, fields and all."""
    idx = TantivyIndex(tmp_path)
    await idx.start()
    try:
        refused = json.dumps({"event.id": DOCS["http"]["event.id"], "source.ip": 5})
        await idx.add_prepared(
            [PreparedRecord.of(refused, DOCS["http"]), PreparedRecord.of(None, DOCS["dns"])]
        )
        assert "http" in await names(idx, f'source.ip:"{DOCS["http"]["source.ip"]}"')
        assert await names(idx, "destination.port:80") == ["http"]  # not in the encoding
        assert await idx.get_flow(DOCS["http"]["event.id"]) == DOCS["http"]
        assert (await idx.search_flows(parse_query(""))).total == 2
    finally:
        await idx.close()


def test_tantivy_encoding_leaves_unusual_records_to_the_record() -> None:
    encode = record_formats.encoder(record_formats.TANTIVY)
    assert encode(DOCS["http"]) is not None
    assert encode({**DOCS["dns"], "destination.port": "x"}) is None  # bad: add_flows names it
    assert encode({"source.ip": "10.0.0.1"}) is None  # no event.id
    assert record_formats.encoder(record_formats.PLAIN)(DOCS["http"]) is None


async def test_tantivy_reopen_with_a_new_instance(tmp_path: Path) -> None:
    first = TantivyIndex(tmp_path)
    await first.start()
    await first.add_flows([DOCS["http"]])
    await first.close()
    second = TantivyIndex(tmp_path)
    await second.start()
    try:
        assert await second.get_flow(DOCS["http"]["event.id"]) == DOCS["http"]
        assert (tmp_path / "flows").is_dir() and (tmp_path / "captures").is_dir()
    finally:
        await second.close()


def _entries(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


async def test_tantivy_rebuilds_a_captures_index_of_an_older_schema(tmp_path: Path) -> None:
    # captures/ as the schema before ``updated``/``verdict`` were indexed wrote it
    sb = tantivy.SchemaBuilder()
    for name in ("id", "status"):
        sb.add_text_field(name, fast=True, tokenizer_name="raw", index_option="basic")
    sb.add_integer_field("created", indexed=True, fast=True)
    sb.add_bytes_field("_source", stored=True)
    (tmp_path / "captures").mkdir()
    old = tantivy.Index(sb.build(), path=str(tmp_path / "captures"))
    writer = old.writer(15_000_000, 1)
    doc = {**capture(C1, "done", "2024-01-01T00:00:00+00:00"), "verdict": "malicious"}
    tdoc = tantivy.Document()
    tdoc.add_text("id", C1)
    tdoc.add_bytes("_source", json.dumps(doc).encode())
    writer.add_document(tdoc)
    writer.commit()
    writer.wait_merging_threads()
    idx = TantivyIndex(tmp_path)
    await idx.start()
    try:
        assert await idx.get_capture(C1) == doc
        assert await idx.find_captures(verdicts=["malicious"]) == [doc]
        assert _entries(tmp_path) == ["captures", "flows"]
    finally:
        await idx.close()


async def test_tantivy_not_started(tmp_path: Path) -> None:
    idx = TantivyIndex(tmp_path)
    assert await idx.ping() is False
    with pytest.raises(RuntimeError, match="not started"):
        await idx.get_flow("x")
    await idx.close()  # closing an unstarted index is harmless
