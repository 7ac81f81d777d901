"""What a heuristic returns: an explainable ``Finding``."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3}


class Finding(BaseModel):
    """One heuristic result: a name, a severity, one line a person understands, the evidence.

    ``flow_ids`` are the ``_id`` of every flow the finding cites (all of them; ``to_dict``
    truncates the list for storage); ``evidence`` holds the numbers behind the explanation.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    severity: Severity
    explanation: str
    flow_ids: tuple[str, ...] = ()
    evidence: dict[str, Any] = Field(default_factory=dict)
    # the matched bytes (exploitation patterns), shown verbatim (escaped) to the analyst
    matched: str | None = None

    def to_dict(self, max_flow_ids: int = 50) -> dict[str, Any]:
        """JSON-ready form; at most ``max_flow_ids`` ids, ``flow_count`` tells the total."""
        return {
            "name": self.name,
            "severity": self.severity.value,
            "explanation": self.explanation,
            "flow_ids": list(self.flow_ids[:max_flow_ids]),
            "flow_count": len(self.flow_ids),
            "evidence": dict(self.evidence),
            **({"matched": self.matched} if self.matched is not None else {}),
        }
