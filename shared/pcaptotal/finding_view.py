"""A finding as documents keep it inline (``pcaptotal.findings`` of a flow or capture).

Shared because two contracts declare it: the search API's records and capture view (OpenAPI)
and the flows of ``flows.enriched`` events (AsyncAPI, ``pcaptotal.record_schema``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypeAliasType

Severity = Literal["low", "medium", "high"]
# A JSON value, named so that a generated client gets a typed union rather than ``Any``.
EvidenceValue = TypeAliasType(
    "EvidenceValue",
    "str | int | float | bool | list[EvidenceValue] | dict[str, EvidenceValue] | None",
)


class FindingView(BaseModel):
    """A heuristic finding or intel hit, as the capture document keeps it inline."""

    model_config = ConfigDict(extra="forbid")

    name: str
    severity: Severity
    explanation: str
    flow_ids: list[str] = Field(description="the flows behind it (at most 50; see flow_count)")
    flow_count: int = Field(ge=0)
    evidence: dict[str, EvidenceValue] = Field(
        description="the numbers behind the finding, by name (JSON values)"
    )
    matched: str | None = Field(default=None, description="the value an indicator matched")
