"""Analysis runs: every pass of a capture through the pipeline has an id and a generation.

Ingest starts a run (``generation`` 1 on upload, +1 per re-analysis) and keeps it on the
capture document (``analysis_id``, ``generation``); every event of the run carries both. A
re-drive by the reconciler repeats the same run (it is a retry, not a new analysis).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class AnalysisRun:
    analysis_id: uuid.UUID
    generation: int

    def fields(self) -> dict[str, Any]:
        """The run as capture-document fields."""
        return {"analysis_id": str(self.analysis_id), "generation": self.generation}

    def envelope(self) -> dict[str, Any]:
        """The run as event envelope fields."""
        return {"analysis_id": self.analysis_id, "generation": self.generation}


def next_run(doc: dict[str, Any] | None) -> AnalysisRun:
    """A new run for a capture (the first one when there is no document yet)."""
    generation = int((doc or {}).get("generation") or 0) + 1
    return AnalysisRun(uuid.uuid4(), generation)


def current_run(doc: dict[str, Any] | None) -> AnalysisRun | None:
    """The run a capture document records, if it records one."""
    if not doc or not doc.get("analysis_id"):
        return None
    try:
        return AnalysisRun(uuid.UUID(str(doc["analysis_id"])), int(doc.get("generation") or 1))
    except ValueError:
        return None
