"""The adapters one process runs with, built once from Settings by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field

from pcaptotal.captures import CaptureRepository
from pcaptotal.ports import BlobStore, Bus, Index
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
