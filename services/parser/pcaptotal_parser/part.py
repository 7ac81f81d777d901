"""One part of a split capture: which of the original frames it holds, and what the
prefilter kept from its tshark."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True)
class Part:
    path: Path
    frames: array[int] = field(default_factory=lambda: array("L"))  # original frame numbers
    # withheld by the prefilter: packets and bytes that only count in the totals, and packets
    # of sealed conversations (their side channel carries them)
    counted_packets: int = 0
    counted_bytes: int = 0
    withheld: int = 0

    @property
    def packets(self) -> int:
        return len(self.frames)
