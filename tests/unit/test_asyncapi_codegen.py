"""Acceptance (issue 13): models generated from docs/asyncapi.json (``datamodel-code-generator``,
as a subscriber would) read a flows.enriched batch with every flow field typed, the same fields
as the HTTP API's FlowRecord, and strict (an undeclared flow field fails).

The document's schemas are handed to the generator as one JSON Schema (``$defs``); it takes
~1.5 s.
"""

from __future__ import annotations

import asyncio
import json
import types
import uuid
from typing import Any

import pytest
from pcaptotal.record_schema import OMITTED_FIELDS
from pcaptotal_enricher.events import Published, Run, publish_enriched
from pcaptotal_search_api.record_models import RECORD_MODELS
from pydantic import BaseModel, ValidationError

from tests.buses import BodiesBus
from tests.codegen import generate_models, untyped
from tests.paths import REPO

CID = "d" * 64


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> types.ModuleType:
    doc = json.loads((REPO / "docs" / "asyncapi.json").read_text())
    as_defs = json.dumps(doc["components"]["schemas"]).replace("#/components/schemas/", "#/$defs/")
    root = {
        "title": "PcapTotalEvents",
        "type": "object",
        "properties": {name: {"$ref": f"#/$defs/{name}"} for name in doc["components"]["messages"]},
        "$defs": json.loads(as_defs),
    }
    work = tmp_path_factory.mktemp("asyncapi-client")
    spec, out = work / "events.schema.json", work / "pcaptotal_events.py"
    spec.write_text(json.dumps(root))
    return generate_models(spec, "jsonschema", out)


def _aliases(model: type[BaseModel]) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}


def _published(flow: dict[str, Any]) -> dict[str, Any]:
    """The body the enricher publishes for ``flow`` (cut to fit when too big)."""
    bus = BodiesBus()
    asyncio.run(publish_enriched(bus, Run(CID, uuid.uuid4(), 2), [flow], Published()))
    (body,) = bus.bodies
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def test_generated_flow_is_typed_like_the_http_flow_record(events: types.ModuleType) -> None:
    batch: type[BaseModel] = events.FlowsEnriched
    flow: type[BaseModel] = events.FlowEventRecord
    assert batch.model_fields["flows"].annotation == list[flow]  # type: ignore[valid-type]
    assert untyped(flow, set()) == []
    assert _aliases(flow) == _aliases(RECORD_MODELS["flow"]) | {OMITTED_FIELDS}


def test_generated_models_read_published_batches_strictly(events: types.ModuleType) -> None:
    doc = json.loads((REPO / "docs" / "asyncapi.json").read_text())
    example = doc["components"]["messages"]["FlowsEnriched"]["examples"][0]["payload"]
    read = events.FlowsEnriched.model_validate(example)
    assert read.flows[0].destination_ip == "74.120.55.163"
    flow = {
        "_id": f"{CID}-udp-7",
        "@timestamp": "2026-01-15T09:12:44.120391Z",
        "ecs.version": "8.11.0",
        "event.dataset": "flow",
        "event.kind": "event",
        "pcaptotal.capture_id": CID,
        "pcaptotal.verdict": "suspicious",
        "network.transport": "udp",
        "dns.question.name": ["a.example"],
        "dns.question": [{"name": "a.example", "type": "A"}],
        "url.original": ["http://a.example/" + "x" * 600_000],  # cut: too big for a body
    }
    read = events.FlowsEnriched.model_validate(_published(flow))
    (got,) = read.flows
    assert got.pcaptotal_omitted_fields == ["url.original"]
    assert got.dns_question[0].type == "A" and got.field_timestamp.year == 2026
    with pytest.raises(ValidationError, match=r"pcaptotal\.undeclared"):
        events.FlowsEnriched.model_validate(_published({**flow, "pcaptotal.undeclared": 1}))
