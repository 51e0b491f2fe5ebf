"""Admission control: per-key request rates, per-tenant quotas, the global queue bound.

The rate limiter is in memory, per process: with several API nodes each one
enforces the limit on its own (documented); quotas and the queue bound are
counted in the task table, so they hold across nodes.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from videoloom.core.errors import RateLimited

__all__ = ["RateLimiter"]

WINDOW_S = 60.0


class RateLimiter:
    """A sliding one-minute window of request times per key."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = per_minute
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    def check(self, key: str) -> None:
        if self._limit <= 0:
            return
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - WINDOW_S:
            hits.popleft()
        if len(hits) >= self._limit:
            retry = math.ceil(hits[0] + WINDOW_S - now)
            raise RateLimited(
                f"rate limit of {self._limit} creating requests per minute reached for this key",
                retry_after=retry,
            )
        hits.append(now)
        if len(self._hits) > 10_000:  # forget idle keys so memory stays bounded
            for stale in [k for k, v in self._hits.items() if not v or v[-1] <= now - WINDOW_S]:
                del self._hits[stale]
