"""Admission control: per-key request rates, per-tenant quotas, the global queue bound.

``RateLimiter`` counts in memory, for one API process (the embedded default);
with PostgreSQL the API nodes share ``storage.rate_limits.SharedRateLimiter``,
which counts in the database, so a cluster enforces one limit per key. Quotas
and the queue bound are counted in the task table, so they hold across nodes.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from videoloom.core.errors import RateLimited

__all__ = ["RateLimit", "RateLimiter", "rate_limited"]

WINDOW_S = 60.0


class RateLimit(Protocol):
    async def admit(self, key: str) -> None:
        """Count one creating request of ``key``; ``RateLimited`` when its minute is full."""
        ...


def rate_limited(limit: int, retry_after: float) -> RateLimited:
    return RateLimited(
        f"rate limit of {limit} creating requests per minute reached for this key",
        retry_after=math.ceil(retry_after),
    )


class RateLimiter:
    """A sliding one-minute window of request times per key, in this process's memory."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = per_minute
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    async def admit(self, key: str) -> None:
        self.check(key)

    def check(self, key: str) -> None:
        if self._limit <= 0:
            return
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - WINDOW_S:
            hits.popleft()
        if len(hits) >= self._limit:
            raise rate_limited(self._limit, hits[0] + WINDOW_S - now)
        hits.append(now)
        if len(self._hits) > 10_000:  # forget idle keys so memory stays bounded
            for stale in [k for k, v in self._hits.items() if not v or v[-1] <= now - WINDOW_S]:
                del self._hits[stale]
