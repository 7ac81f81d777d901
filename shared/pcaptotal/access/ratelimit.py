"""Per-key request rate limits: a token bucket per API key, in each process.

``PCAPTOTAL_RATE_LIMIT_PER_MINUTE`` requests a minute per key (0: no limit), with bursts up to
the same number. A request over the limit is answered 429 with ``Retry-After`` (whole seconds
until the key has a token again). Each replica counts on its own: behind N replicas a key gets
up to N times the limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

_MAX_BUCKETS = 100_000


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0  # tokens per second
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, at)

    def take(self, key_id: str) -> int:
        """0 when the request may go ahead (a token is spent), else seconds to wait."""
        now = self._clock()
        tokens, at = self._buckets.get(key_id, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - at) * self._rate)
        if tokens >= 1.0:
            self._remember(key_id, (tokens - 1.0, now))
            return 0
        self._remember(key_id, (tokens, now))
        return max(1, math.ceil((1.0 - tokens) / self._rate))

    def _remember(self, key_id: str, state: tuple[float, float]) -> None:
        if len(self._buckets) >= _MAX_BUCKETS and key_id not in self._buckets:
            self._buckets.clear()  # bounded: forgetting only ever grants a full bucket
        self._buckets[key_id] = state
