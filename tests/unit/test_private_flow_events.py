"""A private capture's events go under ``private.`` keys (``private.capture.*``,
``private.flows.*``): a subscriber bound to the public keys never receives them (memory bus;
tests/integration/test_private_events.py runs the pipeline over RabbitMQ)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import jsonschema_rs
from pcaptotal.adapters.memory_bus import MemoryBus
from pcaptotal.asyncapi import build_document
from pcaptotal.messages import (
    CaptureAnalyzed,
    CaptureFailed,
    FlowsEnriched,
    FlowsRetracted,
    decode,
    encode,
    flow_routing_key,
    routing_key,
)
from pcaptotal.ports import Delivery
from pcaptotal.runs import current_run, next_run
from pcaptotal_enricher.events import Published, Run, publish_enriched, publish_retractions

PUBLIC_CID, PRIVATE_CID = "a" * 64, "b" * 64


def _flows(cid: str) -> list[dict[str, Any]]:
    verdicts = ["clean", "suspicious", "malicious"]
    return [{"_id": f"{cid}-tcp-{i}", "pcaptotal.verdict": verdicts[i % 3]} for i in range(9)]


def test_run_of_a_capture_document() -> None:
    aid = uuid.uuid4()
    private = Run.of_capture(PRIVATE_CID, aid, 1, {"visibility": "private", "owner": "alice"})
    assert (private.visibility, private.owner) == ("private", "alice")
    # Public captures (and documents older than visibility) name no owner on the bus.
    for doc in ({"visibility": "public", "owner": "bob"}, {}, None):
        run = Run.of_capture(PUBLIC_CID, aid, 1, doc)
        assert (run.visibility, run.owner) == ("public", None)


def test_routing_keys() -> None:
    assert flow_routing_key("enriched", "malicious") == "flows.enriched.malicious"
    assert flow_routing_key("retracted", "clean", "private") == "private.flows.retracted.clean"
    run = {"capture_id": PRIVATE_CID, "analysis_id": uuid.uuid4(), "generation": 1}
    failed = CaptureFailed(**run, stage="parse", error="x", visibility="private", owner="a")
    assert routing_key(failed) == "private.capture.failed"
    assert routing_key(CaptureFailed(**run, stage="parse", error="x")) == "capture.failed"


def test_runs_carry_the_capture_visibility() -> None:
    """Every producer builds its envelope from the run, so every event of a private capture
    (stored, re-driven, parsed, failed) is private."""
    private_doc = {"visibility": "private", "owner": "alice", "analysis_id": str(uuid.uuid4())}
    for run in (current_run(private_doc), next_run(private_doc)):
        assert run is not None
        assert {"visibility": "private", "owner": "alice"}.items() <= run.envelope().items()
    first = next_run(None, owner_if_private="bob")  # a private upload: no document yet
    assert first.envelope()["owner"] == "bob" and first.generation == 1
    for doc in (None, {"visibility": "public", "owner": "bob"}, {}):
        assert "visibility" not in next_run(doc).envelope()  # public: the default
    event = CaptureAnalyzed(
        capture_id=PRIVATE_CID, **next_run(private_doc).envelope(), summary={}, flows_indexed=0
    )
    assert routing_key(event) == "private.capture.analyzed"


async def test_public_subscribers_never_receive_private_flows() -> None:
    bus = MemoryBus()
    got: dict[str, list[tuple[str, bytes]]] = {"public": [], "private": [], "malicious": []}

    def keep(name: str) -> Any:
        async def on(d: Delivery) -> None:
            got[name].append((d.event.capture_id, encode(d.event)))

        return on

    # What a README-style subscriber binds, and a trusted consumer of private flows.
    await bus.subscribe("public", ["capture.*", "flows.#"], keep("public"))
    await bus.subscribe("soar", ["flows.enriched.malicious"], keep("malicious"))
    await bus.subscribe("private", ["private.flows.#"], keep("private"))
    docs = {PUBLIC_CID: {"visibility": "public"}, PRIVATE_CID: {"visibility": "private"}}
    for cid, doc in docs.items():
        run = Run.of_capture(cid, uuid.uuid4(), 2, {**doc, "owner": "alice"})
        sent = Published()
        await publish_retractions(bus, run, {"suspicious": [f"{cid}-tcp-99"]}, sent)
        await publish_enriched(bus, run, _flows(cid), sent)
    await asyncio.wait_for(bus.wait_idle(), 5)

    assert got["public"] and {cid for cid, _ in got["public"]} == {PUBLIC_CID}
    assert {cid for cid, _ in got["malicious"]} == {PUBLIC_CID}
    assert all(PRIVATE_CID.encode() not in body for _, body in got["public"] + got["malicious"])
    events = [decode(body) for cid, body in got["private"]]
    assert {e.capture_id for e in events} == {PRIVATE_CID}
    flows = [f["event.id"] for e in events if isinstance(e, FlowsEnriched) for f in e.flows]
    assert sorted(flows) == sorted(f["_id"] for f in _flows(PRIVATE_CID))
    retracted = [e for e in events if isinstance(e, FlowsRetracted)]
    assert [r.event_ids for r in retracted] == [[f"{PRIVATE_CID}-tcp-99"]]
    for e in events:
        assert isinstance(e, FlowsEnriched | FlowsRetracted)
        assert (e.visibility, e.owner) == ("private", "alice")
        assert e.routing_key.startswith("private.flows.")
    public = [decode(body) for _, body in got["public"]]
    assert all(getattr(e, "visibility", "public") == "public" for e in public)
    assert any(isinstance(e, FlowsRetracted) for e in public)


def test_asyncapi_declares_the_private_keys() -> None:
    doc = build_document()
    addresses = {c["address"]: c for c in doc["channels"].values()}
    for kind, model in (("enriched", FlowsEnriched), ("retracted", FlowsRetracted)):
        channel = addresses[f"private.flows.{kind}.{{verdict}}"]
        assert list(channel["messages"]) == [model.__name__]
        assert channel["parameters"]["verdict"]["enum"] == ["clean", "suspicious", "malicious"]
    assert {"sendPrivateFlowsEnriched", "sendPrivateFlowsRetracted"} <= set(doc["operations"])
    for name in ("stored", "parsed", "analyzed", "failed"):
        assert f"private.capture.{name}" in addresses
    schema = doc["components"]["schemas"]["FlowsEnriched"]
    assert schema["properties"]["visibility"]["enum"] == ["public", "private"]
    assert "private.flows" in doc["info"]["description"]
    # A private batch is valid against the documented message.
    event = FlowsEnriched(
        capture_id=PRIVATE_CID,
        analysis_id=uuid.uuid4(),
        generation=1,
        visibility="private",
        owner="alice",
        verdict="clean",
        seq=0,
        last=True,
        flows=[{"event.id": f"{PRIVATE_CID}-tcp-0", "event.dataset": "flow",
                "event.kind": "event", "ecs.version": "8.11.0",
                "@timestamp": "2026-01-15T09:12:44.120391Z",
                "pcaptotal.capture_id": PRIVATE_CID, "pcaptotal.visibility": "private",
                "pcaptotal.owner": "alice", "pcaptotal.verdict": "clean"}],
    )  # fmt: skip
    validator = jsonschema_rs.validator_for(
        {"$ref": "#/components/schemas/FlowsEnriched", "components": doc["components"]}
    )
    validator.validate(event.model_dump(mode="json"))
