"""Contract for the Bus port; every adapter runs the same suite."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pydantic_core
import pytest
from pcaptotal.adapters.memory_bus import MemoryBus, topic_matches
from pcaptotal.messages import CaptureFailed, CaptureStored, Envelope, FlowsEnriched
from pcaptotal.ports import Bus, Delivery

BusFactory = Callable[[int], Awaitable[Bus]]


async def _memory(max_attempts: int) -> Bus:
    return MemoryBus(max_attempts=max_attempts)


RABBIT_URL = os.environ.get("PCAPTOTAL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


async def _rabbit(max_attempts: int) -> Bus:
    from pcaptotal.adapters.rabbitmq_bus import RabbitBus

    # A unique exchange and queue prefix per test keeps runs apart; queues are deleted after.
    run = uuid.uuid4().hex[:8]
    return RabbitBus(
        RABBIT_URL, exchange=f"test.{run}", max_attempts=max_attempts, queue_prefix=f"test.{run}."
    )


ADAPTERS: dict[str, BusFactory] = {"memory": _memory, "rabbitmq": _rabbit}


# The RabbitMQ case needs a real broker: integration tier (make test-unit leaves it out).
@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.integration)])
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[BusFactory]:
    made: list[Bus] = []

    async def factory(max_attempts: int = 3) -> Bus:
        bus = await ADAPTERS[request.param](max_attempts)
        await bus.start()
        made.append(bus)
        return bus

    yield factory
    for bus in made:
        if hasattr(bus, "delete_declared_queues"):
            await bus.delete_declared_queues()
        await bus.close()


async def _eventually(cond: Callable[[], bool], within: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def _stored(n: int = 0) -> CaptureStored:
    return CaptureStored(capture_id=f"{n:064x}", analysis_id=uuid.uuid4(), generation=1, size=n)


async def test_delivers_event_intact(make_bus: BusFactory) -> None:
    bus = await make_bus(3)
    got: list[Envelope] = []

    async def handler(d: Delivery) -> None:
        got.append(d.event)

    await bus.subscribe("t-intact", ["capture.stored"], handler)
    sent = _stored(7)
    await bus.publish(sent)
    await _eventually(lambda: len(got) == 1)
    assert got[0] == sent and isinstance(got[0], CaptureStored)


async def test_items_published_already_encoded_arrive_as_one_event(make_bus: BusFactory) -> None:
    bus = await make_bus(3)
    got: list[Envelope] = []

    async def handler(d: Delivery) -> None:
        got.append(d.event)

    await bus.subscribe("t-items", ["flows.enriched.*"], handler)
    flows = [{"event.id": f"{'a' * 64}-{i}", "n": i, "name": "é\u2028"} for i in range(3)]
    template = FlowsEnriched(
        capture_id="a" * 64,
        analysis_id=uuid.uuid4(),
        generation=2,
        verdict="suspicious",
        seq=4,
        last=True,
        flows=[{}],
    ).model_copy(update={"flows": []})
    await bus.publish_items(template, "flows", [pydantic_core.to_json(f) for f in flows])
    await _eventually(lambda: len(got) == 1)
    event = got[0]
    assert isinstance(event, FlowsEnriched)
    assert event == template.model_copy(update={"flows": flows})
    assert event.routing_key == "flows.enriched.suspicious"
    with pytest.raises(ValueError, match="last field"):
        await bus.publish_items(_stored(2), "flows", [b"{}"])


async def test_topic_routing(make_bus: BusFactory) -> None:
    bus = await make_bus(3)
    got: dict[str, list[str]] = {"a": [], "b": []}

    def collector(name: str) -> Callable[[Delivery], Awaitable[None]]:
        async def handler(d: Delivery) -> None:
            got[name].append(d.event.type)

        return handler

    await bus.subscribe("t-route-a", ["capture.*"], collector("a"))
    await bus.subscribe("t-route-b", ["capture.failed"], collector("b"))
    await bus.publish(_stored(1))
    await bus.publish(
        CaptureFailed(
            capture_id="f" * 64, analysis_id=uuid.uuid4(), generation=1, stage="parse", error="x"
        )
    )
    await _eventually(lambda: len(got["a"]) == 2 and len(got["b"]) == 1)
    await asyncio.sleep(0.2)
    assert sorted(got["a"]) == ["capture.failed", "capture.stored"]
    assert got["b"] == ["capture.failed"]


async def test_competing_consumers_each_message_once(make_bus: BusFactory) -> None:
    bus = await make_bus(3)
    seen: list[str] = []

    async def handler(d: Delivery) -> None:
        await asyncio.sleep(0.01)
        seen.append(d.event.capture_id)

    await bus.subscribe("t-compete", ["capture.stored"], handler, prefetch=2)
    await bus.subscribe("t-compete", ["capture.stored"], handler, prefetch=2)
    for i in range(20):
        await bus.publish(_stored(i))
    await _eventually(lambda: len(seen) == 20)
    await asyncio.sleep(0.2)
    assert sorted(seen) == sorted(f"{i:064x}" for i in range(20))


async def test_failing_handler_is_retried_then_dead_lettered(make_bus: BusFactory) -> None:
    bus = await make_bus(3)
    attempts: list[int] = []

    async def handler(d: Delivery) -> None:
        attempts.append(d.attempt)
        raise RuntimeError("boom")

    await bus.subscribe("t-retry", ["capture.stored"], handler, prefetch=1)
    await bus.publish(_stored(3))
    await _eventually(lambda: len(attempts) == 3)
    await asyncio.sleep(0.3)
    assert attempts == [1, 2, 3]


async def test_dead_letters_reach_their_handler_with_a_reason(make_bus: BusFactory) -> None:
    bus = await make_bus(2)
    dead: list[Delivery] = []

    async def handler(d: Delivery) -> None:
        raise RuntimeError("boom")

    async def on_dead(d: Delivery) -> None:
        dead.append(d)

    await bus.subscribe("t-dead", ["capture.stored"], handler, prefetch=1)
    await bus.subscribe_dead_letters("t-dead", on_dead)
    sent = _stored(9)
    await bus.publish(sent)
    await _eventually(lambda: len(dead) == 1, within=20)
    await asyncio.sleep(0.3)
    assert len(dead) == 1
    assert dead[0].event == sent
    assert dead[0].dead_reason and "2" in dead[0].dead_reason


async def test_ping_answers_for_a_started_bus(make_bus: BusFactory) -> None:
    bus = await make_bus(3)
    assert await bus.ping() is True


async def test_stop_consuming_finishes_in_flight(make_bus: BusFactory) -> None:
    bus = await make_bus(3)
    started = asyncio.Event()
    finished: list[str] = []

    async def handler(d: Delivery) -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.append(d.event.capture_id)

    await bus.subscribe("t-stop", ["capture.stored"], handler, prefetch=1)
    await bus.publish(_stored(5))
    await asyncio.wait_for(started.wait(), 5)
    await bus.stop_consuming()
    assert finished == [f"{5:064x}"]


@pytest.mark.parametrize(
    ("pattern", "key", "match"),
    [
        ("capture.stored", "capture.stored", True),
        ("capture.*", "capture.stored", True),
        ("capture.*", "capture.stored.x", False),
        ("flows.enriched.#", "flows.enriched", True),
        ("flows.enriched.#", "flows.enriched.malicious", True),
        ("#", "anything.at.all", True),
        ("*.stored", "capture.stored", True),
        ("capture.stored", "capture.parsed", False),
    ],
)
def test_topic_matching_rules(pattern: str, key: str, match: bool) -> None:
    assert topic_matches(pattern, key) is match
