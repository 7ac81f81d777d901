"""Every response of the OpenAPI document is typed and every operation declares the errors its
shape implies, by rule rather than by a table (``test_openapi_contract.EXPECTED`` lists them
per operation; these rules catch an operation added without them).

- A path naming a capture answers 400 (a bad id) and 404 (unknown); any other resource path
  parameter 404 (but a PUT, which creates it); parameters or a body 422; an operation behind
  an API key 401, 403 and 429.
- Every success body has a schema (never null), of its real media type; every error body is
  problem+json (``/readyz``'s 503 excepted: it is the readiness report).
- No schema reachable from a ``/v1`` response is untyped (the PacketTotal-compatible routes
  mirror another service's shapes and are left out): no empty schema, no object without
  properties whose values are not typed either (a generated client would get ``Any``/``dict``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pcaptotal.access.roles import required_role
from pcaptotal.web import PROBLEM_MEDIA_TYPE

from tests.openapi_doc import Doc, operations, runner_openapi

# Free-form by design, each for a reason:
FREE_FORM = {
    # tshark's own JSON of one packet's layers (GET .../packets/{n}): its shape is tshark's
    "PacketView.layers",
}
# Path parameters that look a value up rather than name a resource (an empty answer, no 404).
LOOKUP_PARAMS = {"value"}
BINARY_MEDIA = {"application/vnd.tcpdump.pcap", "application/zip"}
TEXT_MEDIA = {"text/plain", "text/csv", "application/x-ndjson"}


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> Doc:
    return runner_openapi(tmp_path_factory.mktemp("typed"))


def _component(doc: Doc, ref: str) -> tuple[str, Doc]:
    name = ref.removeprefix("#/components/schemas/")
    return name, doc["components"]["schemas"][name]


def untyped(doc: Doc, schema: Any, where: str, seen: set[str]) -> Iterator[str]:
    """Dotted places under ``schema`` (following ``$ref``) whose values are untyped."""
    if not isinstance(schema, dict):
        return
    if "$ref" in schema:
        name, target = _component(doc, schema["$ref"])
        if name not in seen:
            seen.add(name)
            yield from untyped(doc, target, name, seen)
        return
    if where in FREE_FORM:
        return
    keys = set(schema) - {"title", "description", "default", "examples", "deprecated"}
    if not keys:
        yield f"{where}: empty schema"
        return
    extra = schema.get("additionalProperties")
    is_object = schema.get("type") == "object" or "properties" in schema
    if is_object and not schema.get("properties") and not isinstance(extra, dict):
        yield f"{where}: an object with neither properties nor typed values"
    if isinstance(extra, dict):
        yield from untyped(doc, extra, f"{where}.*", seen)
    for name, sub in (schema.get("properties") or {}).items():
        yield from untyped(doc, sub, f"{where}.{name}", seen)
    if "items" in schema:
        yield from untyped(doc, schema["items"], f"{where}[]", seen)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for i, sub in enumerate(schema.get(key) or []):
            yield from untyped(doc, sub, f"{where}<{key}{i}>", seen)


def test_error_statuses_follow_from_the_operation(doc: Doc) -> None:
    missing: list[str] = []
    for method, path, op in operations(doc):
        declared = {int(code) for code in op["responses"]}
        params = op.get("parameters") or []
        named = {p["name"] for p in params if p["in"] == "path"}
        want: set[int] = set()
        if "capture_id" in named:
            want |= {400, 404}
        if named - LOOKUP_PARAMS and method != "put":  # a PUT creates what it names
            want.add(404)
        if params or "requestBody" in op:
            want.add(422)
        if required_role(method.upper(), path) is not None:
            want |= {401, 403, 429}
        if want - declared:
            missing.append(f"{method.upper()} {path}: {sorted(want - declared)}")
    assert not missing, "operations missing error statuses:\n" + "\n".join(missing)


def test_success_bodies_have_a_schema_of_their_media_type(doc: Doc) -> None:
    for method, path, op in operations(doc):
        for code, response in op["responses"].items():
            where = f"{method.upper()} {path} {code}"
            content = response.get("content") or {}
            if code == "204":
                assert not content, where
                continue
            if int(code) >= 400:
                if not (path == "/readyz" and code == "503"):
                    assert set(content) == {PROBLEM_MEDIA_TYPE}, where
                continue
            assert content, f"{where}: no body declared"
            for media, body in content.items():
                schema = body.get("schema")
                assert schema, f"{where} {media}: null schema"
                if media in BINARY_MEDIA:
                    assert schema == {"type": "string", "format": "binary"}, where
                elif media in TEXT_MEDIA:
                    assert schema.get("type") == "string", where
                else:
                    base = media.split(";")[0]
                    assert base == "application/json" or base.endswith("+json"), where


def test_no_untyped_field_in_any_v1_response(doc: Doc) -> None:
    found: list[str] = []
    seen: set[str] = set()
    for method, path, op in operations(doc):
        if not path.startswith("/v1/"):
            continue
        for code, response in op["responses"].items():
            for media, body in (response.get("content") or {}).items():
                if media != PROBLEM_MEDIA_TYPE:
                    where = f"{method.upper()} {path} {code}"
                    found += untyped(doc, body.get("schema"), where, seen)
    assert not found, "untyped in the OpenAPI document:\n" + "\n".join(sorted(set(found)))


def test_records_and_stix_are_discriminated_unions(doc: Doc) -> None:
    schemas = doc["components"]["schemas"]
    hits = schemas["RecordPage"]["properties"]["hits"]["items"]
    assert hits["discriminator"]["propertyName"] == "event.dataset"
    assert set(hits["discriminator"]["mapping"]) == {
        "flow", "dns", "http", "tls", "file", "finding",
    }  # fmt: skip
    assert schemas["FlowPage"]["properties"]["hits"]["items"] == {
        "$ref": "#/components/schemas/FlowRecord"
    }
    flow = schemas["FlowRecord"]
    assert flow["additionalProperties"] is False
    assert {"event.id", "@timestamp", "pcaptotal.capture_id"} <= set(flow["required"])
    objects = schemas["StixBundle"]["properties"]["objects"]["items"]
    assert set(objects["discriminator"]["mapping"]) == {
        "identity", "indicator", "malware", "relationship",
    }  # fmt: skip
    stix = doc["paths"]["/v1/captures/{capture_id}/indicators.stix"]["get"]["responses"]["200"]
    assert stix["content"]["application/stix+json;version=2.1"]["schema"] == {
        "$ref": "#/components/schemas/StixBundle"
    }
