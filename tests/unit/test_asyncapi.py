"""The AsyncAPI document in docs/ is exactly what the event models generate, and says what a
subscriber needs: send operations, titled and summarised messages with valid examples, closed
enumerations, batch bounds, no internal keys, and flows typed as strictly as the HTTP API's
FlowRecord (the same fields, from the same derivation)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import jsonschema_rs
from pcaptotal.asyncapi import MAX_BODY_EXTENSION, build_document, render
from pcaptotal.messages import (
    EVENT_MODELS,
    MAX_BATCH_FLOWS,
    MAX_BODY_BYTES,
    decode,
    encode,
)
from pcaptotal.record_schema import OMITTED_FIELDS
from pcaptotal_enricher.events import Published, Run, fit_flow, publish_enriched
from pcaptotal_search_api.record_models import RECORD_MODELS

from tests.buses import BodiesBus
from tests.paths import REPO

INTERNAL_KEYS = ("blob_key", "parsed_key", "_id")


def validator(doc: dict[str, Any], name: str) -> Any:
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return jsonschema_rs.validator_for(schema)


def test_committed_document_matches_models() -> None:
    committed = (REPO / "docs" / "asyncapi.json").read_text()
    assert committed == render(), (
        "docs/asyncapi.json is stale: run `python -m pcaptotal.asyncapi > docs/asyncapi.json`"
    )


def test_every_event_has_send_operation_titled_message_and_valid_example() -> None:
    doc = build_document()
    assert {op["action"] for op in doc["operations"].values()} == {"send"}
    assert len(doc["operations"]) == 2 * len(EVENT_MODELS)  # public and private keys
    for model in EVENT_MODELS:
        name = model.__name__
        message = doc["components"]["messages"][name]
        assert message["title"] and message["summary"].strip(), name
        assert message[MAX_BODY_EXTENSION] == MAX_BODY_BYTES
        schema = doc["components"]["schemas"][name]
        assert set(model.model_fields) <= set(schema["properties"])
        assert set(schema["required"]) == set(model.model_fields)  # all always on the wire
        (example,) = message["examples"]
        payload = example["payload"]
        validator(doc, name).validate(payload)
        event = decode(payload)  # and the models read it back
        assert type(event) is model and len(encode(event)) <= MAX_BODY_BYTES
    assert "flows.enriched.{verdict}" in {c["address"] for c in doc["channels"].values()}
    assert "flows.retracted.{verdict}" in {c["address"] for c in doc["channels"].values()}
    json.dumps(doc)


def test_closed_enumerations_bounds_and_no_internal_keys() -> None:
    doc = build_document()
    schemas = doc["components"]["schemas"]
    stage = schemas["CaptureFailed"]["properties"]["stage"]
    assert stage["enum"] == ["parse", "enrich", "reconcile"]
    for name in ("FlowsEnriched", "FlowsRetracted", "CaptureAnalyzed"):
        assert schemas[name]["properties"]["verdict"]["enum"] == [
            "clean",
            "suspicious",
            "malicious",
        ]
    flows = schemas["FlowsEnriched"]["properties"]["flows"]
    assert flows["maxItems"] == MAX_BATCH_FLOWS and flows["minItems"] == 1
    flow = schemas[flows["items"]["$ref"].removeprefix("#/components/schemas/")]
    assert {"event.id", "pcaptotal.verdict"} <= set(flow["required"])
    assert flow["additionalProperties"] is False
    assert schemas["FlowsRetracted"]["properties"]["event_ids"]["maxItems"] > 0
    for name, schema in schemas.items():
        for key in INTERNAL_KEYS:
            assert key not in schema.get("properties", {}), (name, key)
    for model in EVENT_MODELS:
        required = schemas[model.__name__]["required"]
        assert {"analysis_id", "generation", "capture_id", "time"} <= set(required)


def test_times_are_utc_with_z() -> None:
    doc = build_document()
    for message in doc["components"]["messages"].values():
        assert message["examples"][0]["payload"]["time"].endswith("Z")


def _unordered(schema: Any) -> Any:
    """``schema`` without what differs only in form between the two documents: pydantic's
    serialised ``default: null`` and ``$ref`` prefixes (OpenAPI and AsyncAPI components)."""
    if isinstance(schema, dict):
        return {
            k: _unordered(v.rsplit("/", 1)[-1] if k == "$ref" else v)
            for k, v in schema.items()
            if not (k == "default" and v is None)
        }
    if isinstance(schema, list):
        return [_unordered(v) for v in schema]
    return schema


def test_flows_are_the_http_flow_record_plus_omitted_fields() -> None:
    """A subscriber generating code from the events gets the flow an HTTP client gets: every
    field of the search API's FlowRecord, typed alike, nothing else but
    ``pcaptotal.omitted_fields`` (and the verdict, always set on a published flow)."""
    doc = build_document()
    event_flow = doc["components"]["schemas"]["FlowEventRecord"]
    http = RECORD_MODELS["flow"].model_json_schema(
        mode="serialization", ref_template="#/components/schemas/{model}"
    )
    http_flow = {k: v for k, v in http.items() if k != "$defs"}
    assert set(event_flow["properties"]) == set(http_flow["properties"]) | {OMITTED_FIELDS}
    for name, prop in http_flow["properties"].items():
        if name != "pcaptotal.verdict":
            assert _unordered(event_flow["properties"][name]) == _unordered(prop), name
    assert set(event_flow["required"]) == set(http_flow["required"]) | {"pcaptotal.verdict"}
    for name, sub in http["$defs"].items():  # nested objects: the same components
        assert _unordered(doc["components"]["schemas"][name]) == _unordered(sub), name


async def test_published_flows_validate_strictly_even_when_cut() -> None:
    """Flows as the enricher publishes them validate against the document (an undeclared
    field fails); a flow cut to fit a body keeps what its schema requires."""
    doc = build_document()
    flow_schema = validator(doc, "FlowEventRecord")
    cid = "c" * 64
    flow: dict[str, Any] = {
        "_id": f"{cid}-tcp-0",
        "@timestamp": "2026-01-15T09:12:44.120391Z",
        "ecs.version": "8.11.0",
        "event.dataset": "flow",
        "event.kind": "event",
        "pcaptotal.capture_id": cid,
        "pcaptotal.verdict": "malicious",
        "network.transport": "tcp",
        "dns.question.name": ["a.example"],
        "url.original": ["http://a.example/" + "x" * MAX_BODY_BYTES],
    }

    bus = BodiesBus()
    await publish_enriched(bus, Run(cid, uuid.uuid4(), 1), [flow], Published())
    ((body),) = bus.bodies
    assert len(body) <= MAX_BODY_BYTES
    validator(doc, "FlowsEnriched").validate(json.loads(body))
    (sent,) = json.loads(body)["flows"]
    assert sent[OMITTED_FIELDS] == ["url.original"] and sent["event.id"] == f"{cid}-tcp-0"
    # Every field may be cut but the required ones, whatever their size.
    huge = {k: v for k, v in flow.items() if k != "_id"} | {"event.id": f"{cid}-tcp-0"}
    huge["ecs.version"] = "8" * 1000
    cut = fit_flow(huge, 500)
    assert {"@timestamp", "ecs.version", "event.kind"} <= set(cut)
    flow_schema.validate(cut)
    assert not flow_schema.is_valid({**cut, "pcaptotal.undeclared": 1})
