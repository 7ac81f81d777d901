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
    # Set when the capture is private: its events then go under private routing keys.
    private_owner: str | None = None

    def fields(self) -> dict[str, Any]:
        """The run as capture-document fields."""
        return {"analysis_id": str(self.analysis_id), "generation": self.generation}

    def envelope(self) -> dict[str, Any]:
        """The run as event envelope fields."""
        out: dict[str, Any] = {"analysis_id": self.analysis_id, "generation": self.generation}
        if self.private_owner is not None:
            out |= {"visibility": "private", "owner": self.private_owner}
        return out


def private_owner(doc: dict[str, Any] | None) -> str | None:
    """The owner of a private capture's document; None for a public (or older) one."""
    if not doc or doc.get("visibility") != "private":
        return None
    return str(doc.get("owner") or "")


def next_run(doc: dict[str, Any] | None, *, owner_if_private: str | None = None) -> AnalysisRun:
    """A new run for a capture (the first one when there is no document yet: then
    ``owner_if_private`` says whether the upload is private)."""
    generation = int((doc or {}).get("generation") or 0) + 1
    owner = private_owner(doc)
    return AnalysisRun(uuid.uuid4(), generation, owner_if_private if owner is None else owner)


def current_run(doc: dict[str, Any] | None) -> AnalysisRun | None:
    """The run a capture document records, if it records one."""
    if not doc or not doc.get("analysis_id"):
        return None
    try:
        analysis_id = uuid.UUID(str(doc["analysis_id"]))
        return AnalysisRun(analysis_id, int(doc.get("generation") or 1), private_owner(doc))
    except ValueError:
        return None
