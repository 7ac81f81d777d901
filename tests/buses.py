"""A bus for worker tests: keeps every event a worker published instead of delivering it."""

from __future__ import annotations

from pcaptotal.adapters.memory_bus import MemoryBus
from pcaptotal.messages import Envelope


class RecordingBus(MemoryBus):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Envelope] = []

    async def publish(self, event: Envelope, routing_key: str | None = None) -> None:
        self.sent.append(event)
