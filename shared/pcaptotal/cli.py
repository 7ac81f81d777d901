"""``python -m pcaptotal``: operator commands. ``dlq`` reads and replays dead-letter queues.

    python -m pcaptotal dlq list                      # every worker's dead-letter queue, depth
    python -m pcaptotal dlq show parser --limit 20    # what died and why (envelope only)
    python -m pcaptotal dlq replay parser --yes       # back onto the exchange, oldest first
    python -m pcaptotal dlq purge parser --yes        # drop them
    python -m pcaptotal keys create --role submitter --owner alice   # API keys (access.cli)

The broker, exchange and queue prefix are the services' own settings (PCAPTOTAL_BUS_URL, ...).
``show`` prints message metadata and the envelope's ids, never flow documents. Messages
``show`` looks at go back to the queue (nothing is acknowledged).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import aio_pika
import typer
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection

from pcaptotal.access.cli import keys_app
from pcaptotal.messages import decode
from pcaptotal.messages import routing_key as event_routing_key
from pcaptotal.settings import Settings

WORKER_QUEUES = ("parser", "enricher")
TIMEOUT_S = 15.0

app = typer.Typer(help="PcapTotal operator commands.", no_args_is_help=True)
dlq = typer.Typer(help="Dead-letter queues: list, show, replay, purge.", no_args_is_help=True)
app.add_typer(dlq, name="dlq")
app.add_typer(keys_app, name="keys")

QueueArg = Annotated[str, typer.Argument(help="worker queue: parser or enricher")]
Limit = Annotated[int, typer.Option(min=1, help="at most this many messages")]
Yes = Annotated[bool, typer.Option("--yes", help="do it (without: say what would happen)")]


@dataclass
class Bus:
    settings: Settings
    conn: AbstractRobustConnection
    channel: AbstractChannel

    def dead_queue(self, queue: str) -> str:
        return f"{self.settings.bus_queue_prefix}{queue}.dead"


@asynccontextmanager
async def _bus() -> AsyncIterator[Bus]:
    settings = Settings()
    if not settings.bus_url.startswith(("amqp://", "amqps://")):
        raise typer.BadParameter(f"PCAPTOTAL_BUS_URL must be amqp(s)://, not {settings.bus_url}")
    conn = await aio_pika.connect_robust(settings.bus_url, timeout=TIMEOUT_S)
    try:
        channel = await conn.channel(publisher_confirms=True)
        yield Bus(settings, conn, channel)
    finally:
        await conn.close()


async def _depth(bus: Bus, name: str) -> int | None:
    channel = await bus.conn.channel()  # a missing queue closes the channel it was asked on
    try:
        q = await channel.declare_queue(name, passive=True, timeout=TIMEOUT_S)
        return int(q.declaration_result.message_count or 0)
    except aio_pika.exceptions.ChannelClosed:
        return None
    finally:
        if not channel.is_closed:
            await channel.close()


def describe(message: AbstractIncomingMessage) -> dict[str, Any]:
    """What an operator needs to decide: ids, why and when it died; no capture contents."""
    headers = message.headers or {}
    deaths = headers.get("x-death")
    death: Any = deaths[0] if isinstance(deaths, list) and deaths else {}
    out: dict[str, Any] = {
        "message_id": message.message_id,
        "type": message.type,
        "reason": str(death.get("reason", "")) if isinstance(death, dict) else "",
        "deaths": int(death.get("count", 0)) if isinstance(death, dict) else 0,
        "died_in": str(death.get("queue", "")) if isinstance(death, dict) else "",
        "died_at": str(death.get("time", "")) if isinstance(death, dict) else "",
    }
    try:
        event = decode(message.body)
    except Exception:
        out["undecodable"] = True
        return out
    out |= {
        "capture_id": event.capture_id,
        "analysis_id": str(event.analysis_id),
        "trace_id": event.trace_id,
        "routing_key": event_routing_key(event),
    }
    return out


async def _take(bus: Bus, queue: str, limit: int) -> list[AbstractIncomingMessage]:
    """Up to ``limit`` messages, held unacknowledged on the channel."""
    q = await bus.channel.declare_queue(bus.dead_queue(queue), passive=True, timeout=TIMEOUT_S)
    taken: list[AbstractIncomingMessage] = []
    while len(taken) < limit:
        message = await q.get(no_ack=False, fail=False, timeout=TIMEOUT_S)
        if message is None:
            break
        taken.append(message)
    return taken


async def _list() -> list[dict[str, Any]]:
    async with _bus() as bus:
        rows = []
        for queue in WORKER_QUEUES:
            name = bus.dead_queue(queue)
            rows.append(
                {"queue": queue, "dead_letter_queue": name, "messages": await _depth(bus, name)}
            )
        return rows


async def _show(queue: str, limit: int) -> list[dict[str, Any]]:
    async with _bus() as bus:
        taken = await _take(bus, queue, limit)
        rows = [describe(m) for m in taken]
        for m in taken:
            await m.nack(requeue=True)  # only looked at
        return rows


async def _replay(queue: str, limit: int, yes: bool) -> list[dict[str, Any]]:
    async with _bus() as bus:
        exchange = await bus.channel.get_exchange(bus.settings.bus_exchange, ensure=True)
        taken = await _take(bus, queue, limit)
        done = []
        for m in taken:
            row = describe(m)
            if not yes or row.get("undecodable"):
                await m.nack(requeue=True)
                row["replayed"] = False
            else:
                # Confirmed publish first, then ack: a crash in between duplicates, never loses
                # (the workers treat a repeated capture.stored/capture.parsed as a re-run).
                fresh = aio_pika.Message(
                    body=m.body,
                    message_id=m.message_id,
                    type=m.type,
                    content_type=m.content_type,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                )
                await exchange.publish(fresh, routing_key=row["routing_key"], timeout=TIMEOUT_S)
                await m.ack()
                row["replayed"] = True
            done.append(row)
        return done


async def _purge(queue: str, yes: bool) -> int:
    async with _bus() as bus:
        name = bus.dead_queue(queue)
        if not yes:
            return await _depth(bus, name) or 0
        q = await bus.channel.declare_queue(name, passive=True, timeout=TIMEOUT_S)
        result = await q.purge(timeout=TIMEOUT_S)
        return int(result.message_count or 0)


def _check(queue: str) -> None:
    if queue not in WORKER_QUEUES:
        raise typer.BadParameter(f"queue must be one of {', '.join(WORKER_QUEUES)}")


def _print(rows: Any) -> None:
    typer.echo(json.dumps(rows, indent=2, default=str))


@dlq.command("list")
def list_() -> None:
    """Each worker's dead-letter queue and how many messages wait in it."""
    _print(asyncio.run(_list()))


@dlq.command()
def show(queue: QueueArg, limit: Limit = 20) -> None:
    """The oldest dead letters of QUEUE: ids, reason, time (they stay in the queue)."""
    _check(queue)
    _print(asyncio.run(_show(queue, limit)))


@dlq.command()
def replay(queue: QueueArg, limit: Limit = 100, yes: Yes = False) -> None:
    """Publish dead letters of QUEUE again (their original routing key), oldest first."""
    _check(queue)
    rows = asyncio.run(_replay(queue, limit, yes))
    _print(rows)
    if not yes:
        typer.echo(f"{len(rows)} would be replayed: run again with --yes", err=True)


@dlq.command()
def purge(queue: QueueArg, yes: Yes = False) -> None:
    """Delete every dead letter of QUEUE."""
    _check(queue)
    count = asyncio.run(_purge(queue, yes))
    if yes:
        typer.echo(f"purged {count} messages")
    else:
        typer.echo(f"{count} messages would be purged: run again with --yes", err=True)


def main() -> None:
    app()
