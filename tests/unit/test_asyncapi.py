"""The AsyncAPI document in docs/ is exactly what the event models generate, and says what a
subscriber needs: send operations, titled and summarised messages with valid examples, closed
enumerations, batch bounds, no internal keys."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
from pcaptotal.asyncapi import MAX_BODY_EXTENSION, build_document, render
from pcaptotal.messages import EVENT_MODELS, MAX_BATCH_FLOWS, MAX_BODY_BYTES, decode, encode

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
    assert {"event.id", "pcaptotal.verdict"} <= set(flows["items"]["required"])
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
