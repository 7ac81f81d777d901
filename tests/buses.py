"""A bus for worker tests: keeps every event a worker published instead of delivering it."""

from __future__ import annotations

from collections.abc import Sequence

from pcaptotal.adapters.memory_bus import MemoryBus
from pcaptotal.logs import with_trace
from pcaptotal.messages import Envelope, decode, encode, encode_items


class RecordingBus(MemoryBus):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Envelope] = []

    async def publish(self, event: Envelope, routing_key: str | None = None) -> None:
        self.sent.append(event)

    async def publish_items(
        self,
        event: Envelope,
        field: str,
        items: Sequence[bytes],
        routing_key: str | None = None,
    ) -> None:
        self.sent.append(decode(encode_items(event, field, items)))


class BodiesBus(MemoryBus):
    """Keeps the body of every event published (as the wire would carry it) and delivers
    nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []

    async def publish(self, event: Envelope, routing_key: str | None = None) -> None:
        self.bodies.append(encode(with_trace(event)))

    async def publish_items(
        self,
        event: Envelope,
        field: str,
        items: Sequence[bytes],
        routing_key: str | None = None,
    ) -> None:
        self.bodies.append(encode_items(with_trace(event), field, items))
