"""Live capture answers against the OpenAPI document, strictly, on the shared captures.

The runner analyses every shared capture with feeds that turn some malicious, re-analyses one
(generation 2) and fails one (random bytes behind a pcap magic). Every ``GET
/v1/captures/{id}`` answer and the ``GET /v1/captures`` list must validate against the schema
the runner's own ``/openapi.json`` declares, with no additional property allowed anywhere in
it; a done capture's answer carries its verdict and analysis fields; and the runner never logs
a document field that the view does not declare (which it would otherwise leave out).
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs
import pytest

from tests.e2e.conftest import Server, start_server, stop_server, wait_finished
from tests.integration.test_detection_with_feeds import FEODO, THREATFOX
from tests.paths import shared_captures

pytestmark = pytest.mark.e2e

RAW = {"content-type": "application/octet-stream"}
DONE_FIELDS = {
    "capture_id", "status", "warnings", "summary", "size", "filename", "created", "updated",
    "status_times", "analysis_id", "generation", "verdict", "risk_score", "reasons", "tags",
    "flows_indexed", "flow_verdicts",
}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("capture-view")
    srv = start_server(d / "data", d / "server.log")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def answers(server: Server) -> dict[str, Any]:
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        for name, body in (("feodo_ipblocklist.csv", FEODO), ("threatfox_export.csv", THREATFOX)):
            r = client.post(
                "/v1/intel/feeds", params={"name": name}, content=body.encode(), headers=RAW
            )
            assert r.status_code == 201, r.text
        ids: dict[str, str] = {}
        for path in shared_captures():
            r = client.post(
                "/v1/captures", content=path.read_bytes(), params={"filename": path.name}
            )
            assert r.status_code == 202, r.text
            ids[path.name] = r.json()["capture_id"]
        broken = bytes.fromhex("d4c3b2a1") + os.urandom(4000)
        r = client.post("/v1/captures", content=broken, headers=RAW)
        assert r.status_code == 202, r.text
        ids["broken"] = hashlib.sha256(broken).hexdigest()
        for cid in ids.values():
            wait_finished(server.base_url, cid)
        again = ids["corelight_asyncrat-c2.pcap"]
        path = next(p for p in shared_captures() if p.name == "corelight_asyncrat-c2.pcap")
        r = client.post("/v1/captures", content=path.read_bytes(), params={"reanalyze": "true"})
        assert r.status_code == 202, r.text
        wait_finished(server.base_url, again)
        one = {name: client.get(f"/v1/captures/{cid}") for name, cid in ids.items()}
        every: dict[str, str | int] = {"q": "event.dataset:*", "limit": 10_000}
        records = {
            name: client.get("/v1/search", params={**every, "capture": cid})
            for name, cid in ids.items()
        }
        listing = client.get("/v1/captures", params={"limit": 1000})
        openapi = client.get("/openapi.json").json()
    return {"one": one, "list": listing, "records": records, "openapi": openapi, "ids": ids}


def _response_schema(openapi: dict[str, Any], path: str) -> dict[str, Any]:
    content = openapi["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    return {**content["schema"], "components": openapi["components"]}


def _closed_everywhere(schema: Any, seen: set[str], openapi: dict[str, Any]) -> None:
    """Every object schema reachable from ``schema`` forbids additional properties (maps
    declare what their values are)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                _closed_everywhere(openapi["components"]["schemas"][name], seen, openapi)
            return
        if "properties" in schema:
            assert schema.get("additionalProperties") is False, schema.get("title")
        for key, value in schema.items():
            if key != "evidence":  # the one free-form map: a finding's numbers by name
                _closed_everywhere(value, seen, openapi)
    elif isinstance(schema, list):
        for item in schema:
            _closed_everywhere(item, seen, openapi)


def test_declared_capture_schema_is_closed(answers: dict[str, Any]) -> None:
    openapi = answers["openapi"]
    seen: set[str] = set()
    _closed_everywhere(_response_schema(openapi, "/v1/captures/{capture_id}"), seen, openapi)
    assert {"CaptureView", "SummaryView", "FlowCountsView", "FindingView"} <= seen


def test_every_live_answer_matches_the_schema_strictly(answers: dict[str, Any]) -> None:
    openapi = answers["openapi"]
    one = jsonschema_rs.validator_for(_response_schema(openapi, "/v1/captures/{capture_id}"))
    for name, r in answers["one"].items():
        assert r.status_code == 200, (name, r.text)
        errors = [e.message for e in one.iter_errors(r.json())]
        assert errors == [], (name, errors)
    listing = answers["list"]
    assert listing.status_code == 200
    many = jsonschema_rs.validator_for(_response_schema(openapi, "/v1/captures"))
    assert [e.message for e in many.iter_errors(listing.json())] == []
    assert len(listing.json()["captures"]) == len(answers["ids"])
    # Drift shows: an undeclared property in an answer fails the strict schema.
    doc = copy.deepcopy(next(iter(answers["one"].values())).json())
    doc["summary"]["undeclared"] = 1
    assert not one.is_valid(doc)


def test_every_live_record_matches_its_declared_model(answers: dict[str, Any]) -> None:
    """Every record of every shared capture, with feed hits (threat.enrichments), as the index
    returns it, against the strict record union of the OpenAPI document."""
    openapi = answers["openapi"]
    schema = {"$ref": "#/components/schemas/SearchResponse", "components": openapi["components"]}
    _closed_everywhere(schema, set(), openapi)
    validator = jsonschema_rs.validator_for(schema)
    kinds: set[str] = set()
    enriched = 0
    for name, r in answers["records"].items():
        assert r.status_code == 200, (name, r.text)
        body = r.json()
        assert len(body["hits"]) == body["total"], name
        errors = [e.message for e in validator.iter_errors(body)][:5]
        assert errors == [], (name, errors)
        kinds |= {h["event.dataset"] for h in body["hits"]}
        enriched += sum(1 for h in body["hits"] if h.get("threat.enrichments"))
    assert kinds == {"flow", "dns", "http", "tls", "file", "finding"}
    assert enriched > 0  # the feeds matched: their hit objects were checked too


def test_done_answers_carry_the_analysis(answers: dict[str, Any]) -> None:
    verdicts = set()
    for name, r in answers["one"].items():
        body = r.json()
        if name == "broken":
            assert body["status"] == "failed" and "tshark" in body["error"]
            assert body["generation"] == 1 and body["verdict"] is None
            continue
        assert body["status"] == "done", (name, body.get("error"))
        present = {k for k, v in body.items() if v is not None}
        assert present >= DONE_FIELDS, (name, DONE_FIELDS - present)
        assert sum(body["flow_verdicts"].values()) == body["flows_indexed"]
        for key in ("created", "updated", *body["status_times"]):
            stamp = body[key] if key in body else body["status_times"][key]
            assert stamp.endswith("Z"), (name, key, stamp)
        verdicts.add(body["verdict"])
        expected = 2 if name == "corelight_asyncrat-c2.pcap" else 1
        assert body["generation"] == expected, name
    assert verdicts == {"clean", "suspicious", "malicious"}


def test_no_document_field_was_left_out(server: Server, answers: dict[str, Any]) -> None:
    assert answers["one"]
    assert "capture document fields not in CaptureView" not in server.log_path.read_text()
