"""The retention sweep: deletes the files of results past ``expires_at``.

The task record stays, so its routes answer 410 ``video_expired`` rather than
an ambiguous 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from videoloom.storage.blobs import BlobStore
from videoloom.storage.repository import TaskRepository

__all__ = ["RetentionSweeper"]

log = logging.getLogger("videoloom.retention")

BATCH = 100


class RetentionSweeper:
    def __init__(self, *, repository: TaskRepository, blobs: BlobStore, interval: float) -> None:
        self._repo = repository
        self._blobs = blobs
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def sweep_once(self) -> int:
        swept = 0
        while expired := await self._repo.expired(now=time.time(), limit=BATCH):
            for task in expired:
                await asyncio.to_thread(self._blobs.delete_task, task.tenant_id, task.id)
                await self._repo.mark_purged(task.id)
                swept += 1
        if swept:
            log.info("retention: deleted the files of %d expired videos", swept)
        return swept

    async def _loop(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception:
                log.exception("retention sweep failed; retrying next interval")
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="videoloom-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
