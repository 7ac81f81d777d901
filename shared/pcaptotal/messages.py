"""Event messages exchanged on the bus: one envelope, one model per event type."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

SCHEMA_VERSION = 1


def _now() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: uuid.UUID = Field(
        default_factory=uuid.uuid4, description="unique message id (AMQP message_id)"
    )
    type: str
    schema_version: int = SCHEMA_VERSION
    time: datetime = Field(default_factory=_now)
    capture_id: str = Field(description="SHA-256 of the capture bytes")


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
    type: Literal["capture.stored"] = "capture.stored"
    blob_key: str
    size: int
    filename: str | None = None


class CaptureParsed(Envelope):
    type: Literal["capture.parsed"] = "capture.parsed"
    parsed_key: str = Field(description="blob key of the zstd-compressed NDJSON flow records")
    flow_count: int
    summary: CaptureSummary
    warnings: list[str] = Field(default_factory=list)


Verdict = Literal["clean", "suspicious", "malicious"]


class CaptureAnalyzed(Envelope):
    type: Literal["capture.analyzed"] = "capture.analyzed"
    summary: CaptureSummary
    flows_indexed: int
    warnings: list[str] = Field(default_factory=list)
    verdict: Verdict = "clean"
    score: float = Field(default=0.0, ge=0, le=100, description="risk score behind the verdict")
    reasons: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list, description="malware families named by feeds")


class FlowsEnriched(Envelope):
    """A bounded batch of enriched flow documents of one capture, all with one verdict.

    Published with routing key ``flows.enriched.<verdict>``; ``seq`` counts the batches of a
    capture and verdict from 0 and ``last`` marks the final one, so a subscriber knows it has
    them all.
    """

    type: Literal["flows.enriched"] = "flows.enriched"
    verdict: Verdict
    seq: int = Field(ge=0)
    last: bool
    flows: list[dict[str, Any]] = Field(description="flat flow documents (ECS field names)")

    @property
    def routing_key(self) -> str:
        return f"flows.enriched.{self.verdict}"


class CaptureFailed(Envelope):
    type: Literal["capture.failed"] = "capture.failed"
    stage: str
    reason: str


Event = Annotated[
    CaptureStored | CaptureParsed | CaptureAnalyzed | CaptureFailed | FlowsEnriched,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


EVENT_MODELS: tuple[type[Envelope], ...] = (
    CaptureStored,
    CaptureParsed,
    CaptureAnalyzed,
    CaptureFailed,
    FlowsEnriched,
)


def routing_key(event: Envelope) -> str:
    """The topic an event is published under (``flows.enriched.<verdict>`` for flow batches)."""
    if isinstance(event, FlowsEnriched):
        return event.routing_key
    return event.type


def encode(event: Envelope) -> bytes:
    return event.model_dump_json().encode()


def decode(body: bytes | str | dict[str, Any]) -> Event:
    if isinstance(body, dict):
        return EVENT_ADAPTER.validate_python(body)
    return EVENT_ADAPTER.validate_json(body)
