"""Concurrent reads of one key share one read (the hot paths' cache misses)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """``run(key, read)``: the first caller reads; callers arriving meanwhile await its result.

    When a cache entry expires under 100 pollers, one query runs instead of 100 (which,
    queued on the database connections, stalled every poll behind them). A failed shared
    read is not shared: each waiter then reads for itself and sees its own error.
    """

    def __init__(self) -> None:
        self._pending: dict[K, asyncio.Future[tuple[bool, V | None]]] = {}

    async def run(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        pending = self._pending.get(key)
        if pending is not None:
            done, value = await asyncio.shield(pending)
            if done:
                return value  # type: ignore[return-value]
            return await read()
        future: asyncio.Future[tuple[bool, V | None]] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            value = await read()
        except BaseException:
            future.set_result((False, None))
            raise
        else:
            future.set_result((True, value))
            return value
        finally:
            del self._pending[key]
