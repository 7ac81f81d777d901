"""The OpenAPI document of the all-in-one app declares what the API really answers.

Walks every operation: error statuses, the problem+json error model, non-JSON media types,
Retry-After on 503s, and that every ``$ref`` resolves. The e2e schemathesis run
(tests/e2e/test_api_schema.py) then checks the live answers against this document.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException, Query
from fastapi.testclient import TestClient
from pcaptotal.access.roles import required_role
from pcaptotal.settings import Settings
from pcaptotal.web import (
    INPUT_PREFIX,
    PROBLEM_MEDIA_TYPE,
    RETRY_AFTER_S,
    Problem,
    ValidationProblem,
    install_problem_details,
    quote_input,
)
from pcaptotal_runner.app import create_app

from tests.openapi_doc import Doc, operations, runner_openapi

ID = "/v1/captures/{capture_id}"
PT = "/compat/packettotal/v1"
# The error statuses each operation must declare (at least): what its handler can answer.
EXPECTED: dict[tuple[str, str], set[int]] = {
    ("post", "/v1/captures"): {200, 202, 400, 413, 415, 422, 503},
    ("get", "/v1/captures"): {200, 422, 503},
    ("get", ID): {200, 400, 404, 503},
    ("get", f"{ID}/download"): {200, 400, 404, 503},
    ("get", f"{ID}/indicators.stix"): {200, 400, 404, 409, 503},
    ("get", f"{ID}/rules"): {200, 400, 404, 409, 422, 503},
    ("get", "/v1/rules"): {200, 422, 503},
    ("get", "/v1/search"): {200, 400, 422, 503},
    ("get", "/v1/search/export"): {200, 400, 422, 503},
    **{
        ("get", f"{ID}/{view}"): {200, 400, 404, 422, 503}
        for view in ("flows", "dns", "http", "tls", "files", "findings", "timeline")
    },
    ("get", f"{ID}/analysis"): {200, 400, 404, 503},
    ("get", f"{ID}/pcap"): {200, 400, 404, 503},
    ("get", f"{ID}/flows/{{flow_id}}/pcap"): {200, 400, 404, 422, 502, 503},
    ("get", f"{ID}/packets/{{n}}"): {200, 400, 404, 413, 422, 502, 503},
    ("get", f"{ID}/files/{{sha256}}"): {200, 400, 404, 422, 503},
    ("get", f"{ID}/bundle.zip"): {200, 400, 404, 503},
    ("delete", ID): {200, 400, 404, 409, 503},
    ("get", "/v1/fields"): {200},
    ("get", "/v1/intel/feeds"): {200},
    ("post", "/v1/intel/feeds"): {201, 400, 409, 413, 422},
    ("get", "/v1/intel/feeds/{name}"): {200, 404},
    ("delete", "/v1/intel/feeds/{name}"): {204, 400, 404},
    ("get", "/v1/indicators/{value}"): {200, 400, 422, 503},
    ("get", "/v1/stats"): {200, 400, 422, 503},
    ("get", f"{ID}/similar"): {200, 400, 404, 422, 503},
    ("get", "/v1/archives"): {200, 422, 503},
    ("get", "/v1/archives/{name}"): {200, 404, 422, 503},
    ("get", "/v1/archives/{name}/bundle.zip"): {200, 404, 413, 422, 503},
    ("put", "/v1/archives/{name}"): {200, 201, 400, 404, 422, 503},
    ("delete", "/v1/archives/{name}"): {204, 404, 503},
    ("put", "/v1/archives/{name}/captures/{capture_id}"): {200, 400, 404, 409, 503},
    ("delete", "/v1/archives/{name}/captures/{capture_id}"): {200, 404, 503},
    ("patch", f"{ID}/context"): {200, 400, 404, 422, 503},
    ("post", "/v1/keys"): {201, 400, 422, 503},
    ("get", "/v1/keys"): {200, 503},
    ("delete", "/v1/keys/{key_id}"): {204, 404, 422, 503},
    # PacketTotal compatibility
    ("post", f"{PT}/analyze/base64"): {200, 202, 400, 413, 415, 503},
    ("post", f"{PT}/pcaps/analyze"): {200, 202, 400, 413, 415, 503},
    ("get", f"{PT}/pcaps/{{md5}}"): {200, 400, 404, 503},
    ("get", f"{PT}/pcaps/{{md5}}/analysis"): {200, 400, 404, 503},
    ("get", f"{PT}/pcaps/{{md5}}/download"): {200, 400, 404, 503},
    ("get", f"{PT}/pcaps/{{md5}}/similar"): {200, 400, 404, 422, 503},
    ("get", f"{PT}/search"): {200, 400, 422, 503},
    ("post", f"{PT}/search/deep"): {202, 400, 413, 503},
    ("get", f"{PT}/search/deep/results/{{search_id}}"): {200, 400, 404, 503},
    ("get", f"{PT}/usage"): {200, 400, 503},
    ("get", "/healthz"): {200},
    ("get", "/readyz"): {200, 503},
    ("get", "/metrics"): {200},
}
# 2xx bodies that are not JSON: (method, path) -> media type(s).
MEDIA: dict[tuple[str, str], str | set[str]] = {
    ("get", "/metrics"): "text/plain",
    ("get", f"{ID}/download"): "application/vnd.tcpdump.pcap",
    ("get", f"{ID}/pcap"): "application/vnd.tcpdump.pcap",
    ("get", f"{ID}/flows/{{flow_id}}/pcap"): "application/vnd.tcpdump.pcap",
    ("get", f"{ID}/files/{{sha256}}"): "application/zip",
    ("get", f"{ID}/bundle.zip"): "application/zip",
    ("get", "/v1/archives/{name}/bundle.zip"): "application/zip",
    ("get", f"{ID}/indicators.stix"): "application/stix+json;version=2.1",
    ("get", f"{ID}/rules"): "text/plain",
    ("get", "/v1/rules"): "text/plain",
    ("get", "/v1/search/export"): {"application/x-ndjson", "text/csv"},
    ("get", f"{PT}/pcaps/{{md5}}/download"): "application/zip",
}


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> Doc:
    return runner_openapi(tmp_path_factory.mktemp("oa"))


def resolve(doc: Doc, schema: Doc) -> Doc:
    while "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def test_every_operation_is_known_and_declares_its_statuses(doc: Doc) -> None:
    seen = {(m, p) for m, p, _ in operations(doc)}
    assert seen == set(EXPECTED), "an operation was added or removed: update EXPECTED"
    for method, path, op in operations(doc):
        declared = {int(code) for code in op["responses"]}
        keyed = required_role(method.upper(), path) is not None  # pcaptotal.access.roles
        missing = (EXPECTED[(method, path)] | ({401, 403} if keyed else set())) - declared
        assert not missing, f"{method.upper()} {path} does not declare {sorted(missing)}"


def test_every_ref_resolves_and_fastapi_default_422_is_gone(doc: Doc) -> None:
    for ref in set(refs(doc)):
        resolve(doc, {"$ref": ref})  # KeyError if dangling
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_errors_are_problem_json(doc: Doc) -> None:
    for method, path, op in operations(doc):
        for code, response in op["responses"].items():
            if int(code) < 400 or path == "/readyz":
                continue
            where = f"{method.upper()} {path} {code}"
            assert set(response["content"]) == {PROBLEM_MEDIA_TYPE}, where
            schema = resolve(doc, response["content"][PROBLEM_MEDIA_TYPE]["schema"])
            variants = [resolve(doc, s) for s in schema.get("anyOf", [schema])]
            for variant in variants:
                assert {"type", "title", "status", "detail"} <= set(variant["required"]), where
            if code == "422":
                titles = {v["title"] for v in variants}
                assert "ValidationProblem" in titles, f"{where}: no parameter-validation body"
            if code == "503":
                assert "Retry-After" in response["headers"], where


def test_operations_with_parameters_declare_422(doc: Doc) -> None:
    for method, path, op in operations(doc):
        if op.get("parameters") or "requestBody" in op:
            assert "422" in op["responses"], f"{method.upper()} {path}"


def test_success_bodies_have_a_schema_and_the_real_media_type(doc: Doc) -> None:
    for method, path, op in operations(doc):
        for code, response in op["responses"].items():
            if not 200 <= int(code) < 300 or code == "204":
                continue
            where = f"{method.upper()} {path} {code}"
            content = response["content"]
            want = MEDIA.get((method, path), "application/json")
            wanted = {want} if isinstance(want, str) else want
            assert set(content) == wanted, where
            assert all(content[w].get("schema") for w in wanted), f"{where}: no schema"
    download = doc["paths"][f"{ID}/download"]["get"]["responses"]["200"]
    assert download["content"]["application/vnd.tcpdump.pcap"]["schema"]["format"] == "binary"
    assert "Content-Disposition" in download["headers"]
    readyz = doc["paths"]["/readyz"]["get"]["responses"]
    for code in ("200", "503"):
        assert resolve(doc, readyz[code]["content"]["application/json"]["schema"])["title"] == (
            "Readiness"
        )
    upload = doc["paths"]["/v1/captures"]["post"]["responses"]
    assert "Location" in upload["202"]["headers"] and "Location" in upload["200"]["headers"]


# --- the handlers send what the document declares -------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = FastAPI()
    install_problem_details(app)

    @app.get("/missing/{thing}")
    async def missing(thing: str) -> None:
        raise HTTPException(404, f"no thing {quote_input(thing)}", headers={"X-Kept": "1"})

    @app.get("/typed")
    async def typed(n: int = Query(ge=1)) -> int:
        return n

    @app.get("/busy")
    async def busy(hinted: bool = False) -> None:
        raise HTTPException(503, "busy", headers={"Retry-After": "9"} if hinted else None)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret /srv/path leaked")

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_http_error_is_a_problem_with_a_short_quote(client: TestClient) -> None:
    r = client.get("/missing/" + "x" * 5000)
    assert r.status_code == 404
    assert r.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert r.headers["x-kept"] == "1"
    body = Problem.model_validate(r.json())
    assert (body.type, body.title, body.status) == (
        "urn:pcaptotal:problem:not-found",
        "Not Found",
        404,
    )
    assert "x" * INPUT_PREFIX in body.detail and "x" * (INPUT_PREFIX + 1) not in body.detail
    assert "5000 characters" in body.detail


def test_validation_error_is_a_problem_without_the_input(client: TestClient) -> None:
    r = client.get("/typed", params={"n": "zz" + "y" * 3000})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = ValidationProblem.model_validate(r.json())
    assert body.errors[0].loc == ["query", "n"]
    assert "query.n" in body.detail and "yyy" not in r.text


def test_every_503_says_when_to_retry(client: TestClient) -> None:
    plain = client.get("/busy")
    assert plain.status_code == 503 and plain.headers["retry-after"] == str(RETRY_AFTER_S)
    assert client.get("/busy", params={"hinted": "true"}).headers["retry-after"] == "9"


def test_unexpected_error_is_a_500_problem_that_leaks_nothing(client: TestClient) -> None:
    r = client.get("/boom")
    assert r.status_code == 500 and r.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert Problem.model_validate(r.json()).status == 500
    assert "secret" not in r.text and "/srv" not in r.text


@pytest.mark.parametrize(
    ("value", "expected"),
    [("abc", "'abc'"), ("a" * INPUT_PREFIX, repr("a" * INPUT_PREFIX)), (123, "'123'")],
)
def test_quote_input_short_values_whole(value: object, expected: str) -> None:
    assert quote_input(value) == expected


def test_quote_input_cuts_long_values() -> None:
    quoted = quote_input("é" * 10_000)
    assert quoted == repr("é" * INPUT_PREFIX) + "... (10000 characters)"
    assert len(quoted) < 2 * INPUT_PREFIX


def test_openapi_needs_no_startup(tmp_path: Path) -> None:
    # create_app must build its OpenAPI without starting anything (no lifespan, no servers).
    app = create_app(Settings(data_dir=tmp_path / "d"), workers=False)
    assert app.openapi()["info"]["title"] == "PcapTotal"
    assert not (tmp_path / "d").exists()
