"""The adapters one process runs with, built once from Settings by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pcaptotal.access.stamping import StampingIndex, stamping
from pcaptotal.access.visibility import VisibleBlobs, VisibleIndex
from pcaptotal.captures import CaptureRepository
from pcaptotal.ports import BlobStore, Bus, Index
from pcaptotal.resilience import retrying
from pcaptotal.settings import Settings


@dataclass(slots=True)
class Context:
    settings: Settings
    bus: Bus
    blobs: BlobStore
    index: Index
    captures: CaptureRepository = field(init=False)

    def __post_init__(self) -> None:
        self.captures = CaptureRepository(self.index)

    def with_retry(self, budget_s: float) -> Context:
        """The same adapters, with blob-store and index calls retried through transient
        outages for ``budget_s`` seconds (workers: minutes; HTTP requests: seconds). Records
        written through it carry their capture's visibility (``pcaptotal.access.stamping``)."""
        return Context(
            settings=self.settings,
            bus=self.bus,
            blobs=retrying(self.blobs, "blob store", budget_s),
            index=stamping(retrying(_unstamped(self.index), "index", budget_s)),
        )

    def visible(self) -> Context:
        """The same adapters with Index and BlobStore reads scoped to ``current_identity``
        (``pcaptotal.access.visibility``; for requests)."""
        out = Context(settings=self.settings, bus=self.bus, blobs=self.blobs, index=self.index)
        index: Any = VisibleIndex(self.index)
        blobs: Any = VisibleBlobs(self.blobs, self.index)
        out.index, out.blobs = index, blobs
        out.captures = type(self.captures)(index)
        return out


def _unstamped(index: Index) -> Index:
    return index.unwrapped if isinstance(index, StampingIndex) else index
