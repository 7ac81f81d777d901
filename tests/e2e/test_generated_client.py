"""Acceptance (issue 13): a client generated from the live OpenAPI document reads a capture's
verdict, findings and flows as typed fields (and its STIX bundle).

The runner analyses one shared capture (asyncrat: heuristic findings, a suspicious verdict);
``datamodel-code-generator`` turns the runner's own ``/openapi.json`` into pydantic models in
``tmp_path``; the capture, its ``/findings`` and its ``/flows`` answers are parsed with those
models (strict: they forbid unknown keys), and every field reachable from those models is
typed (no ``Any``, no untyped mapping).
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from tests.codegen import generate_models, untyped
from tests.e2e.conftest import Server, start_server, stop_server, wait_finished
from tests.paths import PCAPS

pytestmark = pytest.mark.e2e

CAPTURE = PCAPS / "corelight_asyncrat-c2.pcap"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("generated-client")
    srv = start_server(d / "data", d / "server.log")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def client_models(server: Server, tmp_path_factory: pytest.TempPathFactory) -> types.ModuleType:
    work = tmp_path_factory.mktemp("client")
    spec = work / "openapi.json"
    spec.write_bytes(httpx.get(f"{server.base_url}/openapi.json", timeout=30).content)
    return generate_models(spec, "openapi", work / "pcaptotal_client.py")


@pytest.fixture(scope="module")
def answers(server: Server) -> dict[str, Any]:
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        r = http.post("/v1/captures", content=CAPTURE.read_bytes(), params={"filename": "c.pcap"})
        assert r.status_code == 202, r.text
        capture_id = r.json()["capture_id"]
        assert wait_finished(server.base_url, capture_id)["status"] == "done"
        base = f"/v1/captures/{capture_id}"
        got = {
            "capture": http.get(base),
            "findings": http.get(f"{base}/findings", params={"limit": 1000}),
            "flows": http.get(f"{base}/flows", params={"limit": 1000}),
            "stix": http.get(f"{base}/indicators.stix"),
        }
    for name, answer in got.items():
        assert answer.status_code == 200, (name, answer.text)
    return {name: answer.json() for name, answer in got.items()}


def test_generated_models_type_verdict_findings_and_flows(client_models: types.ModuleType) -> None:
    roots = [client_models.CaptureView, client_models.FindingPage, client_models.FlowPage]
    seen: set[type[BaseModel]] = set()
    loose = [name for root in roots for name in untyped(root, seen)]
    assert not loose, f"untyped fields in the generated client: {loose}"
    # RootModels (the recursive evidence value) reached too, and nothing fell back to Any
    assert len(seen) >= 8


def test_generated_client_reads_a_real_capture(
    client_models: types.ModuleType, answers: dict[str, Any]
) -> None:
    capture = client_models.CaptureView.model_validate(answers["capture"])
    assert capture.capture_id == answers["capture"]["capture_id"]
    assert capture.verdict is not None and capture.verdict.value == answers["capture"]["verdict"]
    assert capture.verdict.value in ("suspicious", "malicious")
    assert 0 < capture.risk_score <= 100
    assert capture.flows_indexed and capture.flows_indexed > 0

    findings = client_models.FindingPage.model_validate(answers["findings"])
    assert findings.total == len(findings.hits) > 0
    for hit in findings.hits:
        assert type(hit).__name__ == "FindingRecord"
        assert hit.event_dataset == "finding"
        assert hit.pcaptotal_capture_id == capture.capture_id
        assert hit.pcaptotal_finding_name and hit.message
        assert hit.pcaptotal_finding_severity in ("low", "medium", "high")
    names = {h.pcaptotal_finding_name for h in findings.hits}
    summary = {s.name for s in capture.finding_summary or []}
    assert names == summary

    flows = client_models.FlowPage.model_validate(answers["flows"])
    assert flows.total == len(flows.hits) == capture.flows_indexed
    verdicts: dict[str, int] = {}
    for flow in flows.hits:
        assert type(flow).__name__ == "FlowRecord"
        assert flow.event_id.startswith(capture.capture_id)
        assert flow.field_timestamp.tzinfo is not None  # a datetime, not a string
        verdict = flow.pcaptotal_verdict
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
    by_verdict = {
        k.value if hasattr(k, "value") else k: v for k, v in capture.flow_verdicts.items()
    }
    assert verdicts == {k: v for k, v in by_verdict.items() if v}


def test_generated_client_reads_the_stix_bundle(
    client_models: types.ModuleType, answers: dict[str, Any]
) -> None:
    bundle = client_models.StixBundle.model_validate(answers["stix"])
    objects = [getattr(o, "root", o) for o in bundle.objects]  # the union's RootModel
    kinds = [type(o).__name__ for o in objects]
    assert kinds[0] == "StixIdentity" and "StixIndicator" in kinds
    for o in objects:
        if type(o).__name__ == "StixIndicator":
            assert o.pattern.startswith("[") and o.valid_from.tzinfo is not None
