"""RabbitMQ hygiene against the machine's broker (unique exchange and queue prefix per test):
a full work queue refuses publishes at once without losing what it holds, and
``python -m pcaptotal dlq list|show|replay|purge`` reads, replays and drops dead letters."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator

import aio_pika
import pytest
from aio_pika.exceptions import DeliveryError
from pcaptotal.adapters.rabbitmq_bus import RabbitBus
from pcaptotal.cli import app
from pcaptotal.messages import CaptureStored
from pcaptotal.ports import Delivery
from typer.testing import CliRunner

RABBIT_URL = os.environ.get("PCAPTOTAL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def _event(n: int) -> CaptureStored:
    return CaptureStored(
        capture_id=f"{n:064x}", analysis_id=uuid.uuid4(), generation=1, size=n, trace_id=f"t{n}"
    )


async def _cleanup(run: str) -> None:
    conn = await aio_pika.connect(RABBIT_URL, timeout=10)
    async with conn:
        channel = await conn.channel()
        for q in ("parser", "parser.dead"):
            await channel.queue_delete(f"test.{run}.{q}")
        for ex in (f"test.{run}", f"test.{run}.dlx"):
            await channel.exchange_delete(ex)


@pytest.fixture
def run() -> Iterator[str]:
    run = uuid.uuid4().hex[:8]
    yield run
    asyncio.run(_cleanup(run))


async def _depth(name: str) -> int:
    conn = await aio_pika.connect(RABBIT_URL, timeout=10)
    async with conn:
        q = await (await conn.channel()).declare_queue(name, passive=True)
        return int(q.declaration_result.message_count or 0)


async def _idle(delivery: Delivery) -> None:
    return None


async def test_full_queue_refuses_publishes_and_keeps_what_it_holds(run: str) -> None:
    bus = RabbitBus(RABBIT_URL, exchange=f"test.{run}", queue_prefix=f"test.{run}.", max_length=2)
    await bus.start()
    try:
        await bus.subscribe("parser", ["capture.stored"], _idle)
        await bus.stop_consuming()  # declared, nobody consuming: the queue fills up
        # Quorum queues check the limit after the fact: one publish may land over it.
        accepted, refused = 0, 0
        loop = asyncio.get_running_loop()
        for n in range(1, 7):
            started = loop.time()
            try:
                await bus.publish(_event(n))
                accepted += 1
            except DeliveryError:  # refused by the broker: an answer, not retried for a minute
                refused += 1
                assert loop.time() - started < 5
            await asyncio.sleep(0.1)
        assert accepted in (2, 3) and refused == 6 - accepted
        assert await _depth(f"test.{run}.parser") == accepted  # nothing accepted was dropped
    finally:
        await bus.close()


async def _dead_letter_three(run: str) -> None:
    # One attempt: a failing handler dead-letters at once.
    bus = RabbitBus(RABBIT_URL, exchange=f"test.{run}", queue_prefix=f"test.{run}.", max_attempts=1)
    await bus.start()

    async def fail(delivery: Delivery) -> None:
        raise RuntimeError("boom")

    try:
        await bus.subscribe("parser", ["capture.stored"], fail)
        for n in (1, 2, 3):
            await bus.publish(_event(n))
        for _ in range(100):
            if await _depth(f"test.{run}.parser.dead") == 3:
                break
            await asyncio.sleep(0.1)
        await bus.stop_consuming()
    finally:
        await bus.close()


def depth(name: str) -> int:
    return asyncio.run(_depth(name))


def test_dlq_list_show_replay_purge(run: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI runs its own event loop: a plain test."""
    asyncio.run(_dead_letter_three(run))
    for key, value in {
        "PCAPTOTAL_BUS_URL": RABBIT_URL,
        "PCAPTOTAL_BUS_EXCHANGE": f"test.{run}",
        "PCAPTOTAL_BUS_QUEUE_PREFIX": f"test.{run}.",
    }.items():
        monkeypatch.setenv(key, value)
    cli = CliRunner()

    def invoke(*args: str) -> str:
        result = cli.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.stdout

    rows = json.loads(invoke("dlq", "list"))
    assert {r["queue"]: r["messages"] for r in rows} == {"parser": 3, "enricher": None}

    shown = json.loads(invoke("dlq", "show", "parser", "--limit", "2"))
    assert [r["capture_id"] for r in shown] == [f"{1:064x}", f"{2:064x}"]
    assert shown[0]["trace_id"] == "t1" and shown[0]["reason"] == "delivery_limit"
    assert shown[0]["routing_key"] == "capture.stored"
    assert depth(f"test.{run}.parser.dead") == 3  # looking takes nothing away

    dry = json.loads(invoke("dlq", "replay", "parser", "--limit", "1"))
    assert [r["replayed"] for r in dry] == [False]
    assert depth(f"test.{run}.parser.dead") == 3

    replayed = json.loads(invoke("dlq", "replay", "parser", "--limit", "1", "--yes"))
    assert [r["replayed"] for r in replayed] == [True]
    assert depth(f"test.{run}.parser.dead") == 2
    assert depth(f"test.{run}.parser") == 1  # back in the work queue

    assert "2 messages would be purged" in cli.invoke(app, ["dlq", "purge", "parser"]).output
    assert "purged 2 messages" in invoke("dlq", "purge", "parser", "--yes")
    assert depth(f"test.{run}.parser.dead") == 0
    assert cli.invoke(app, ["dlq", "show", "nope"]).exit_code != 0
