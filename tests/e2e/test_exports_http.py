"""Exports over HTTP on real captures: STIX bundles and Suricata rules cite their evidence."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
import stix2

from tests.e2e.conftest import Server, wait_finished
from tests.paths import shared_captures
from tests.unit.test_exports_rules import rule_lines

pytestmark = pytest.mark.e2e

NAMES = [
    "corelight_asyncrat-c2.pcap",
    "corelight_strrat-c2.pcap",
    "corelight_caldera-ragdoll-http-c2.pcap",
    "zeek_wikipedia-dns-http.pcap",
]
FEODO = (
    '"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"\n'
    '"2024-01-01 00:00:00","185.255.114.40","8219","online","2024-03-01","STRRAT"\n'
)
PLAIN = "# AsyncRAT C2 (DDNS)\ncarlosenriquezdomin.con-ip.com\n"
STRRAT_COPY = "strrat-copy.pcap"  # same packets, other bytes: a second capture of one C2


def _wait_feeds(client: httpx.Client, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = client.get("/v1/intel/feeds").json()
        if body["indicators"] >= count:
            return
        time.sleep(0.2)
    raise TimeoutError(f"feeds not loaded: {body}")


@pytest.fixture(scope="module")
def captures(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    intel = server.data_dir / "intel"
    intel.mkdir(parents=True, exist_ok=True)
    (intel / "ipblocklist.csv").write_text(FEODO)
    (intel / "asyncrat.txt").write_text(PLAIN)
    paths = {p.name: p for p in shared_captures()}
    bodies = {name: paths[name].read_bytes() for name in NAMES}
    strrat = bytearray(bodies["corelight_strrat-c2.pcap"])
    strrat[12:16] = b"\x01\x00\x00\x00"  # pcap header 'sigfigs': unused by every reader
    bodies[STRRAT_COPY] = bytes(strrat)
    ids: dict[str, str] = {}
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        _wait_feeds(client, 2)
        for name, data in bodies.items():
            r = client.post("/v1/captures", files={"file": (name, data)})
            assert r.status_code == 202, r.text
            ids[name] = r.json()["capture_id"]
    for cid in ids.values():
        assert wait_finished(server.base_url, cid)["status"] == "done"
    return ids


def _get(server: Server, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{server.base_url}{path}", params=params, timeout=60)


def _stix(server: Server, cid: str) -> dict[str, Any]:
    r = _get(server, f"/v1/captures/{cid}/indicators.stix")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/stix+json;version=2.1"
    stix2.parse(r.text, allow_custom=False)
    data: dict[str, Any] = json.loads(r.text)
    return data


def _indicators(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["pattern"]: o for o in data["objects"] if o["type"] == "indicator"}


def test_asyncrat_exports(server: Server, captures: dict[str, str]) -> None:
    cid = captures["corelight_asyncrat-c2.pcap"]
    data = _stix(server, cid)
    found = _indicators(data)
    domain = found["[domain-name:value = 'carlosenriquezdomin.con-ip.com']"]
    assert domain["indicator_types"] == ["malicious-activity"]
    assert "asyncrat.txt" in domain["description"] and "dynamic-dns-domain" in domain["description"]
    assert "[ipv4-addr:value = '181.131.218.39']" in found
    again = json.loads(_get(server, f"/v1/captures/{cid}/indicators.stix").text)
    assert again == data  # deterministic ids and times

    r = _get(server, f"/v1/captures/{cid}/rules")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    rules = rule_lines(r.text)
    dns = next(x for x in rules if x.proto == "dns")
    assert dns.contents == [b".carlosenriquezdomin.con-ip.com"]
    assert dns.get("priority") == "1" and "asyncrat.txt" in (dns.get("msg") or "")
    assert cid in (dns.get("metadata") or "")
    assert any(x.dst == "181.131.218.39" for x in rules)
    ja3 = [x for x in rules if any(n == "ja3.hash" for n, _ in x.options)]
    assert ja3 and ja3[0].get("priority") == "2"  # a client fingerprint: likely, not known
    known = rule_lines(_get(server, f"/v1/captures/{cid}/rules", set="known").text)
    likely = rule_lines(_get(server, f"/v1/captures/{cid}/rules", set="likely").text)
    assert len(known) + len(likely) == len(rules)
    assert {x.get("priority") for x in known} == {"1"}


def test_strrat_names_its_family(server: Server, captures: dict[str, str]) -> None:
    cid = captures["corelight_strrat-c2.pcap"]
    data = _stix(server, cid)
    ip = _indicators(data)["[ipv4-addr:value = '185.255.114.40']"]
    (malware,) = [o for o in data["objects"] if o["type"] == "malware"]
    assert malware["name"] == "STRRAT"
    assert any(
        o["type"] == "relationship"
        and o["source_ref"] == ip["id"]
        and o["target_ref"] == malware["id"]
        for o in data["objects"]
    )
    (rule,) = rule_lines(_get(server, f"/v1/captures/{cid}/rules").text)
    assert rule.proto == "ip" and rule.dst == "185.255.114.40"
    assert "malware_family STRRAT" in (rule.get("metadata") or "")
    assert "ipblocklist.csv" in (rule.get("msg") or "")


def test_caldera_gives_likely_rules(server: Server, captures: dict[str, str]) -> None:
    cid = captures["corelight_caldera-ragdoll-http-c2.pcap"]
    rules = rule_lines(_get(server, f"/v1/captures/{cid}/rules").text)
    assert rules and {x.get("priority") for x in rules} == {"2"}
    # No feed knows it: every rule is "likely bad", from the heuristic findings it names.
    assert all("pcaptotal_tier likely" in (x.get("metadata") or "") for x in rules)
    assert all("(findings " in (x.get("msg") or "") for x in rules)
    assert any(any(n == "http.uri" for n, _ in x.options) for x in rules)
    patterns = _indicators(_stix(server, cid))
    assert any(p.startswith("[url:value = 'http://") for p in patterns)


def test_clean_capture_exports_nothing(server: Server, captures: dict[str, str]) -> None:
    cid = captures["zeek_wikipedia-dns-http.pcap"]
    assert rule_lines(_get(server, f"/v1/captures/{cid}/rules").text) == []
    assert _indicators(_stix(server, cid)) == {}


def test_rolling_rules_dedupe_with_stable_sids(server: Server, captures: dict[str, str]) -> None:
    per_capture: dict[str, set[str]] = {}
    for name, cid in captures.items():
        rules = rule_lines(_get(server, f"/v1/captures/{cid}/rules").text)
        per_capture[name] = {x.get("sid") or "" for x in rules}
    assert per_capture[STRRAT_COPY] == per_capture["corelight_strrat-c2.pcap"]
    text = _get(server, "/v1/rules", since="2000-01-01", min_verdict="suspicious").text
    rolling = rule_lines(text)
    sids = [x.get("sid") for x in rolling]
    assert len(sids) == len(set(sids))  # one rule per indicator
    assert set(sids) == set().union(*per_capture.values())  # the same sids as per capture
    strrat = next(x for x in rolling if x.dst == "185.255.114.40")
    assert "2 captures" in (strrat.get("msg") or "")
    assert (strrat.get("metadata") or "").count("pcaptotal_capture ") == 2
    assert _get(server, "/v1/rules", since="2000-01-01", min_verdict="suspicious").text == text
    malicious = rule_lines(_get(server, "/v1/rules", since="2000-01-01").text)
    caldera = per_capture["corelight_caldera-ragdoll-http-c2.pcap"]  # suspicious only
    assert {x.get("sid") for x in malicious} == set(sids) - caldera
    assert rule_lines(_get(server, "/v1/rules", since="2999-01-01").text) == []


def test_export_errors(server: Server, captures: dict[str, str]) -> None:
    unknown = "0" * 64
    assert _get(server, f"/v1/captures/{unknown}/rules").status_code == 404
    assert _get(server, f"/v1/captures/{unknown}/indicators.stix").status_code == 404
    assert _get(server, "/v1/captures/nothex/rules").status_code == 400
    cid = captures["corelight_strrat-c2.pcap"]
    assert _get(server, f"/v1/captures/{cid}/rules", set="bogus").status_code == 422
    assert _get(server, "/v1/rules").status_code == 422  # since is required
