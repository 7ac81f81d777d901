"""The stamp a record carries: its capture's visibility and owner, under two fields that index
queries filter on (``pcaptotal.access.visibility``). Who stamps: the record's maker, or
``stamping`` on the way into the index."""

from __future__ import annotations

from typing import Any

from pcaptotal import fields

VIS_FIELD = "pcaptotal.visibility"
OWNER_FIELD = "pcaptotal.owner"
PUBLIC = "public"

Stamp = tuple[str, str | None]  # (visibility, owner)


def record_capture(doc: dict[str, Any]) -> str | None:
    """The capture a record belongs to (the capture whose stamp it should carry)."""
    cid = next(iter(fields.values_of(doc, "pcaptotal.capture_id")), None)
    return None if cid is None else str(cid)


def capture_stamp(capture: dict[str, Any] | None) -> Stamp:
    """The visibility and owner a capture document gives its records."""
    cap = capture or {}
    return str(cap.get("visibility") or PUBLIC), cap.get("owner") or None


def stamped(doc: dict[str, Any], visibility: str, owner: str | None) -> dict[str, Any]:
    out = {**doc, VIS_FIELD: visibility}
    if owner:
        out[OWNER_FIELD] = owner
    return out
