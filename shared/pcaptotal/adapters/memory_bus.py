"""In-process asyncio bus: the embedded default. Same semantics as the RabbitMQ adapter.

Topic routing uses AMQP rules (``*`` one word, ``#`` zero or more). Each queue has its own
consumers (competing); a handler that raises gets the message again until ``max_attempts``;
then it goes to the dead-letter list, logged, never silently lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pcaptotal.logs import capture_context, with_trace
from pcaptotal.messages import Envelope, decode, encode, encode_items
from pcaptotal.messages import routing_key as default_routing_key
from pcaptotal.metrics import BUS_CONSUMED, BUS_DELIVERIES
from pcaptotal.ports import Delivery, Handler

log = logging.getLogger(__name__)


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: ``*`` is exactly one word, ``#`` zero or more words."""
    parts = []
    for word in pattern.split("."):
        if word == "#":
            parts.append(r"(?:[^.]+(?:\.[^.]+)*)?")
        elif word == "*":
            parts.append(r"[^.]+")
        else:
            parts.append(re.escape(word))
    rx = r"\.".join(parts)
    # '#' may swallow the dots around it
    rx = rx.replace(r"\.(?:[^.]+(?:\.[^.]+)*)?", r"(?:\.[^.]+)*").replace(
        r"(?:[^.]+(?:\.[^.]+)*)?\.", r"(?:[^.]+\.)*"
    )
    return re.fullmatch(rx, routing_key) is not None


@dataclass(slots=True)
class _Queue:
    name: str
    bindings: list[str]
    items: asyncio.Queue[tuple[bytes, int]] = field(default_factory=asyncio.Queue)
    consumers: list[asyncio.Task[None]] = field(default_factory=list)
    dead_handler: Handler | None = None


class MemoryBus:
    def __init__(self, *, max_attempts: int = 3) -> None:
        self._queues: dict[str, _Queue] = {}
        self._max_attempts = max_attempts
        self._inflight = 0
        self._idle = asyncio.Event()  # no handler runs and every queue is empty
        self._idle.set()
        self._no_inflight = asyncio.Event()
        self._no_inflight.set()
        self._stopping = False
        self.dead_letters: list[tuple[str, bytes, str]] = []
        self._dead_tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        return None

    async def publish(self, event: Envelope, routing_key: str | None = None) -> None:
        event = with_trace(event)
        # serialised like the wire, so both adapters see the same bytes
        self._deliver(encode(event), routing_key or default_routing_key(event))

    async def publish_items(
        self,
        event: Envelope,
        field: str,
        items: Sequence[bytes],
        routing_key: str | None = None,
    ) -> None:
        event = with_trace(event)
        self._deliver(encode_items(event, field, items), routing_key or default_routing_key(event))

    def _deliver(self, body: bytes, key: str) -> None:
        for q in self._queues.values():
            if any(topic_matches(b, key) for b in q.bindings):
                q.items.put_nowait((body, 1))
                self._idle.clear()

    async def subscribe(
        self, queue: str, bindings: Sequence[str], handler: Handler, *, prefetch: int = 4
    ) -> None:
        q = self._queues.get(queue)
        if q is None:
            q = self._queues[queue] = _Queue(queue, list(bindings))
        else:
            q.bindings.extend(b for b in bindings if b not in q.bindings)
        for _ in range(max(1, prefetch)):
            q.consumers.append(asyncio.create_task(self._consume(q, handler)))

    async def subscribe_dead_letters(self, queue: str, handler: Handler) -> None:
        q = self._queues.get(queue)
        if q is None:
            q = self._queues[queue] = _Queue(queue, [])
        q.dead_handler = handler
        # Letters dead before anyone listened are handed over now, as a broker queue would.
        for _queue, body, reason in [d for d in self.dead_letters if d[0] == queue]:
            self._deliver_dead(q, body, reason)

    def _deliver_dead(self, q: _Queue, body: bytes, reason: str) -> None:
        handler = q.dead_handler
        if handler is None:
            return
        self.dead_letters = [d for d in self.dead_letters if d[1] is not body]

        async def run() -> None:
            event = decode(body)
            delivery = Delivery(event, self._max_attempts, self._max_attempts, dead_reason=reason)
            for delay in (0.0, 1.0, 5.0, 30.0, 60.0):
                await asyncio.sleep(delay)
                try:
                    await handler(delivery)
                    return
                except Exception as exc:  # the index may be down: try again later
                    log.warning("dead-letter handler failed on %s: %r", q.name, exc)
            self.dead_letters.append((q.name, body, reason))

        self._idle.clear()
        task = asyncio.create_task(run())
        self._dead_tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._dead_tasks.discard(t)
            self._maybe_idle()

        task.add_done_callback(done)

    def _maybe_idle(self) -> None:
        if (
            self._inflight == 0
            and not self._dead_tasks
            and all(x.items.empty() for x in self._queues.values())
        ):
            self._idle.set()

    async def ping(self) -> bool:
        return not self._stopping

    async def _consume(self, q: _Queue, handler: Handler) -> None:
        while True:
            body, attempt = await q.items.get()
            if self._stopping:
                q.items.put_nowait((body, attempt))
                q.items.task_done()
                return
            self._inflight += 1
            self._no_inflight.clear()
            try:
                event = decode(body)
                BUS_CONSUMED.labels(q.name).inc()
                with capture_context(event.capture_id, event.trace_id):
                    await handler(Delivery(event, attempt, self._max_attempts))
                BUS_DELIVERIES.labels(q.name, "ack").inc()
            except asyncio.CancelledError:
                q.items.put_nowait((body, attempt))  # not acked: back on the queue
                raise
            except Exception as exc:  # handler failure: redeliver or dead-letter
                if attempt < self._max_attempts:
                    BUS_DELIVERIES.labels(q.name, "retry").inc()
                    q.items.put_nowait((body, attempt + 1))
                else:
                    BUS_DELIVERIES.labels(q.name, "dead").inc()
                    log.error("dead-lettered message on %s: %s", q.name, exc)
                    reason = f"failed {attempt} deliveries; last error: {exc!r}"
                    self.dead_letters.append((q.name, body, reason))
                    self._deliver_dead(q, body, reason)
            finally:
                self._inflight -= 1
                if self._inflight == 0:
                    self._no_inflight.set()
                q.items.task_done()
                self._maybe_idle()

    async def wait_idle(self) -> None:
        """Wait until every queue is drained and no handler runs (tests)."""
        await self._idle.wait()

    async def stop_consuming(self) -> None:
        # Let in-flight handlers finish; undelivered messages stay queued (lost on exit,
        # which is why the runner re-queues unfinished captures on start).
        self._stopping = True
        await self._no_inflight.wait()
        for task in list(self._dead_tasks):
            task.cancel()
        for q in self._queues.values():
            for task in q.consumers:
                task.cancel()
            for task in q.consumers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            q.consumers.clear()

    async def close(self) -> None:
        await self.stop_consuming()
