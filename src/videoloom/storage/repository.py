"""TaskRepository: every query on the task table, which is also the queue.

Workers and the task service call these methods; nothing else writes SQL for
tasks. Each status change is an ``UPDATE … WHERE status IN (sources)`` built
from ``core.tasks.ALLOWED_TRANSITIONS``, so an invalid move changes no row and
the caller learns it from the return value.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, event, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from videoloom.core.tasks import Task, TaskError, TaskKind, TaskStatus, sources_of
from videoloom.queue.wakeup import CHANNEL
from videoloom.storage._single_flight import SingleFlight
from videoloom.storage.schema import tasks, usage
from videoloom.storage.usage import usage_row

__all__ = ["TaskRepository"]


def _row_to_task(row: Mapping[Any, Any]) -> Task:
    error = (
        TaskError(code=row["error_code"], message=row["error_message"] or "") if row["error_code"] else None
    )
    return Task(
        id=row["id"],
        tenant_id=row["tenant_id"],
        kind=TaskKind(row["kind"]),
        model=row["model"],
        prompt=row["prompt"],
        params=dict(row["params"] or {}),
        status=TaskStatus(row["status"]),
        progress=row["progress"],
        created_at=row["created_at"],
        status_update_time=row["status_update_time"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        expires_at=row["expires_at"],
        error=error,
        duration=row["duration"],
        width=row["width"],
        height=row["height"],
        fps=row["fps"],
        parent_id=row["parent_id"],
        start_time=row["start_time"],
        attempts=row["attempts"],
        worker_id=row["worker_id"],
        video_key=row["video_key"],
        thumbnail_key=row["thumbnail_key"],
        api_key_id=row["api_key_id"],
        engine_report=row["engine_report"],
    )


def _task_to_row(task: Task, enqueued_at: float) -> dict[str, Any]:
    return {
        "id": task.id,
        "tenant_id": task.tenant_id,
        "kind": task.kind.value,
        "model": task.model,
        "prompt": task.prompt,
        "params": task.params,
        "status": task.status.value,
        "progress": task.progress,
        "created_at": task.created_at,
        "status_update_time": task.status_update_time,
        "enqueued_at": enqueued_at,
        "started_at": task.started_at,
        "completed_at": task.completed_at,
        "expires_at": task.expires_at,
        "error_code": task.error.code if task.error else None,
        "error_message": task.error.message if task.error else None,
        "duration": task.duration,
        "width": task.width,
        "height": task.height,
        "fps": task.fps,
        "parent_id": task.parent_id,
        "start_time": task.start_time,
        "attempts": task.attempts,
        "worker_id": task.worker_id,
        "lease_expires_at": None,
        "video_key": task.video_key,
        "thumbnail_key": task.thumbnail_key,
        "api_key_id": task.api_key_id,
        "engine_report": task.engine_report,
    }


def _statuses(target: TaskStatus) -> list[str]:
    return [s.value for s in sources_of(target)]


class TaskRepository:
    def __init__(self, engine: AsyncEngine, *, status_cache_seconds: float = 0.0) -> None:
        self._engine = engine
        # Status polls are the hot path (100 clients polling one task): ``get(…, cached=True)``
        # answers from memory for ``status_cache_seconds``. Any commit through this process's
        # engine empties the cache, so in the embedded setup (API and worker in one process)
        # a poll never sees an older state than the database; a separate worker's changes
        # show up at most ``status_cache_seconds`` late.
        self._status_cache_seconds = status_cache_seconds
        self._cached: dict[str, tuple[float, Task]] = {}
        self._reading: SingleFlight[tuple[str, str], Task | None] = SingleFlight()
        self._generation = 0
        if status_cache_seconds > 0:
            event.listen(engine.sync_engine, "commit", self._forget_cached)

    def _forget_cached(self, _connection: object) -> None:
        self._generation += 1
        self._cached.clear()

    async def insert(self, task: Task, *, enqueued_at: float) -> None:
        """Accepting a task is enqueueing it: one INSERT (plus, on PostgreSQL, a NOTIFY that is
        delivered to every listening worker when this same transaction commits)."""
        async with self._engine.begin() as conn:
            await conn.execute(tasks.insert().values(**_task_to_row(task, enqueued_at)))
            if self._engine.dialect.name == "postgresql" and task.status is TaskStatus.QUEUED:
                await conn.execute(select(func.pg_notify(CHANNEL, task.id)))

    async def get(self, tenant_id: str, task_id: str, *, cached: bool = False) -> Task | None:
        """Tenant-scoped: another tenant's id reads exactly like a missing one.

        ``cached``: a status read, which may be answered from the status cache. Concurrent
        cached reads of one task that miss share one database read: a worker's progress
        commit empties the cache, and 100 pollers must not then query 100 times.
        """
        if not (cached and self._status_cache_seconds > 0):
            return await self._read(tenant_id, task_id)
        hit = self._cached.get(task_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1] if hit[1].tenant_id == tenant_id else None
        return await self._reading.run((tenant_id, task_id), lambda: self._read(tenant_id, task_id))

    async def _read(self, tenant_id: str, task_id: str) -> Task | None:
        generation = self._generation
        async with self._engine.connect() as conn:
            result = await conn.execute(
                select(tasks).where(tasks.c.id == task_id, tasks.c.tenant_id == tenant_id)
            )
            row = result.mappings().first()
        task = _row_to_task(row) if row else None
        # Only what no commit raced with may be remembered (the read could predate it).
        if task is not None and self._status_cache_seconds > 0 and generation == self._generation:
            if len(self._cached) > 10_000:  # bounded: forget everything rather than grow
                self._cached.clear()
            self._cached[task_id] = (time.monotonic() + self._status_cache_seconds, task)
        return task

    async def get_any_tenant(self, task_id: str) -> Task | None:
        """For workers and signed URLs only, which act on a task they already hold."""
        async with self._engine.connect() as conn:
            result = await conn.execute(select(tasks).where(tasks.c.id == task_id))
            row = result.mappings().first()
        return _row_to_task(row) if row else None

    async def list_page(
        self, tenant_id: str, *, after: str | None, limit: int, descending: bool
    ) -> tuple[list[Task], bool]:
        """One page in creation order; ``after`` is the last id of the previous page."""
        order = (
            (tasks.c.enqueued_at.desc(), tasks.c.id.desc())
            if descending
            else (tasks.c.enqueued_at.asc(), tasks.c.id.asc())
        )
        query = select(tasks).where(tasks.c.tenant_id == tenant_id)
        async with self._engine.connect() as conn:
            if after is not None:
                cursor = (
                    await conn.execute(
                        select(tasks.c.enqueued_at, tasks.c.id).where(
                            tasks.c.id == after, tasks.c.tenant_id == tenant_id
                        )
                    )
                ).first()
                if cursor is not None:
                    at, cursor_id = cursor
                    if descending:
                        query = query.where(
                            or_(
                                tasks.c.enqueued_at < at,
                                and_(tasks.c.enqueued_at == at, tasks.c.id < cursor_id),
                            )
                        )
                    else:
                        query = query.where(
                            or_(
                                tasks.c.enqueued_at > at,
                                and_(tasks.c.enqueued_at == at, tasks.c.id > cursor_id),
                            )
                        )
            result = await conn.execute(query.order_by(*order).limit(limit + 1))
            rows = [_row_to_task(row) for row in result.mappings()]
        return rows[:limit], len(rows) > limit

    async def cancel(self, tenant_id: str, task_id: str, *, now: float) -> bool:
        """Stop a queued or running task; its worker notices at its next progress write."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(tasks)
                .where(
                    tasks.c.id == task_id,
                    tasks.c.tenant_id == tenant_id,
                    tasks.c.status.in_(_statuses(TaskStatus.CANCELLED)),
                )
                .values(
                    status=TaskStatus.CANCELLED.value,
                    status_update_time=int(now),
                    error_code="cancelled",
                    error_message="the task was cancelled",
                    lease_expires_at=None,
                )
            )
            return result.rowcount == 1

    async def delete(self, tenant_id: str, task_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                tasks.delete().where(tasks.c.id == task_id, tasks.c.tenant_id == tenant_id)
            )
            return result.rowcount == 1

    # --- the queue -------------------------------------------------------------------------

    async def fail_exhausted(self, *, now: float, max_attempts: int) -> list[str]:
        """Fail tasks whose lease ran out after their last allowed attempt (worker_lost)."""
        condition = and_(
            tasks.c.status == TaskStatus.PROCESSING.value,
            tasks.c.lease_expires_at < now,
            tasks.c.attempts >= max_attempts,
        )
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(tasks)
                .where(condition)
                .values(
                    status=TaskStatus.FAILED.value,
                    status_update_time=int(now),
                    error_code="worker_lost",
                    error_message=f"the worker running this task stopped responding {max_attempts} times",
                    lease_expires_at=None,
                )
                .returning(tasks.c.id, tasks.c.tenant_id, tasks.c.model, tasks.c.api_key_id, tasks.c.params)
            )
            failed = result.mappings().all()
            # Failed tasks record zero seconds of usage, lost workers included.
            for row in failed:
                params = row["params"] or {}
                await conn.execute(
                    usage.insert().values(
                        **usage_row(
                            task_id=row["id"],
                            tenant_id=row["tenant_id"],
                            api_key_id=row["api_key_id"],
                            model=row["model"],
                            engine=None,
                            channel=None,
                            status=TaskStatus.FAILED.value,
                            seconds=0.0,
                            width=params.get("width"),
                            height=params.get("height"),
                            now=now,
                        )
                    )
                )
            return [row["id"] for row in failed]

    async def claim(
        self, *, worker_id: str, models: Sequence[str] | None, now: float, lease_seconds: float
    ) -> Task | None:
        """Atomically take the oldest runnable task: queued, or processing with an expired lease.

        One statement: on SQLite the UPDATE holds the write lock for its whole run;
        on PostgreSQL the sub-select's ``FOR UPDATE SKIP LOCKED`` keeps claimers apart.
        """
        runnable = or_(
            tasks.c.status == TaskStatus.QUEUED.value,
            and_(tasks.c.status == TaskStatus.PROCESSING.value, tasks.c.lease_expires_at < now),
        )
        candidate = select(tasks.c.id).where(runnable)
        if models is not None:
            candidate = candidate.where(tasks.c.model.in_(list(models)))
        oldest = (
            candidate.order_by(tasks.c.enqueued_at).limit(1).with_for_update(skip_locked=True)
        ).scalar_subquery()
        statement = (
            update(tasks)
            .where(tasks.c.id == oldest, runnable)
            .values(
                status=TaskStatus.PROCESSING.value,
                worker_id=worker_id,
                lease_expires_at=now + lease_seconds,
                attempts=tasks.c.attempts + 1,
                started_at=int(now),
                status_update_time=int(now),
                progress=0,
            )
            .returning(*tasks.c)
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(statement)).mappings().first()
        return _row_to_task(row) if row else None

    def _held(self, task_id: str, worker_id: str) -> Any:
        return and_(
            tasks.c.id == task_id,
            tasks.c.worker_id == worker_id,
            tasks.c.status == TaskStatus.PROCESSING.value,
        )

    async def heartbeat(self, task_id: str, worker_id: str, *, lease_until: float) -> bool:
        """Extend the lease; False means the task is no longer ours (lease lost or cancelled)."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(tasks).where(self._held(task_id, worker_id)).values(lease_expires_at=lease_until)
            )
            return result.rowcount == 1

    async def set_progress(self, task_id: str, worker_id: str, progress: int) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(tasks)
                .where(self._held(task_id, worker_id))
                .values(progress=max(0, min(100, progress)))
            )
            return result.rowcount == 1

    async def set_engine_report(self, task_id: str, worker_id: str, report: Mapping[str, Any]) -> bool:
        """Record the engine's checkpoint (e.g. the upstream request a relay submitted) while the
        task runs; a later claim of the task gets it back. False: the task is no longer ours."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(tasks).where(self._held(task_id, worker_id)).values(engine_report=dict(report))
            )
            return result.rowcount == 1

    async def complete(
        self,
        task_id: str,
        worker_id: str,
        *,
        now: float,
        expires_at: int,
        output: Mapping[str, Any],
        usage_row: Mapping[str, Any] | None = None,
    ) -> bool:
        """Mark done; called only after the output files are durable in the blob store.

        ``output["engine"]`` (the engine's report) goes to ``engine_report``; ``usage_row``
        (``storage.usage.usage_row``) is recorded in the same transaction, only if the task
        was still ours to complete.
        """
        allowed = set(output) <= {
            "duration",
            "width",
            "height",
            "fps",
            "video_key",
            "thumbnail_key",
            "engine",
        }
        if not allowed:
            raise ValueError(f"unexpected output fields {sorted(output)}")
        values = {k: v for k, v in output.items() if k != "engine"}
        if "engine" in output:
            values["engine_report"] = output["engine"]
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(tasks)
                .where(
                    self._held(task_id, worker_id),
                    tasks.c.status.in_(_statuses(TaskStatus.COMPLETED)),
                )
                .values(
                    status=TaskStatus.COMPLETED.value,
                    progress=100,
                    status_update_time=int(now),
                    completed_at=int(now),
                    expires_at=expires_at,
                    lease_expires_at=None,
                    **values,
                )
            )
            if result.rowcount == 1 and usage_row is not None:
                await conn.execute(usage.insert().values(**usage_row))
            return result.rowcount == 1

    async def fail(
        self,
        task_id: str,
        *,
        worker_id: str | None,
        now: float,
        error: TaskError,
        usage_row: Mapping[str, Any] | None = None,
    ) -> bool:
        """Mark failed; ``usage_row`` (0 s) is recorded in the same transaction if it took effect."""
        condition = [tasks.c.id == task_id, tasks.c.status.in_(_statuses(TaskStatus.FAILED))]
        if worker_id is not None:
            condition.append(tasks.c.worker_id == worker_id)
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(tasks)
                .where(*condition)
                .values(
                    status=TaskStatus.FAILED.value,
                    status_update_time=int(now),
                    error_code=error.code,
                    error_message=error.message,
                    lease_expires_at=None,
                )
            )
            if result.rowcount == 1 and usage_row is not None:
                await conn.execute(usage.insert().values(**usage_row))
            return result.rowcount == 1

    async def release(self, task_id: str, worker_id: str, *, now: float) -> bool:
        """Give a claimed task back to the queue (graceful shutdown); the attempt is not counted."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(tasks)
                .where(self._held(task_id, worker_id))
                .values(
                    status=TaskStatus.QUEUED.value,
                    status_update_time=int(now),
                    worker_id=None,
                    lease_expires_at=None,
                    progress=0,
                    attempts=func.max(tasks.c.attempts - 1, 0)
                    if self._engine.dialect.name == "sqlite"
                    else func.greatest(tasks.c.attempts - 1, 0),
                )
            )
            return result.rowcount == 1

    async def count_queued(self) -> int:
        async with self._engine.connect() as conn:
            result = await conn.execute(
                select(func.count()).select_from(tasks).where(tasks.c.status == TaskStatus.QUEUED.value)
            )
            return int(result.scalar_one())

    async def count_active(self, tenant_id: str) -> int:
        """Queued and processing tasks of one tenant (its concurrent-task quota)."""
        active = [TaskStatus.QUEUED.value, TaskStatus.PROCESSING.value]
        async with self._engine.connect() as conn:
            result = await conn.execute(
                select(func.count())
                .select_from(tasks)
                .where(tasks.c.tenant_id == tenant_id, tasks.c.status.in_(active))
            )
            return int(result.scalar_one())

    async def expired(self, *, now: float, limit: int) -> list[Task]:
        """Completed tasks past ``expires_at`` whose files are still stored."""
        async with self._engine.connect() as conn:
            result = await conn.execute(
                select(tasks)
                .where(
                    tasks.c.status == TaskStatus.COMPLETED.value,
                    tasks.c.expires_at < now,
                    tasks.c.video_key.is_not(None),
                )
                .limit(limit)
            )
            return [_row_to_task(row) for row in result.mappings()]

    async def mark_purged(self, task_id: str) -> None:
        """The files of an expired task are gone; the record stays (routes answer 410)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(tasks).where(tasks.c.id == task_id).values(video_key=None, thumbnail_key=None)
            )
