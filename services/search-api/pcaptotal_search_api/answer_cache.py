"""Answers of expensive read routes kept until the index changes (``/v1/stats``).

Only where the index says when it changed: the embedded tantivy index (``TantivyIndex.
generation``, bumped by every write it commits; its process is the index's only writer).
Elsewhere (Elasticsearch, written by other processes) ``generation`` is absent and nothing
is kept. An answer is kept only if no write finished while it was computed, and under the
caller's visibility (admins, each owner, anonymous), since that shapes the answer.

Requests asking the same question at the same generation while its answer is computed wait
for that one computation (its answer or its error) instead of computing it again each: after
a write, the first ``/v1/stats`` costs ~0.7 s of CPU at a million records, and every request
arriving meanwhile would have cost as much, on a machine with two cores.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from pcaptotal.access.identity import current_identity

T = TypeVar("T")


def index_generation(index: Any) -> Hashable | None:
    """The index's change counter, or None when it has none."""
    generation: Hashable | None = getattr(index, "generation", None)
    return generation


def _viewer() -> str:
    who = current_identity.get()
    if who is None:
        return "anonymous"
    return "admin" if who.is_admin else f"owner:{who.owner}"


class AnswerCache(Generic[T]):
    def __init__(self, max_entries: int = 16) -> None:
        self._max = max_entries
        self._entries: OrderedDict[Hashable, tuple[Hashable, T]] = OrderedDict()
        self._running: dict[Hashable, asyncio.Future[T]] = {}  # (key, generation) -> answer

    async def get_or_compute(
        self, index: Any, params: Hashable, compute: Callable[[], Awaitable[T]]
    ) -> T:
        before = index_generation(index)
        if before is None:
            return await compute()
        key = (params, _viewer())
        found = self._entries.get(key)
        if found is not None and found[0] == before:
            self._entries.move_to_end(key)
            return found[1]
        flight = (key, before)
        running = self._running.get(flight)
        if running is not None:
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                if not running.cancelled():  # this request was cancelled, not the other
                    raise
            # The computing request was cancelled (its client left): compute here.
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_retrieved)
        self._running[flight] = done
        try:
            answer = await compute()
        except asyncio.CancelledError:
            done.cancel()
            raise
        except BaseException as exc:
            done.set_exception(exc)
            raise
        finally:
            if self._running.get(flight) is done:
                del self._running[flight]
        done.set_result(answer)
        if index_generation(index) == before:  # no write landed meanwhile
            self._entries[key] = (before, answer)
            self._entries.move_to_end(key)
            if len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return answer


def _retrieved(done: asyncio.Future[Any]) -> None:
    """Mark an error as seen when no other request waited for it (the computing one raises
    it itself)."""
    if not done.cancelled():
        done.exception()
