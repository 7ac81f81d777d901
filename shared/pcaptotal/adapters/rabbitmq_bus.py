"""RabbitMQ bus (aio-pika): the production adapter.

Topology: durable topic exchange ``pcaptotal.events``; one durable quorum queue per worker
with a delivery limit and a dead-letter exchange (``<exchange>.dlx`` → ``<queue>.dead``);
bounded prefetch; ack only after the handler returned; robust connection reconnects after a
broker restart and re-declares the topology.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError, DeliveryError
from tenacity import (
    retry,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_delay,
    wait_exponential,
)

from pcaptotal.logs import capture_context, with_trace
from pcaptotal.messages import Envelope, decode, encode, encode_items
from pcaptotal.messages import routing_key as default_routing_key
from pcaptotal.metrics import BUS_CONSUMED, BUS_DELIVERIES, BUS_PUBLISHED, QUEUE_DEPTH
from pcaptotal.ports import Delivery, Handler

log = structlog.get_logger(__name__)

CONNECT_TIMEOUT_S = 15.0
PUBLISH_TIMEOUT_S = 15.0
RETRY_FOR_S = 60.0


DEAD_RETRY_DELAY_S = 5.0
DEPTH_INTERVAL_S = 15.0  # a Prometheus scrape interval: fresher values would not be seen
DEPTH_TIMEOUT_S = 5.0


def dead_letter_reason(headers: Mapping[str, Any], max_attempts: int) -> str:
    """Why the broker dead-lettered a message, from its ``x-death`` header, in words."""
    deaths = headers.get("x-death")
    first = deaths[0] if isinstance(deaths, list) and deaths else {}
    why = str(first.get("reason", "")) if isinstance(first, Mapping) else ""
    if why == "delivery_limit":
        return (
            f"delivered {max_attempts} times without being acknowledged: the worker failed "
            "or was killed each time (for example out of memory)"
        )
    if why == "rejected":
        return "rejected by the worker as unprocessable"
    if why in ("expired", "maxlen"):
        return f"dropped by the broker ({why})"
    return "dead-lettered by the broker"


class RabbitBus:
    def __init__(
        self,
        url: str,
        *,
        exchange: str = "pcaptotal.events",
        max_attempts: int = 3,
        queue_prefix: str = "",
        max_length: int = 0,
    ) -> None:
        self._url = url
        self._max_length = max_length
        self._exchange_name = exchange
        self._max_attempts = max_attempts
        self._prefix = queue_prefix
        self._conn: AbstractRobustConnection | None = None
        self._pub_channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._consumers: list[tuple[AbstractQueue, str]] = []
        self._channels: list[AbstractChannel] = []
        self._declared: list[str] = []
        self._depth_tasks: list[asyncio.Task[None]] = []
        self._inflight = 0
        self._no_inflight = asyncio.Event()
        self._no_inflight.set()

    @retry(
        retry=retry_if_exception_type((OSError, AMQPError, asyncio.TimeoutError)),
        wait=wait_exponential(multiplier=0.5, max=5),
        stop=stop_after_delay(RETRY_FOR_S),
        reraise=True,
    )
    async def start(self) -> None:
        # Retried: in a cluster the workers often start before the broker is up.
        self._conn = await aio_pika.connect_robust(self._url, timeout=CONNECT_TIMEOUT_S)
        self._pub_channel = await self._conn.channel(publisher_confirms=True)
        self._exchange = await self._pub_channel.declare_exchange(
            self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )

    @property
    def _dlx_name(self) -> str:
        return f"{self._exchange_name}.dlx"

    async def publish(self, event: Envelope, routing_key: str | None = None) -> None:
        event = with_trace(event)
        await self._send(event, encode(event), routing_key)

    async def publish_items(
        self,
        event: Envelope,
        field: str,
        items: Sequence[bytes],
        routing_key: str | None = None,
    ) -> None:
        event = with_trace(event)
        await self._send(event, encode_items(event, field, items), routing_key)

    @retry(
        # A refused publish (DeliveryError: a full queue) is an answer, not an outage.
        retry=retry_if_exception_type(
            (OSError, AMQPError, ChannelInvalidStateError, asyncio.TimeoutError)
        )
        & retry_if_not_exception_type(DeliveryError),
        wait=wait_exponential(multiplier=0.2, max=5),
        stop=stop_after_delay(RETRY_FOR_S),
        reraise=True,
    )
    async def _send(self, event: Envelope, body: bytes, routing_key: str | None) -> None:
        # Retried while the robust connection reconnects after a broker restart.
        assert self._exchange is not None, "start() the bus first"
        message = aio_pika.Message(
            body=body,
            message_id=str(event.id),
            type=event.type,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            timestamp=event.time,
        )
        # Confirmed publish: returns once the broker has the message.
        try:
            await self._exchange.publish(
                message,
                routing_key=routing_key or default_routing_key(event),
                timeout=PUBLISH_TIMEOUT_S,
            )
        except BaseException:
            BUS_PUBLISHED.labels(event.type, "error").inc()
            raise
        BUS_PUBLISHED.labels(event.type, "ok").inc()

    async def subscribe(
        self, queue: str, bindings: Sequence[str], handler: Handler, *, prefetch: int = 4
    ) -> None:
        assert self._conn is not None, "start() the bus first"
        channel = await self._conn.channel()
        await channel.set_qos(prefetch_count=max(1, prefetch))
        self._channels.append(channel)
        exchange = await channel.declare_exchange(
            self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        dlx = await channel.declare_exchange(
            self._dlx_name, aio_pika.ExchangeType.DIRECT, durable=True
        )
        name = self._prefix + queue
        dead = await channel.declare_queue(
            f"{name}.dead", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead.bind(dlx, routing_key=name)
        args: dict[str, Any] = {
            "x-queue-type": "quorum",
            # redeliveries allowed after the first delivery
            "x-delivery-limit": max(0, self._max_attempts - 1),
            "x-dead-letter-exchange": self._dlx_name,
            "x-dead-letter-routing-key": name,
        }
        if self._max_length:
            # Full queue: the broker refuses (nacks) publishes; nothing already queued is lost.
            args |= {"x-max-length": self._max_length, "x-overflow": "reject-publish"}
        q = await channel.declare_queue(name, durable=True, arguments=args)
        for key in bindings:
            await q.bind(exchange, routing_key=key)
        self._declared += [name, f"{name}.dead"]

        async def on_message(message: AbstractIncomingMessage) -> None:
            self._inflight += 1
            self._no_inflight.clear()
            try:
                headers = message.headers or {}
                count = headers.get("x-delivery-count", 0)
                attempt = 1 + (int(count) if isinstance(count, int | str) else 0)
                try:
                    event = decode(message.body)
                except Exception as exc:  # poison message: straight to the dead-letter queue
                    log.error("undecodable message dead-lettered", queue=name, error=str(exc))
                    await message.reject(requeue=False)
                    BUS_DELIVERIES.labels(name, "dead").inc()
                    return
                BUS_CONSUMED.labels(name).inc()
                with capture_context(event.capture_id, event.trace_id):
                    try:
                        await handler(Delivery(event, attempt, self._max_attempts))
                    except Exception as exc:
                        log.warning(
                            "handler failed; redelivering",
                            queue=name,
                            attempt=attempt,
                            error=repr(exc),
                        )
                        await message.nack(requeue=True)
                        BUS_DELIVERIES.labels(name, "retry").inc()
                        return
                    await message.ack()
                    BUS_DELIVERIES.labels(name, "ack").inc()
            finally:
                self._inflight -= 1
                if self._inflight == 0:
                    self._no_inflight.set()

        tag = await q.consume(on_message)
        self._consumers.append((q, tag))
        self._depth_tasks.append(asyncio.create_task(self._watch_depth([name, f"{name}.dead"])))

    async def _watch_depth(self, names: list[str]) -> None:
        """Queue depth as this worker sees it (``pcaptotal_queue_depth_messages``), polled with
        a passive declare on a channel of its own (a failed declare closes its channel)."""
        channel: AbstractChannel | None = None
        while True:
            try:
                if channel is None or channel.is_closed:
                    assert self._conn is not None
                    channel = await self._conn.channel()
                for n in names:
                    q = await channel.declare_queue(n, passive=True, timeout=DEPTH_TIMEOUT_S)
                    QUEUE_DEPTH.labels(n).set(q.declaration_result.message_count or 0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker away: the next poll tries again
                log.debug("queue depth poll failed", error=repr(exc))
                channel = None
            await asyncio.sleep(DEPTH_INTERVAL_S)

    async def subscribe_dead_letters(self, queue: str, handler: Handler) -> None:
        assert self._conn is not None, "start() the bus first"
        channel = await self._conn.channel()
        await channel.set_qos(prefetch_count=1)
        self._channels.append(channel)
        dlx = await channel.declare_exchange(
            self._dlx_name, aio_pika.ExchangeType.DIRECT, durable=True
        )
        name = self._prefix + queue
        dead = await channel.declare_queue(
            f"{name}.dead", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead.bind(dlx, routing_key=name)

        async def on_dead(message: AbstractIncomingMessage) -> None:
            self._inflight += 1
            self._no_inflight.clear()
            try:
                try:
                    event = decode(message.body)
                except Exception:
                    # Not ours to explain: it never named a capture. Keep it for a person.
                    log.error("undecodable dead letter left in queue", queue=f"{name}.dead")
                    await message.nack(requeue=False)
                    return
                reason = dead_letter_reason(message.headers or {}, self._max_attempts)
                BUS_CONSUMED.labels(f"{name}.dead").inc()
                with capture_context(event.capture_id, event.trace_id):
                    try:
                        delivery = Delivery(event, self._max_attempts, self._max_attempts, reason)
                        await handler(delivery)
                    except Exception as exc:
                        # Usually the index is down: wait before the broker hands it back.
                        log.warning("dead-letter handler failed", queue=name, error=repr(exc))
                        await asyncio.sleep(DEAD_RETRY_DELAY_S)
                        await message.nack(requeue=True)
                        return
                    await message.ack()
                    # The broker dead-lettered it from ``name``: counted once, when handled.
                    BUS_DELIVERIES.labels(name, "dead").inc()
                    BUS_DELIVERIES.labels(f"{name}.dead", "ack").inc()
            finally:
                self._inflight -= 1
                if self._inflight == 0:
                    self._no_inflight.set()

        tag = await dead.consume(on_dead)
        self._consumers.append((dead, tag))

    async def ping(self) -> bool:
        conn = self._conn
        return (
            conn is not None
            and not conn.is_closed
            and self._pub_channel is not None
            and not self._pub_channel.is_closed
        )

    async def stop_consuming(self) -> None:
        for q, tag in self._consumers:
            with contextlib.suppress(Exception):
                await q.cancel(tag)
        self._consumers.clear()
        await self._no_inflight.wait()

    async def delete_declared_queues(self) -> None:
        """Remove the queues this bus declared (tests use a unique queue prefix)."""
        if self._conn is None:
            return
        channel = await self._conn.channel()
        for name in self._declared:
            with contextlib.suppress(Exception):
                await channel.queue_delete(name)
        await channel.close()

    async def close(self) -> None:
        for task in self._depth_tasks:
            task.cancel()
        await asyncio.gather(*self._depth_tasks, return_exceptions=True)
        self._depth_tasks.clear()
        await self.stop_consuming()
        for ch in self._channels:
            with contextlib.suppress(Exception):
                await ch.close()
        self._channels.clear()
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
