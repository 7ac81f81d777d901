"""Event messages exchanged on the bus: one envelope, one model per event type.

Every event belongs to one analysis run of one capture: ``analysis_id`` names the run and
``generation`` counts the capture's runs (1 for the first upload, +1 per re-analysis). Blob keys
never travel: every stage derives them from ``capture_id`` (``pcaptotal.keys``), so the public
messages hold only what a subscriber can use.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from pcaptotal.record_schema import declared_as, flow_event_record
from pcaptotal.verdicts import VERDICTS as VERDICTS  # re-exported: events use them
from pcaptotal.verdicts import Verdict as Verdict

# 3: capture.analyzed says flows_indexed and risk_score (the capture's names), not flow_count/score
SCHEMA_VERSION = 3

# Batch bounds of flows.enriched / flows.retracted (enforced in the enricher's events module).
# The byte bound counts the whole AMQP body, envelope included.
MAX_BATCH_FLOWS = 500
MAX_RETRACTION_IDS = 5000
MAX_BODY_BYTES = 512 * 1024

# The stage that gave up on a capture (closed set: the producers of capture.failed).
Stage = Literal["parse", "enrich", "reconcile"]
# Every event of a private capture goes under this prefix (``private.capture.analyzed``,
# ``private.flows.enriched.<verdict>``), so a subscriber bound to the public keys
# (``capture.*``, ``flows.#``) never receives private data.
FlowVisibility = Literal["public", "private"]
PRIVATE_KEY_PREFIX = "private."


def scoped_key(key: str, visibility: FlowVisibility = "public") -> str:
    """``key``, under ``private.`` for a private capture's events."""
    return f"{PRIVATE_KEY_PREFIX}{key}" if visibility == "private" else key


def flow_routing_key(
    kind: Literal["enriched", "retracted"], verdict: str, visibility: FlowVisibility = "public"
) -> str:
    """``flows.<kind>.<verdict>``, under ``private.`` for a private capture's flows."""
    return scoped_key(f"flows.{kind}.{verdict}", visibility)


def _now() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    # Serialised field defaults are always on the wire, so the schema lists them as required.
    model_config = ConfigDict(
        extra="ignore", frozen=True, json_schema_serialization_defaults_required=True
    )

    id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        description="message id (also the AMQP message_id); the same for a redelivery or a "
        "republish of the same message of the same analysis run",
    )
    type: str
    schema_version: int = SCHEMA_VERSION
    time: datetime = Field(
        default_factory=_now, description="when the event was published (RFC 3339, UTC, `Z`)"
    )
    capture_id: str = Field(
        description="SHA-256 of the capture bytes (64 lowercase hex digits)",
        pattern="^[0-9a-f]{64}$",
    )
    analysis_id: uuid.UUID = Field(
        description="the analysis run this event belongs to; every event of one run carries it"
    )
    generation: int = Field(
        ge=1, description="the capture's run number: 1 for the upload, +1 per re-analysis"
    )
    trace_id: str | None = Field(
        default=None,
        max_length=64,
        description="correlation id of the request that started this work; logged on every "
        "line about the capture in every service (absent in messages from older versions)",
    )
    visibility: FlowVisibility = Field(
        default="public",
        description="the capture's visibility; a private capture's events are published only "
        "under `private.` routing keys",
    )
    owner: str | None = Field(
        default=None, description="the owner of a private capture (null for public ones)"
    )


class FlowCounts(BaseModel):
    tcp: int = 0
    udp: int = 0
    other: int = 0


class CaptureSummary(BaseModel):
    """The numbers a user sees for a capture; each has a tshark-checkable definition."""

    packets: int = 0
    bytes: int = 0
    flows: FlowCounts = Field(default_factory=FlowCounts)
    dns_query_names: int = 0
    http_requests: int = 0
    tls_server_names: int = 0


class CaptureStored(Envelope):
    """A capture was accepted and stored; its analysis run starts."""

    type: Literal["capture.stored"] = "capture.stored"
    size: int = Field(ge=0, description="bytes of the stored capture (decompressed)")
    filename: str | None = Field(default=None, description="the uploaded file's name")


class CaptureParsed(Envelope):
    """The capture was dissected into flows; enrichment comes next."""

    type: Literal["capture.parsed"] = "capture.parsed"
    flow_count: int = Field(ge=0, description="flows the parser found")
    summary: CaptureSummary
    warnings: list[str] = Field(default_factory=list)


class VerdictTally(BaseModel):
    """What one verdict's routing keys carried in one analysis run."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    flows: int = Field(default=0, ge=0, description="flows with this verdict")
    batches: int = Field(
        default=0, ge=0, description="flows.enriched.<verdict> messages of this run"
    )
    retracted_flows: int = Field(
        default=0, ge=0, description="flows that left this verdict since the previous run"
    )
    retraction_batches: int = Field(
        default=0, ge=0, description="flows.retracted.<verdict> messages of this run"
    )


class PerVerdict(BaseModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    clean: VerdictTally = Field(default_factory=VerdictTally)
    suspicious: VerdictTally = Field(default_factory=VerdictTally)
    malicious: VerdictTally = Field(default_factory=VerdictTally)

    def of(self, verdict: Verdict) -> VerdictTally:
        tally: VerdictTally = getattr(self, verdict)
        return tally


class CaptureAnalyzed(Envelope):
    """The analysis run finished: verdict, and what every verdict's routing keys carried."""

    type: Literal["capture.analyzed"] = "capture.analyzed"
    summary: CaptureSummary
    flows_indexed: int = Field(
        ge=0, description="flows indexed (and published) by this run (the capture's flows_indexed)"
    )
    warnings: list[str] = Field(default_factory=list)
    verdict: Verdict = "clean"
    risk_score: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="0-100 score behind the verdict (the capture's risk_score; event.risk_score "
        "on flow records)",
    )
    reasons: list[str] = Field(default_factory=list, description="why the verdict, in words")
    tags: list[str] = Field(default_factory=list, description="malware families named by feeds")
    per_verdict: PerVerdict = Field(
        default_factory=PerVerdict,
        description="per verdict: flows, flows.enriched batches, retracted flows and "
        "flows.retracted batches published by this run (a subscriber to one verdict knows "
        "when it has everything)",
    )


# A flow as published: a dict at run time (as indexed, never re-validated per batch), declared in
# the AsyncAPI document as the strict flow record of the HTTP API (``FlowEventRecord``).
FlowDocument = Annotated[dict[str, Any], declared_as(flow_event_record)]


class FlowsEnriched(Envelope):
    """A bounded batch of enriched flows of one capture, all with one verdict.

    Published with routing key ``flows.enriched.<verdict>`` (a private capture's:
    ``private.flows.enriched.<verdict>``); ``seq`` counts the batches of a run and verdict from
    0 and ``last`` marks the final one; ``capture.analyzed`` repeats the number of batches per
    verdict.
    """

    type: Literal["flows.enriched"] = "flows.enriched"
    verdict: Verdict
    seq: int = Field(ge=0, description="batch number within this run and verdict, from 0")
    last: bool = Field(description="the final batch of this run and verdict")
    flows: list[FlowDocument] = Field(
        min_length=1,
        max_length=MAX_BATCH_FLOWS,
        description="flow documents (ECS field names, as indexed and as served by the search "
        "API); `event.id` is a flow's stable id across runs",
    )

    @property
    def routing_key(self) -> str:
        return flow_routing_key("enriched", self.verdict, self.visibility)


class FlowsRetracted(Envelope):
    """Flows that left a verdict: sent on the old verdict's key after a re-analysis.

    Published with routing key ``flows.retracted.<old verdict>`` (a private capture's under
    ``private.``, like its batches); ``event_ids`` are the
    ``event.id`` of flows an earlier run published under ``flows.enriched.<verdict>`` that
    this run gives another verdict (or no longer has).
    """

    type: Literal["flows.retracted"] = "flows.retracted"
    verdict: Verdict = Field(description="the verdict the flows left")
    seq: int = Field(ge=0, description="batch number within this run and verdict, from 0")
    last: bool = Field(description="the final retraction batch of this run and verdict")
    event_ids: list[str] = Field(min_length=1, max_length=MAX_RETRACTION_IDS)

    @property
    def routing_key(self) -> str:
        return flow_routing_key("retracted", self.verdict, self.visibility)


class CaptureFailed(Envelope):
    """The analysis run failed; ``error`` says why, in words a person can act on."""

    type: Literal["capture.failed"] = "capture.failed"
    stage: Stage = Field(description="the stage that gave up")
    error: str = Field(min_length=1)


Event = Annotated[
    CaptureStored
    | CaptureParsed
    | CaptureAnalyzed
    | CaptureFailed
    | FlowsEnriched
    | FlowsRetracted,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


EVENT_MODELS: tuple[type[Envelope], ...] = (
    CaptureStored,
    CaptureParsed,
    CaptureAnalyzed,
    CaptureFailed,
    FlowsEnriched,
    FlowsRetracted,
)


def message_id(analysis_id: uuid.UUID, routing_key: str, seq: int = 0) -> uuid.UUID:
    """Deterministic message id: a redelivered run republishes the same ids (dedupable)."""
    return uuid.uuid5(analysis_id, f"{routing_key}/{seq}")


def routing_key(event: Envelope) -> str:
    """The topic an event is published under (``flows.<kind>.<verdict>`` for flow batches),
    under ``private.`` for a private capture's."""
    if isinstance(event, FlowsEnriched | FlowsRetracted):
        return event.routing_key
    return scoped_key(event.type, event.visibility)


def encode(event: Envelope) -> bytes:
    return event.model_dump_json().encode()


def encode_items(event: Envelope, field: str, items: Sequence[bytes]) -> bytes:
    """The body of ``event`` with its list ``field`` (its last field, empty in ``event``)
    holding ``items``, each the JSON of one item already: a batch's items are serialised once,
    where they were made, not again as a model's."""
    head = encode(event)
    empty = f'"{field}":[]}}'.encode()
    if not head.endswith(empty):
        raise ValueError(f"{event.type}: '{field}' is not its last field or is not empty")
    return b"".join((head[:-2], b",".join(items), b"]}"))


def decode(body: bytes | str | dict[str, Any]) -> Event:
    if isinstance(body, dict):
        return EVENT_ADAPTER.validate_python(body)
    return EVENT_ADAPTER.validate_json(body)
