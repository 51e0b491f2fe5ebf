"""The task table as a queue: atomic claims, leases, refused transitions (SQLite, real connections)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event as sqlalchemy_event

from tests.support import create_postgres_database
from videoloom.core.tasks import Task, TaskError, TaskKind, TaskStatus
from videoloom.storage.database import create_engine, migrate
from videoloom.storage.repository import TaskRepository


@pytest.fixture(params=["sqlite", "postgresql"])
async def repo(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TaskRepository]:
    """The same queue tests on both databases (a fresh PostgreSQL database each time)."""
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'q.db'}"
        if request.param == "sqlite"
        else await asyncio.to_thread(create_postgres_database)
    )
    engine = create_engine(url)
    await migrate(engine)
    yield TaskRepository(engine)
    await engine.dispose()


def make_task(n: int, *, model: str = "motion-1", tenant: str = "t1") -> Task:
    now = int(time.time())
    return Task(
        id=f"motion:00000000-0000-4000-8000-{n:012d}",
        tenant_id=tenant,
        kind=TaskKind.GENERATE,
        model=model,
        prompt="p",
        params={"n": n},
        created_at=now,
        status_update_time=now,
    )


async def test_concurrent_claimers_never_share_a_task(repo: TaskRepository) -> None:
    for n in range(40):
        await repo.insert(make_task(n), enqueued_at=time.time() + n * 1e-3)

    async def claimer(worker: str) -> list[str]:
        got = []
        while task := await repo.claim(worker_id=worker, models=None, now=time.time(), lease_seconds=60):
            got.append(task.id)
        return got

    results = await asyncio.gather(*(claimer(f"w{i}") for i in range(8)))
    claimed = [task_id for batch in results for task_id in batch]
    assert len(claimed) == 40 and len(set(claimed)) == 40


async def test_claim_order_models_and_tenant_scoping(repo: TaskRepository) -> None:
    await repo.insert(make_task(1, model="other"), enqueued_at=1.0)
    await repo.insert(make_task(2), enqueued_at=2.0)
    await repo.insert(make_task(3), enqueued_at=3.0)
    task = await repo.claim(worker_id="w", models=["motion-1"], now=time.time(), lease_seconds=60)
    assert task is not None and task.params == {"n": 2} and task.status is TaskStatus.PROCESSING
    assert task.attempts == 1 and task.worker_id == "w"
    assert await repo.get("t1", task.id) is not None
    assert await repo.get("someone-else", task.id) is None


async def test_expired_lease_is_reclaimed_then_fails_as_worker_lost(repo: TaskRepository) -> None:
    await repo.insert(make_task(1), enqueued_at=1.0)
    now = time.time()
    first = await repo.claim(worker_id="a", models=None, now=now, lease_seconds=5)
    assert first is not None
    assert await repo.claim(worker_id="b", models=None, now=now + 1, lease_seconds=5) is None
    second = await repo.claim(worker_id="b", models=None, now=now + 6, lease_seconds=5)
    assert second is not None and second.attempts == 2 and second.worker_id == "b"
    # The first worker lost its lease: its writes no longer land.
    assert not await repo.heartbeat(first.id, "a", lease_until=now + 100)
    assert not await repo.complete(first.id, "a", now=now, expires_at=0, output={"duration": 1.0})
    assert await repo.fail_exhausted(now=now + 12, max_attempts=2) == [first.id]
    failed = await repo.get("t1", first.id)
    assert failed is not None and failed.status is TaskStatus.FAILED
    assert failed.error is not None and failed.error.code == "worker_lost"


async def test_terminal_tasks_refuse_every_transition(repo: TaskRepository) -> None:
    await repo.insert(make_task(1), enqueued_at=1.0)
    task = await repo.claim(worker_id="w", models=None, now=time.time(), lease_seconds=60)
    assert task is not None
    assert await repo.complete(task.id, "w", now=time.time(), expires_at=0, output={"duration": 2.0})
    assert not await repo.fail(
        task.id, worker_id=None, now=time.time(), error=TaskError(code="x", message="y")
    )
    assert not await repo.release(task.id, "w", now=time.time())
    assert await repo.claim(worker_id="w2", models=None, now=time.time() + 1000, lease_seconds=60) is None
    done = await repo.get("t1", task.id)
    assert done is not None and done.status is TaskStatus.COMPLETED and done.duration == 2.0


async def test_release_puts_a_task_back_without_counting_the_attempt(repo: TaskRepository) -> None:
    await repo.insert(make_task(1), enqueued_at=1.0)
    task = await repo.claim(worker_id="w", models=None, now=time.time(), lease_seconds=60)
    assert task is not None and await repo.release(task.id, "w", now=time.time())
    again = await repo.claim(worker_id="w2", models=None, now=time.time(), lease_seconds=60)
    assert again is not None and again.id == task.id and again.attempts == 1


async def test_an_engine_checkpoint_is_kept_for_the_next_claim_and_only_the_holder_writes_it(
    repo: TaskRepository,
) -> None:
    await repo.insert(make_task(1), enqueued_at=1.0)
    now = time.time()
    first = await repo.claim(worker_id="a", models=None, now=now, lease_seconds=5)
    assert first is not None and first.engine_report is None
    recorded = {"channel": "xai-main", "upstream_request_id": "req-1", "submitted_at": now}
    assert await repo.set_engine_report(first.id, "a", recorded)
    assert not await repo.set_engine_report(first.id, "b", {"channel": "forged"})  # not b's task
    again = await repo.claim(worker_id="b", models=None, now=now + 6, lease_seconds=5)
    assert again is not None and again.attempts == 2 and again.engine_report == recorded
    assert not await repo.set_engine_report(first.id, "a", {"channel": "late"})  # a lost its lease


async def test_postgres_notify_wakes_listening_workers_on_commit() -> None:
    from videoloom.queue import LocalWakeUp, PostgresListener

    url = await asyncio.to_thread(create_postgres_database)
    engine = create_engine(url)
    await migrate(engine)
    wakeup = LocalWakeUp()
    listener = PostgresListener(engine.url.set(drivername="postgresql").render_as_string(False), wakeup)
    await listener.start()
    try:
        wakeup.clear()
        started = time.monotonic()
        await TaskRepository(engine).insert(make_task(1), enqueued_at=1.0)
        await wakeup.wait(5.0)
        assert time.monotonic() - started < 2.0, "the NOTIFY did not wake the listener"
    finally:
        await listener.stop()
        await engine.dispose()


async def test_status_cache_serves_polls_and_forgets_on_any_commit(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    await migrate(engine)
    repo = TaskRepository(engine, status_cache_seconds=60)
    try:
        await repo.insert(make_task(1), enqueued_at=1.0)
        task_id = make_task(1).id
        first = await repo.get("t1", task_id, cached=True)
        assert first is not None and first.status is TaskStatus.QUEUED
        assert await repo.get("someone-else", task_id, cached=True) is None  # tenant-scoped from memory too

        # A commit through this process's engine (the embedded worker's claim) is seen at once.
        claimed = await repo.claim(worker_id="w", models=None, now=time.time(), lease_seconds=60)
        assert claimed is not None
        polled = await repo.get("t1", task_id, cached=True)
        assert polled is not None and polled.status is TaskStatus.PROCESSING

        # Another engine's writes show up once the entry expires; a plain get always reads.
        other_engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
        other_process = TaskRepository(other_engine)
        assert await other_process.set_progress(task_id, "w", 40)
        stale = await repo.get("t1", task_id, cached=True)
        fresh = await repo.get("t1", task_id)
        assert stale is not None and stale.progress == 0
        assert fresh is not None and fresh.progress == 40
        await other_engine.dispose()
    finally:
        await engine.dispose()


async def test_concurrent_status_reads_that_miss_share_one_query(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    await migrate(engine)
    repo = TaskRepository(engine, status_cache_seconds=60)
    statements: list[str] = []
    try:
        await repo.insert(make_task(1), enqueued_at=1.0)
        task_id = make_task(1).id

        def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                statements.append(statement)

        sqlalchemy_event.listen(engine.sync_engine, "before_cursor_execute", count)
        polls = await asyncio.gather(*(repo.get("t1", task_id, cached=True) for _ in range(50)))
        assert all(p is not None and p.id == task_id for p in polls)
        assert len(statements) == 1
        others = await asyncio.gather(*(repo.get("t2", task_id, cached=True) for _ in range(5)))
        assert others == [None] * 5  # the shared entry is tenant-checked too
    finally:
        await engine.dispose()
