"""Acceptance: every shared capture uploaded through the HTTP API of the all-in-one runner.

Oracles are tshark's own numbers, computed here (tests/tshark_oracle.py), never stored.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import search_oracle
from tests.e2e.conftest import Server, wait_finished
from tests.paths import shared_captures
from tests.tshark_oracle import oracle_summary

pytestmark = pytest.mark.e2e

CAPTURES = shared_captures()


@pytest.fixture(scope="module")
def analysed(server: Server) -> dict[str, dict[str, Any]]:
    """Upload every capture, wait for each to finish; name -> capture document."""
    ids: dict[str, str] = {}
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        for path in CAPTURES:
            with path.open("rb") as fh:
                r = client.post("/v1/captures", files={"file": (path.name, fh)})
            assert r.status_code == 202, r.text
            body = r.json()
            assert body["capture_id"] == hashlib.sha256(path.read_bytes()).hexdigest()
            ids[path.name] = body["capture_id"]
    return {name: wait_finished(server.base_url, cid) for name, cid in ids.items()}


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_summary_equals_tshark(analysed: dict[str, dict[str, Any]], path: Path) -> None:
    doc = analysed[path.name]
    assert doc["status"] == "done", doc
    assert doc["summary"] == oracle_summary(path)


def test_damaged_capture_done_with_warning(analysed: dict[str, dict[str, Any]]) -> None:
    doc = analysed["suricata-verify_damaged-file-tls-der.pcap"]
    assert doc["status"] == "done"
    assert any("damaged" in w or "corrupt" in w for w in doc["warnings"]), doc["warnings"]


def _search(server: Server, q: str, capture: str | None = None) -> set[tuple[str, str]]:
    params = {"q": q, "limit": "10000", "dataset": "flow"}  # flow keys: the flows
    if capture:
        params["capture"] = capture
    r = httpx.get(f"{server.base_url}/v1/search", params=params, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["hits"])
    return {(h["pcaptotal.capture_id"], h["pcaptotal.flow_key"]) for h in body["hits"]}


def _expected(analysed: dict[str, dict[str, Any]], per_capture: Any) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for path in CAPTURES:
        out |= {(analysed[path.name]["capture_id"], k) for k in per_capture(path)}
    return out


@pytest.mark.parametrize(
    ("query", "oracle"),
    [
        (
            "dns.question.name:*.wikimedia.org",
            lambda p: search_oracle.dns_suffix(p, ".wikimedia.org"),
        ),
        (
            "dns.question.name:*.wikipedia.org",
            lambda p: search_oracle.dns_suffix(p, ".wikipedia.org"),
        ),
        (
            "url.domain:www.wikipedia.org",
            lambda p: search_oracle.streams_matching(p, 'http.host == "www.wikipedia.org"'),
        ),
        ("destination.port:8080", lambda p: search_oracle.destination_port(p, 8080)),
        ('tls.client.server_name:"google.de"', lambda p: search_oracle.sni_equals(p, "google.de")),
        (
            'source.ip:"10.0.0.0/8" AND network.transport:udp',
            lambda p: search_oracle.udp_from_network(p, "10.0.0.0/8"),
        ),
    ],
)
def test_search_equals_tshark(
    server: Server, analysed: dict[str, dict[str, Any]], query: str, oracle: Any
) -> None:
    expected = _expected(analysed, oracle)
    # No shared capture asks DNS for *.wikipedia.org (only wikimedia.org): that one must be empty.
    assert expected or "wikipedia" in query, "the oracle found nothing: the test proves nothing"
    assert _search(server, query) == expected


def test_search_restricted_to_capture(server: Server, analysed: dict[str, dict[str, Any]]) -> None:
    cid = analysed["zeek_wikipedia-dns-http.pcap"]["capture_id"]
    hits = _search(server, "network.transport:tcp", capture=cid)
    assert {c for c, _ in hits} == {cid}
    assert len(hits) == analysed["zeek_wikipedia-dns-http.pcap"]["summary"]["flows"]["tcp"]


@pytest.mark.parametrize(
    ("q", "needle"),
    [
        ("nosuch.field:1", "nosuch.field"),
        ("destination.port:abc", "destination.port"),
        ('source.ip:"not-an-ip"', "source.ip"),
        ("destination.port:[1 TO", "query"),
    ],
)
def test_bad_queries_are_400(server: Server, q: str, needle: str) -> None:
    r = httpx.get(f"{server.base_url}/v1/search", params={"q": q}, timeout=10)
    assert r.status_code == 400, r.text
    assert needle in r.json()["detail"]


def test_reupload_returns_existing(server: Server, analysed: dict[str, dict[str, Any]]) -> None:
    path = CAPTURES[0]
    r = httpx.post(f"{server.base_url}/v1/captures", content=path.read_bytes(), timeout=60)
    assert r.status_code == 200
    assert r.json() == {"capture_id": analysed[path.name]["capture_id"], "status": "done"}


def test_fields_and_docs(server: Server) -> None:
    r = httpx.get(f"{server.base_url}/v1/fields", timeout=10)
    names = {f["name"] for f in r.json()["fields"]}
    assert {"source.ip", "dns.question.name", "tls.client.ja3"} <= names
    assert httpx.get(f"{server.base_url}/docs", timeout=10).status_code == 200
    assert httpx.get(f"{server.base_url}/openapi.json", timeout=10).status_code == 200
    metrics = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    assert 'pcaptotal_capture_status_transitions_total{status="done"}' in metrics


def test_verdicts_on_capture_documents(server: Server, analysed: dict[str, dict[str, Any]]) -> None:
    assert analysed["corelight_asyncrat-c2.pcap"]["verdict"] in ("suspicious", "malicious")
    assert analysed["slips_iot-telnet-scan.pcap"]["verdict"] in ("suspicious", "malicious")
    assert analysed["zeek_http-zip-download.pcap"]["verdict"] == "clean"
    asyncrat = analysed["corelight_asyncrat-c2.pcap"]
    assert asyncrat["reasons"] and asyncrat["finding_count"] and asyncrat["finding_summary"]
    hits = _search(server, "NOT pcaptotal.verdict:clean", capture=asyncrat["capture_id"])
    assert hits, "the flows behind a non-clean verdict are searchable"
