"""The capture as the read API serves it: every field the capture document can hold, strict.

Kept in a module of its own because the document's shape is still moving (findings as their
own records, progress, ECS names): whoever changes what ``CaptureRepository`` writes adjusts
this model, and the tests fail until they do (``tests/integration/test_event_semantics.py``
checks stored documents against it; ``tests/e2e/test_capture_view.py`` checks live answers
against the OpenAPI document, with no additional properties allowed anywhere).

Timestamps are ``datetime``: the API writes them RFC 3339 in UTC ending in ``Z`` whatever
offset form the document stored.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, Self

import structlog
from pcaptotal.capture_context import CaptureContext
from pcaptotal.captures import Status
from pcaptotal.finding_view import FindingView, Severity
from pcaptotal.messages import CaptureSummary, FlowCounts, Verdict
from pydantic import BaseModel, ConfigDict, Field

log = structlog.get_logger(__name__)

_STRICT = ConfigDict(extra="forbid")


class FlowCountsView(FlowCounts):
    model_config = _STRICT


class SummaryView(CaptureSummary):
    """The numbers a user sees for a capture; each has a tshark-checkable definition."""

    model_config = _STRICT

    flows: FlowCountsView = Field(default_factory=FlowCountsView)


class FindingSummaryView(BaseModel):
    """Per finding name: how often it fired in the capture, at its highest severity."""

    model_config = _STRICT

    name: str
    severity: Severity
    source: str
    count: int = Field(ge=0)


class ProgressView(BaseModel):
    """How far the analysis is. Parsing: packets and file bytes read so far (the packet total
    is known only once the parse ends; bytes are estimated from the packets read); enriching:
    records read and indexed (``records_total`` counts both passes)."""

    model_config = _STRICT

    stage: Literal["stored", "parsing", "enriching", "done", "failed"]
    percent: float = Field(ge=0, le=100, description="share of the current stage done")
    bytes_processed: int = Field(ge=0)
    bytes_total: int = Field(ge=0, description="the capture's size")
    packets_processed: int = Field(ge=0)
    packets_total: int | None = Field(default=None, ge=0, description="unknown while parsing")
    records_processed: int | None = Field(default=None, ge=0)
    records_total: int | None = Field(default=None, ge=0)
    eta_seconds: float | None = Field(
        default=None, ge=0, description="estimated time left in this stage, from its rate"
    )
    updated: datetime = Field(description="when these numbers were written")


# Capture-document keys -> the API's name for the same thing (one vocabulary: ``capture_id``
# as in events, ``risk_score`` as records' ``event.risk_score``); the stored keys stay, so the
# index needs no migration.
STORED_NAMES = {"id": "capture_id", "score": "risk_score"}


def api_names(doc: dict[str, Any]) -> dict[str, Any]:
    """The stored capture document under the API's names (``STORED_NAMES``)."""
    return {STORED_NAMES.get(k, k): v for k, v in doc.items()}


class CaptureView(BaseModel):
    model_config = _STRICT

    capture_id: str = Field(
        description="SHA-256 of the capture bytes (of owner and bytes for a private capture); "
        "records carry it as pcaptotal.capture_id, events as capture_id",
        pattern="^[0-9a-f]{64}$",
    )
    sha256: str | None = Field(
        default=None, description="SHA-256 of the capture bytes", pattern="^[0-9a-f]{64}$"
    )
    md5: str | None = Field(
        default=None,
        description="MD5 of the capture bytes (PacketTotal-compatible lookups)",
        pattern="^[0-9a-f]{32}$",
    )
    visibility: Literal["public", "private"] = Field(
        default="public", description="private: only its owner (and admins) see it"
    )
    owner: str | None = Field(default=None, description="who uploaded it")
    status: Status
    error: str | None = Field(default=None, description="why the capture failed, in words")
    warnings: list[str] = Field(default_factory=list)
    summary: SummaryView = Field(default_factory=SummaryView)
    size: int = Field(ge=0, description="bytes of the stored capture (decompressed)")
    filename: str | None = None
    created: datetime
    updated: datetime
    status_times: dict[Status, datetime] = Field(description="when each status was reached")
    analysis_id: uuid.UUID | None = Field(
        default=None, description="the current analysis run (events carry the same id)"
    )
    generation: int | None = Field(
        default=None, ge=1, description="the run number: 1 for the upload, +1 per re-analysis"
    )
    redrives: int = Field(default=0, ge=0, description="times the run was re-driven when stuck")
    verdict: Verdict | None = None
    risk_score: float | None = Field(
        default=None, ge=0, le=100, description="0-100 score behind the verdict (event.risk_score)"
    )
    reasons: list[str] = Field(default_factory=list, description="why the verdict, in words")
    tags: list[str] = Field(default_factory=list, description="malware families named by feeds")
    context: CaptureContext | None = Field(
        default=None,
        description="the uploader's tags, source, description and targeted sector (editable)",
    )
    findings: list[FindingView] | None = Field(
        default=None, description="heuristic findings and intel hits (at most 200)"
    )
    finding_count: int | None = Field(default=None, ge=0)
    finding_summary: list[FindingSummaryView] | None = None
    record_count: int | None = Field(default=None, ge=0)
    flows_indexed: int | None = Field(default=None, ge=0, description="flow documents indexed")
    flow_verdicts: dict[Verdict, int] | None = Field(
        default=None, description="number of flows per verdict"
    )
    progress: ProgressView | None = Field(
        default=None, description="how far the analysis is (updated at least every 2 s)"
    )

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Self:
        """The view of a stored document. A field this model does not declare yet is left
        out and logged (the tests fail on it), rather than failing the request."""
        named = api_names(doc)
        unknown = sorted(set(named) - set(cls.model_fields))
        if unknown:
            log.warning("capture document fields not in CaptureView", fields=unknown)
        return cls.model_validate({k: v for k, v in named.items() if k in cls.model_fields})


class CaptureList(BaseModel):
    model_config = _STRICT

    captures: list[CaptureView]
