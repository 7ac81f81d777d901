"""Records carry their capture's visibility and owner, whoever indexes them.

``stamping`` wraps an Index (``Context.with_retry`` applies it to every process's adapters):
each record passed to ``add_flows`` gets ``pcaptotal.visibility`` and ``pcaptotal.owner`` from
its capture document, so index queries can filter on them (``pcaptotal.access.visibility``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pcaptotal.access.stamps import OWNER_FIELD as OWNER_FIELD
from pcaptotal.access.stamps import PUBLIC as PUBLIC
from pcaptotal.access.stamps import VIS_FIELD as VIS_FIELD
from pcaptotal.access.stamps import Stamp as Stamp
from pcaptotal.access.stamps import capture_stamp as capture_stamp
from pcaptotal.access.stamps import record_capture
from pcaptotal.access.stamps import stamped as stamped
from pcaptotal.ports import Index

if TYPE_CHECKING:
    from pcaptotal.prepared import PreparedRecord


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
        marks: dict[str, Stamp] = {}
        out = []
        for doc in docs:
            mark = await self._mark(doc, marks)
            out.append(doc if mark is None else stamped(doc, *mark))
        await self._inner.add_flows(out)

    async def add_prepared(self, records: Sequence[PreparedRecord]) -> None:
        """Records stamped (and encoded) by their maker pass as they are; one whose stamp is
        not its capture's now is stamped here, unencoded (its encoding holds the old
        stamp)."""
        marks: dict[str, Stamp] = {}
        out: list[PreparedRecord] = []
        for rec in records:
            mark = None if rec.capture_id is None else await self._stamp(rec.capture_id, marks)
            if mark is None or (rec.visibility, rec.owner) == mark:
                out.append(rec)
            else:
                out.append(rec.restamped(*mark))
        await self._inner.add_prepared(out)

    async def _mark(self, doc: dict[str, Any], marks: dict[str, Stamp]) -> Stamp | None:
        cid = record_capture(doc)
        return None if cid is None else await self._stamp(cid, marks)

    async def _stamp(self, capture_id: str, marks: dict[str, Stamp]) -> Stamp:
        if capture_id not in marks:
            marks[capture_id] = capture_stamp(await self._inner.get_capture(capture_id))
        return marks[capture_id]


def stamping(index: Index) -> Index:
    if isinstance(index, StampingIndex):
        return index
    proxy: Any = StampingIndex(index)
    return proxy  # type: ignore[no-any-return]
