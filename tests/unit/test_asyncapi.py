"""The AsyncAPI document in docs/ is exactly what the event models generate."""

from __future__ import annotations

import json

from pcaptotal.asyncapi import build_document, render
from pcaptotal.messages import EVENT_MODELS

from tests.paths import REPO


def test_committed_document_matches_models() -> None:
    committed = (REPO / "docs" / "asyncapi.json").read_text()
    assert committed == render(), (
        "docs/asyncapi.json is stale: run `python -m pcaptotal.asyncapi > docs/asyncapi.json`"
    )


def test_every_event_has_channel_message_and_schema() -> None:
    doc = build_document()
    for model in EVENT_MODELS:
        name = model.__name__
        assert name in doc["components"]["messages"]
        assert name in doc["components"]["schemas"]
        schema = doc["components"]["schemas"][name]
        assert set(model.model_fields) <= set(schema["properties"])
    assert "flows.enriched.{verdict}" in doc["channels"]
    json.dumps(doc)  # serialisable
