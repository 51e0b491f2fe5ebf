"""Wake-ups for idle workers, so a new task starts without waiting for the next poll.

Embedded mode uses an in-process event; the database poll
(``poll_interval_seconds``) remains the fallback for tasks that arrive from
another process.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["CHANNEL", "LocalWakeUp", "PostgresListener"]

CHANNEL = "videoloom_tasks"
"""The PostgreSQL NOTIFY channel; the repository notifies it in the transaction that inserts a task."""


class LocalWakeUp:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    def clear(self) -> None:
        """Call before looking for work: a notify that lands during the look is kept."""
        self._event.clear()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)


class PostgresListener:
    """``LISTEN videoloom_tasks`` on a dedicated connection; each NOTIFY wakes the local worker.

    The notification is sent by the inserting transaction itself, so it arrives
    only once the task is committed, on every node that listens.
    """

    def __init__(self, dsn: str, wakeup: LocalWakeUp) -> None:
        self._dsn = dsn
        self._wakeup = wakeup
        self._connection: object | None = None

    async def start(self) -> None:
        import asyncpg

        connection = await asyncpg.connect(self._dsn)
        await connection.add_listener(CHANNEL, lambda *_: self._wakeup.notify())
        self._connection = connection

    async def stop(self) -> None:
        if self._connection is not None:
            await self._connection.close()  # type: ignore[attr-defined]
            self._connection = None
