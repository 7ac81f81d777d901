"""Run user queries so that none can stall the event loop or starve other requests.

Parsing is CPU-bound Python (luqum, validation): it runs in a thread under a time budget.
Searches run under a semaphore (at most ``max_concurrent_searches`` at once, so a few
expensive ones cannot take every worker thread or core) and under a time budget that includes
the wait for a slot. A budget overrun is a :class:`QueryTimeout` (the API answers 503).

A thread cannot be cancelled: after an overrun it finishes in the background. The limits of
``pcaptotal.query.limits`` keep that work bounded, and the index adapters run searches on
their own bounded pool, so abandoned work cannot pile up.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from pcaptotal.query.errors import QueryTimeout
from pcaptotal.query.limits import DEFAULT_LIMITS, QueryLimits, limits_from
from pcaptotal.query.parse import ValidatedQuery, parse_query

if TYPE_CHECKING:
    from pcaptotal.settings import Settings

T = TypeVar("T")
PARSED_KEPT = 1024  # parsed queries kept per guard


class QueryGuard:
    def __init__(
        self,
        limits: QueryLimits = DEFAULT_LIMITS,
        *,
        parse_timeout_s: float = 5.0,
        search_timeout_s: float = 30.0,
        max_concurrent_searches: int = 2,
    ) -> None:
        self.limits = limits
        self.parse_timeout_s = parse_timeout_s
        self.search_timeout_s = search_timeout_s
        self.max_concurrent_searches = max(1, max_concurrent_searches)
        self._slots: asyncio.Semaphore | None = None
        # recently parsed query texts, least recently used first (touched on the event loop
        # only); a query text is at most limits.max_length characters
        self._parsed: OrderedDict[str, ValidatedQuery] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> QueryGuard:
        return cls(
            limits_from(settings),
            parse_timeout_s=settings.query_parse_timeout_s,
            search_timeout_s=settings.search_timeout_s,
            max_concurrent_searches=settings.search_max_concurrent,
        )

    def _semaphore(self) -> asyncio.Semaphore:
        # one per event loop: a guard may outlive the loop it first ran on (tests, reloads)
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            self._slots, self._loop = asyncio.Semaphore(self.max_concurrent_searches), loop
        return self._slots

    async def parse(self, text: str) -> ValidatedQuery:
        """:func:`parse_query` in a thread; raises QueryError or QueryTimeout. A query text
        parsed lately is answered from ``_parsed`` (parsing is a pure function of the text
        and the limits): no thread hop, no luqum."""
        cached = self._parsed.get(text)
        if cached is not None:
            self._parsed.move_to_end(text)
            return cached
        try:
            query = await asyncio.wait_for(
                asyncio.to_thread(parse_query, text, self.limits), self.parse_timeout_s
            )
        except TimeoutError:
            raise QueryTimeout(
                f"the query was not parsed within {self.parse_timeout_s:g} s "
                "(the server is busy); retry later"
            ) from None
        self._parsed[text] = query
        if len(self._parsed) > PARSED_KEPT:
            self._parsed.popitem(last=False)
        return query

    async def search(self, run: Callable[[], Awaitable[T]]) -> T:
        """``await run()`` once a search slot is free, all within the search budget."""
        try:
            async with asyncio.timeout(self.search_timeout_s) as budget:
                async with self._semaphore():
                    return await run()
        except TimeoutError:
            if not budget.expired():
                raise  # a timeout of the index itself, not of this budget
            raise QueryTimeout(
                f"the search did not finish within {self.search_timeout_s:g} s "
                "(too many or too expensive searches at once); narrow the query or retry later"
            ) from None
