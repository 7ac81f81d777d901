"""Records carry their capture's visibility and owner, whoever indexes them.

``stamping`` wraps an Index (``Context.with_retry`` applies it to every process's adapters):
each record passed to ``add_flows`` gets ``pcaptotal.visibility`` and ``pcaptotal.owner`` from
its capture document, so index queries can filter on them (``pcaptotal.access.visibility``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pcaptotal import fields
from pcaptotal.ports import Index

VIS_FIELD = "pcaptotal.visibility"
OWNER_FIELD = "pcaptotal.owner"
PUBLIC = "public"


class StampingIndex:
    """Every record written through ``add_flows`` carries its capture's visibility and owner
    (so index queries can filter on them); everything else is forwarded."""

    def __init__(self, inner: Index) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def unwrapped(self) -> Index:
        return self._inner

    async def add_flows(self, docs: Sequence[dict[str, Any]]) -> None:
        marks: dict[str, tuple[str, str | None]] = {}
        out = []
        for doc in docs:
            cid = next(iter(fields.values_of(doc, "pcaptotal.capture_id")), None)
            if cid is None:
                out.append(doc)
                continue
            if cid not in marks:
                cap = await self._inner.get_capture(str(cid))
                cap = cap or {}
                marks[cid] = (str(cap.get("visibility") or PUBLIC), cap.get("owner"))
            vis, owner = marks[cid]
            stamped = {**doc, VIS_FIELD: vis}
            if owner:
                stamped[OWNER_FIELD] = owner
            out.append(stamped)
        await self._inner.add_flows(out)


def stamping(index: Index) -> Index:
    if isinstance(index, StampingIndex):
        return index
    proxy: Any = StampingIndex(index)
    return proxy  # type: ignore[no-any-return]
