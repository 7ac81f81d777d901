"""The cross-capture layer over HTTP on the all-in-one runner (tantivy): indicator pivots,
similar captures and stats, over several shared captures, a feed, and a cut of one capture
(editcap) that shares its TLS client with the whole."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server, wait_finished
from tests.integration.test_detection_with_feeds import THREATFOX
from tests.paths import PCAPS

pytestmark = pytest.mark.e2e

RAW = {"content-type": "application/octet-stream"}
NAMES = [
    "zeek_wikipedia-dns-http.pcap",
    "zeek_tls12-chrome34-google.pcap",
    "zeek_tls13-chrome125-kyber.pcap",
    "zeek_http-bro.org-browse.pcap",
    "corelight_asyncrat-c2.pcap",
    "zeek_dns-edns-ecs.pcap",
]
CUT = "chrome34-first-10.pcap"
ASYNCRAT_C2 = "carlosenriquezdomin.con-ip.com"
CONTEXT = {
    "sector": "financial-services",
    "tags": ["lab", "rat"],
    "source": "corelight test data",
    "description": "AsyncRAT C2 over TLS",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("cross")
    srv = start_server(d / "data", d / "server.log")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def ids(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cut = tmp_path_factory.mktemp("cut") / CUT
    subprocess.run(
        ["editcap", "-r", str(PCAPS / "zeek_tls12-chrome34-google.pcap"), str(cut), "1-10"],
        check=True,
        timeout=60,
    )
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        r = client.post(
            "/v1/intel/feeds",
            params={"name": "threatfox_export.csv"},
            content=THREATFOX.encode(),
            headers=RAW,
        )
        assert r.status_code == 201, r.text
        out: dict[str, str] = {}
        for path in [*(PCAPS / n for n in NAMES), cut]:
            params: dict[str, Any] = {"filename": path.name}
            if path.name == "corelight_asyncrat-c2.pcap":
                params |= CONTEXT
            r = client.post("/v1/captures", content=path.read_bytes(), params=params)
            assert r.status_code == 202, r.text
            out[path.name] = r.json()["capture_id"]
        for cid in out.values():
            assert wait_finished(server.base_url, cid)["status"] == "done"
    return out


def _get(server: Server, path: str, **params: Any) -> Any:
    r = httpx.get(f"{server.base_url}{path}", params=params, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def _times(hits: list[dict[str, Any]]) -> list[datetime]:
    return [datetime.fromisoformat(h["@timestamp"]) for h in hits]


def test_indicator_dns_name_first_and_last_seen(server: Server, ids: dict[str, str]) -> None:
    wiki = ids["zeek_wikipedia-dns-http.pcap"]
    dns = _get(server, f"/v1/captures/{wiki}/dns", limit=1000)["hits"]
    name = dns[0]["dns"]["question"]["name"] if "dns" in dns[0] else None
    name = name or dns[0]["dns.question"][0]["name"]
    fields = [
        "dns.question.name",
        "tls.client.server_name",
        "url.domain",
        "dns.answers.data",
        "tls.server.x509.alternative_names",
    ]
    q = " OR ".join(f'{f}:"{name}"' for f in fields)
    # the same records found by the search route (another code path), every kind
    every = _get(server, "/v1/search", q=f"event.dataset:* AND ({q})", limit=10000)["hits"]
    assert every
    got = _get(server, f"/v1/indicators/{name}", limit=1000)
    assert got["kind"] == "domain" and got["value"] == name
    assert got["records_total"] == len(every) == len(got["records"])
    assert {h["event.id"] for h in got["records"]} == {h["event.id"] for h in every}
    first, last = min(_times(every)), max(_times(every))
    assert datetime.fromisoformat(got["first_seen"]) == first
    assert datetime.fromisoformat(got["last_seen"]) == last
    sightings = {c["capture_id"]: c for c in got["captures"]}
    assert wiki in sightings and got["captures_total"] == len(sightings)
    own = [h for h in every if h["pcaptotal.capture_id"] == wiki]
    assert sightings[wiki]["records"] == len(own)
    assert datetime.fromisoformat(sightings[wiki]["first_seen"]) == min(_times(own))
    assert sightings[wiki]["verdict"] in ("clean", "suspicious", "malicious")
    assert {d["key"] for d in sightings[wiki]["datasets"]} >= {"dns", "flow"}
    assert got["feeds_available"] is True and got["feeds"] == []


def test_indicator_pages_records_with_the_cursor(server: Server, ids: dict[str, str]) -> None:
    wiki = ids["zeek_wikipedia-dns-http.pcap"]
    flows = _get(server, f"/v1/captures/{wiki}/flows", limit=1)["hits"]
    ip = flows[0]["destination.ip"]
    whole = _get(server, f"/v1/indicators/{ip}", limit=1000)
    assert whole["kind"] == "ip" and whole["records_total"] == len(whole["records"]) > 1
    seen, cursor = [], None
    for _ in range(1000):
        page = _get(
            server, f"/v1/indicators/{ip}", limit=1, **({"cursor": cursor} if cursor else {})
        )
        seen += [h["event.id"] for h in page["records"]]
        cursor = page["cursor"]
        if cursor is None:
            break
    assert seen == [h["event.id"] for h in whole["records"]]


def test_indicator_named_by_a_feed(server: Server, ids: dict[str, str]) -> None:
    got = _get(server, f"/v1/indicators/{ASYNCRAT_C2}")
    assert [c["capture_id"] for c in got["captures"]] == [ids["corelight_asyncrat-c2.pcap"]]
    assert got["captures"][0]["verdict"] == "malicious"
    assert got["verdicts"] == [{"key": "malicious", "count": 1, "sum": None}]
    (feed,) = got["feeds"]
    assert feed["feed"] == "threatfox_export.csv" and feed["family"] == "AsyncRAT"
    assert [b["key"] for b in got["feeds_at_analysis"]] == ["threatfox_export.csv"]


def test_indicator_kinds_and_bad_values(server: Server) -> None:
    ja3 = _get(server, "/v1/indicators/" + "0" * 32)
    assert ja3["kind"] == "md5-or-ja3" and ja3["records_total"] == 0
    assert ja3["captures"] == [] and ja3["first_seen"] is None
    ua = _get(server, "/v1/indicators/Mozilla%2F5.0 nothing like this")
    assert ua["kind"] == "user-agent"
    r = httpx.get(f"{server.base_url}/v1/indicators/nope", params={"kind": "ip"}, timeout=10)
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"


def test_captures_sharing_a_tls_client_rank_each_other_first(
    server: Server, ids: dict[str, str]
) -> None:
    whole, cut = ids["zeek_tls12-chrome34-google.pcap"], ids[CUT]
    tls = _get(server, f"/v1/captures/{cut}/tls")["hits"]
    ja3 = tls[0]["tls.client.ja3"]
    for one, other in ((whole, cut), (cut, whole)):
        got = _get(server, f"/v1/captures/{one}/similar", intensity=1)
        assert got["captures_in_index"] == len(ids)
        best = got["results"][0]
        assert best["capture_id"] == other, got["results"][:2]
        shared = {(s["field"], s["value"]): s for s in best["shared"]}
        assert shared[("ja3", ja3)]["captures_with_value"] == 2
        assert 0 < best["score"] <= 1
        assert one not in [r["capture_id"] for r in got["results"]]
        scores = [r["score"] for r in got["results"]]
        assert scores == sorted(scores, reverse=True)
    content = _get(server, f"/v1/captures/{cut}/similar", weighting_mode="content")
    assert content["weighting_mode"] == "content" and content["results"][0]["capture_id"] == whole


def test_uncommon_values_weigh_more(server: Server, ids: dict[str, str]) -> None:
    got = _get(server, f"/v1/captures/{ids[CUT]}/similar", prioritize_uncommon_fields="false")
    for result in got["results"]:
        by_field: dict[str, list[dict[str, Any]]] = {}
        for s in result["shared"]:
            by_field.setdefault(s["field"], []).append(s)
        for values in by_field.values():  # within a field: rarer → heavier
            ordered = sorted(values, key=lambda s: s["captures_with_value"])
            assert [s["weight"] for s in ordered] == sorted(
                (s["weight"] for s in ordered), reverse=True
            )


def test_stats_histograms_and_malicious_tops(server: Server, ids: dict[str, str]) -> None:
    got = _get(server, "/v1/stats", interval="week")
    assert got["captures_total"] == len(ids)
    assert sum(p["count"] for p in got["captures"]) == len(ids)
    assert {b["key"]: b["count"] for b in got["verdict_totals"]}["malicious"] >= 1
    assert "AsyncRAT" in {b["key"] for b in got["family_totals"]}
    assert got["malicious_top"]["captures"] >= 1
    asyncrat = ids["corelight_asyncrat-c2.pcap"]
    flows = _get(server, f"/v1/captures/{asyncrat}/flows", limit=1000)["hits"]
    assert {b["key"] for b in got["malicious_top"]["destinations"]} & {
        f["destination.ip"] for f in flows
    }
    assert got["intel_totals"] and got["intel_totals"][0]["key"] == "threatfox_export.csv"
    for points in (got["findings"], got["intel_hits"]):
        assert all(sum(b["count"] for b in p["breakdown"]) >= p["count"] for p in points)
    one = _get(server, "/v1/stats", archive="malware/AsyncRAT")
    assert one["captures_total"] == 1
    assert one["captures"][0]["breakdown"] == [{"key": "malicious", "count": 1, "sum": None}]
    none = _get(server, "/v1/stats", since="2000-01-01T00:00:00Z", until="2000-01-02T00:00:00Z")
    assert none["captures_total"] == 0 and none["findings"] == []


def test_cross_routes_refuse_bad_input(server: Server) -> None:
    for path, params in (
        ("/v1/stats", {"archive": "nonsense"}),
        ("/v1/captures/" + "f" * 64 + "/similar", {}),
    ):
        r = httpx.get(f"{server.base_url}{path}", params=params, timeout=10)
        assert r.status_code == 404, r.text
    r = httpx.get(f"{server.base_url}/v1/captures/xyz/similar", timeout=10)
    assert r.status_code == 400
    r = httpx.get(f"{server.base_url}/v1/stats", params={"interval": "fortnight"}, timeout=10)
    assert r.status_code == 422


def test_context_at_upload_is_shown_and_counted_by_sector(
    server: Server, ids: dict[str, str]
) -> None:
    rat = ids["corelight_asyncrat-c2.pcap"]
    doc = _get(server, f"/v1/captures/{rat}")
    assert doc["context"] == CONTEXT
    assert _get(server, f"/v1/captures/{ids[CUT]}")["context"] is None
    stats = _get(server, "/v1/stats", sector="financial-services")
    assert stats["captures_total"] == 1
    assert stats["sector_totals"] == [{"key": "financial-services", "count": 1, "sum": None}]
    assert _get(server, "/v1/stats", sector="healthcare")["captures_total"] == 0


def test_context_edit(server: Server, ids: dict[str, str]) -> None:
    wiki = ids["zeek_wikipedia-dns-http.pcap"]
    url = f"{server.base_url}/v1/captures/{wiki}/context"
    r = httpx.patch(url, json={"sector": "healthcare", "tags": ["teaching"]}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "sector": "healthcare",
        "tags": ["teaching"],
        "source": None,
        "description": None,
    }
    r = httpx.patch(url, json={"source": "zeek tests"}, timeout=10)  # the rest stays
    assert r.json()["sector"] == "healthcare" and r.json()["source"] == "zeek tests"
    assert _get(server, f"/v1/captures/{wiki}")["context"]["source"] == "zeek tests"
    assert _get(server, "/v1/stats", sector="healthcare")["captures_total"] == 1
    r = httpx.patch(url, json={"sector": None, "tags": None}, timeout=10)
    assert r.json()["sector"] is None and r.json()["tags"] == []
    assert _get(server, "/v1/stats", sector="healthcare")["captures_total"] == 0
    for bad in ({"sector": "pirates"}, {"colour": "red"}, {"tags": ["x" * 101]}):
        assert httpx.patch(url, json=bad, timeout=10).status_code == 422
    r = httpx.post(
        f"{server.base_url}/v1/captures",
        content=(PCAPS / NAMES[0]).read_bytes(),
        params={"sector": "pirates"},
        timeout=30,
    )
    assert r.status_code == 422


def test_archives(server: Server, ids: dict[str, str]) -> None:
    rat = ids["corelight_asyncrat-c2.pcap"]
    listing = {a["name"]: a for a in _get(server, "/v1/archives")["archives"]}
    assert listing["malware/AsyncRAT"]["captures"] == 1
    findings = _get(server, f"/v1/captures/{rat}/findings", limit=1000)["hits"]
    heuristics = {
        f["pcaptotal.finding.name"]
        if isinstance(f["pcaptotal.finding.name"], str)
        else f["pcaptotal.finding.name"][0]
        for f in findings
        if f.get("pcaptotal.finding.source") == "heuristic"
    }
    assert heuristics and all(f"technique/{h}" in listing for h in heuristics)
    flows = _get(server, "/v1/search", q="network.protocol:dns", limit=10000)["hits"]
    with_dns = {f["pcaptotal.capture_id"] for f in flows}
    assert listing["protocol/dns"]["captures"] == len(with_dns)
    page = _get(server, "/v1/archives/malware/AsyncRAT")
    (one,) = page["captures"]
    assert page["total"] == 1 and one["capture_id"] == rat
    assert one["verdict"] == "malicious" and "AsyncRAT" in one["families"]
    assert one["sector"] == "financial-services" and one["summary"]["flows"]
    walked = []
    for offset in range(0, 100):
        part = _get(server, "/v1/archives/protocol/dns", limit=1, offset=offset)
        if offset >= part["total"]:
            break
        walked += [c["capture_id"] for c in part["captures"]]
    assert set(walked) == with_dns and len(walked) == len(with_dns)
    r = httpx.get(f"{server.base_url}/v1/archives/malware/NoSuchFamily", timeout=10)
    assert r.status_code == 404


def test_indicator_url_and_user_agent(server: Server, ids: dict[str, str]) -> None:
    wiki = ids["zeek_wikipedia-dns-http.pcap"]
    http = _get(server, f"/v1/captures/{wiki}/http", limit=1000)["hits"]
    url = http[0]["url.original"]
    url = url[0] if isinstance(url, list) else url
    same_url = [
        h
        for h in http
        if url
        in (h["url.original"] if isinstance(h["url.original"], list) else [h["url.original"]])
    ]
    got = _get(server, "/v1/indicators/" + quote(url, safe=""))
    assert got["kind"] == "url" and got["value"] == url
    assert {h["event.id"] for h in same_url} <= {h["event.id"] for h in got["records"]}
    agent = http[0]["user_agent.original"]
    agent = agent[0] if isinstance(agent, list) else agent
    ua = _get(server, "/v1/indicators/" + quote(agent, safe=""), kind="user-agent")
    assert ua["kind"] == "user-agent" and wiki in {c["capture_id"] for c in ua["captures"]}
    flows = _get(server, "/v1/search", q=f'user_agent.original:"{agent}"', limit=10000)["hits"]
    assert ua["captures_total"] == len({f["pcaptotal.capture_id"] for f in flows})
