"""Wake-ups for idle workers, so a new task starts without waiting for the next poll.

Embedded mode uses an in-process event; the database poll
(``poll_interval_seconds``) remains the fallback for tasks that arrive from
another process.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["LocalWakeUp"]


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
