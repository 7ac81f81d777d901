"""The search API's answer cache: answers kept per index generation and per viewer, never
across a write, never for an index without a generation."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pcaptotal.access.identity import Identity, current_identity
from pcaptotal.access.roles import Role
from pcaptotal_search_api.answer_cache import AnswerCache


@dataclass
class _Index:
    generation: int = 0


class _NoGeneration:
    pass


class _Counter:
    def __init__(self, index: _Index | None = None) -> None:
        self.calls = 0
        self.index = index

    async def __call__(self) -> int:
        self.calls += 1
        if self.index is not None:  # a write lands while this answer is computed
            self.index.generation += 1
        return self.calls


async def test_kept_until_the_index_changes() -> None:
    cache: AnswerCache[int] = AnswerCache()
    index, compute = _Index(), _Counter()
    assert [await cache.get_or_compute(index, "p", compute) for _ in range(3)] == [1, 1, 1]
    assert await cache.get_or_compute(index, "other", compute) == 2
    index.generation += 1
    assert await cache.get_or_compute(index, "p", compute) == 3


async def test_an_answer_overlapping_a_write_is_not_kept() -> None:
    cache: AnswerCache[int] = AnswerCache()
    index = _Index()
    racing = _Counter(index)
    assert await cache.get_or_compute(index, "p", racing) == 1
    assert await cache.get_or_compute(index, "p", racing) == 2


async def test_per_viewer_and_never_without_a_generation() -> None:
    cache: AnswerCache[int] = AnswerCache()
    index, compute = _Index(), _Counter()
    token = current_identity.set(Identity(owner="alice", role=Role.READER, key_id="k1"))
    try:
        assert await cache.get_or_compute(index, "p", compute) == 1
        current_identity.set(Identity(owner="bob", role=Role.READER, key_id="k2"))
        assert await cache.get_or_compute(index, "p", compute) == 2
        current_identity.set(Identity(owner="alice", role=Role.READER, key_id="k3"))
        assert await cache.get_or_compute(index, "p", compute) == 1
    finally:
        current_identity.reset(token)
    plain = _Counter()
    assert [await cache.get_or_compute(_NoGeneration(), "p", plain) for _ in range(2)] == [1, 2]


class _Slow:
    """An answer that takes until ``release`` is set; counts its computations."""

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.fail = fail

    async def __call__(self) -> int:
        self.calls += 1
        await self.release.wait()
        if self.fail:
            raise LookupError("no such thing")
        return self.calls


async def test_concurrent_askers_share_one_computation() -> None:
    cache: AnswerCache[int] = AnswerCache()
    index, slow = _Index(), _Slow()
    asks = [asyncio.create_task(cache.get_or_compute(index, "p", slow)) for _ in range(5)]
    await asyncio.sleep(0)
    slow.release.set()
    assert await asyncio.gather(*asks) == [1] * 5
    assert slow.calls == 1
    other = _Slow()  # another generation: computed anew
    index.generation += 1
    other.release.set()
    assert await cache.get_or_compute(index, "p", other) == 1 and other.calls == 1


async def test_concurrent_askers_share_an_error_and_nothing_is_kept() -> None:
    cache: AnswerCache[int] = AnswerCache()
    index, slow = _Index(), _Slow(fail=True)
    asks = [asyncio.create_task(cache.get_or_compute(index, "p", slow)) for _ in range(3)]
    await asyncio.sleep(0)
    slow.release.set()
    results = await asyncio.gather(*asks, return_exceptions=True)
    assert all(isinstance(r, LookupError) for r in results) and slow.calls == 1
    assert await cache.get_or_compute(index, "p", _Counter()) == 1  # the error was not kept


async def test_a_waiter_computes_when_the_computing_request_is_cancelled() -> None:
    cache: AnswerCache[int] = AnswerCache()
    index, slow = _Index(), _Slow()
    first = asyncio.create_task(cache.get_or_compute(index, "p", slow))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.get_or_compute(index, "p", slow))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    slow.release.set()
    assert await second == 2  # its own computation, not the cancelled one's
    assert first.cancelled()
