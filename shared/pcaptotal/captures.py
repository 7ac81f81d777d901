"""Capture documents: status transitions kept on the capture document in the Index."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pcaptotal.clock import now_iso
from pcaptotal.messages import CaptureSummary
from pcaptotal.metrics import CAPTURE_STATUS
from pcaptotal.ports import Index
from pcaptotal.progress import FIELD as PROGRESS
from pcaptotal.progress import at_status


class Status(StrEnum):
    STORED = "stored"
    PARSING = "parsing"
    ENRICHING = "enriching"
    DONE = "done"
    FAILED = "failed"


UNFINISHED = (Status.STORED, Status.PARSING, Status.ENRICHING)


def new_capture_doc(capture_id: str, *, size: int, filename: str | None) -> dict[str, Any]:
    ts = now_iso()
    return {
        "id": capture_id,
        "status": Status.STORED.value,
        "error": None,
        "warnings": [],
        "summary": CaptureSummary().model_dump(),
        "size": size,
        "filename": filename,
        "created": ts,
        "updated": ts,
        "status_times": {Status.STORED.value: ts},
        PROGRESS: at_status({"size": size}, "stored"),
    }


class CaptureRepository:
    """Capture documents, changed by atomic read-modify-writes (``Index.change_capture``)."""

    def __init__(self, index: Index) -> None:
        self._index = index

    async def get(self, capture_id: str) -> dict[str, Any] | None:
        return await self._index.get_capture(capture_id)

    async def create(
        self, capture_id: str, *, size: int, filename: str | None, **fields: Any
    ) -> dict[str, Any]:
        doc = new_capture_doc(capture_id, size=size, filename=filename) | fields
        await self._index.put_capture(doc)
        return doc

    async def update(
        self, capture_id: str, status: Status | None = None, **fields: Any
    ) -> dict[str, Any]:
        ts = now_iso()

        def change(doc: dict[str, Any] | None) -> dict[str, Any]:
            if doc is None:
                # A message for a capture whose document vanished: recreate rather than lose it.
                doc = new_capture_doc(capture_id, size=0, filename=None)
            doc.update(fields)
            if status is not None:
                doc["status"] = status.value
                doc.setdefault("status_times", {})[status.value] = ts
                if status is not Status.FAILED:
                    doc["error"] = None
                if PROGRESS not in fields:
                    doc[PROGRESS] = at_status(doc, status.value)
            doc["updated"] = ts
            return doc

        # Atomic: an owner's edit of the context and a stage's progress never erase each other.
        stored = await self._index.change_capture(capture_id, change)
        assert stored is not None  # change always answers a document
        if status is not None:
            CAPTURE_STATUS.labels(status.value).inc()
        return stored

    async def set_progress(self, capture_id: str, progress: dict[str, Any]) -> bool:
        """Write ``progress`` while the capture is still in that stage (a late write must not
        turn a finished stage back). One atomic read-modify-write: callers throttle
        (``progress``)."""

        def change(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            if doc is None or doc.get("status") != progress.get("stage"):
                return None
            doc[PROGRESS] = progress
            doc["updated"] = now_iso()
            return doc

        return await self._index.change_capture(capture_id, change) is not None

    async def fail(self, capture_id: str, reason: str) -> dict[str, Any]:
        return await self.update(capture_id, Status.FAILED, error=reason)
