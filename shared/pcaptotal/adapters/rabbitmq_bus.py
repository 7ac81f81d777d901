"""RabbitMQ bus (aio-pika): the production adapter.

Topology: durable topic exchange ``pcaptotal.events``; one durable quorum queue per worker
with a delivery limit and a dead-letter exchange (``<exchange>.dlx`` → ``<queue>.dead``);
bounded prefetch; ack only after the handler returned; robust connection reconnects after a
broker restart and re-declares the topology.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
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
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from pcaptotal.messages import Envelope, decode, encode
from pcaptotal.messages import routing_key as default_routing_key
from pcaptotal.metrics import BUS_DELIVERIES
from pcaptotal.ports import Delivery, Handler

log = structlog.get_logger(__name__)

CONNECT_TIMEOUT_S = 15.0
PUBLISH_TIMEOUT_S = 15.0
RETRY_FOR_S = 60.0


class RabbitBus:
    def __init__(
        self,
        url: str,
        *,
        exchange: str = "pcaptotal.events",
        max_attempts: int = 3,
        queue_prefix: str = "",
    ) -> None:
        self._url = url
        self._exchange_name = exchange
        self._max_attempts = max_attempts
        self._prefix = queue_prefix
        self._conn: AbstractRobustConnection | None = None
        self._pub_channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._consumers: list[tuple[AbstractQueue, str]] = []
        self._channels: list[AbstractChannel] = []
        self._declared: list[str] = []
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

    @retry(
        retry=retry_if_exception_type(
            (OSError, AMQPError, ChannelInvalidStateError, asyncio.TimeoutError)
        ),
        wait=wait_exponential(multiplier=0.2, max=5),
        stop=stop_after_delay(RETRY_FOR_S),
        reraise=True,
    )
    async def publish(self, event: Envelope, routing_key: str | None = None) -> None:
        # Retried while the robust connection reconnects after a broker restart.
        assert self._exchange is not None, "start() the bus first"
        message = aio_pika.Message(
            body=encode(event),
            message_id=str(event.id),
            type=event.type,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            timestamp=event.time,
        )
        # Confirmed publish: returns once the broker has the message.
        await self._exchange.publish(
            message,
            routing_key=routing_key or default_routing_key(event),
            timeout=PUBLISH_TIMEOUT_S,
        )

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
                try:
                    await handler(Delivery(event, attempt, self._max_attempts))
                except Exception as exc:
                    log.warning(
                        "handler failed; redelivering", queue=name, attempt=attempt, error=repr(exc)
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
        await self.stop_consuming()
        for ch in self._channels:
            with contextlib.suppress(Exception):
                await ch.close()
        self._channels.clear()
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
