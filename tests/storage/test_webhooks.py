"""The webhook outbox on SQLite: the announcer's single transaction, claims, leases, scoping."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from videoloom.core.tasks import Task, TaskError, TaskKind, TaskStatus
from videoloom.core.webhooks import (
    EVENT_TYPES,
    DeliveryStatus,
    OperatorEndpoint,
    WebhookEndpoint,
    new_endpoint_id,
    new_secret,
)
from videoloom.storage import webhooks as webhook_storage
from videoloom.storage.database import create_engine, migrate
from videoloom.storage.repository import TaskRepository
from videoloom.storage.schema import tasks as tasks_table
from videoloom.storage.webhooks import WebhookRepository


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    await migrate(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def repo(engine: AsyncEngine) -> WebhookRepository:
    return WebhookRepository(engine)


@pytest.fixture
def task_repo(engine: AsyncEngine) -> TaskRepository:
    return TaskRepository(engine)


def make_task(
    n: int,
    *,
    tenant: str = "a",
    status: TaskStatus = TaskStatus.COMPLETED,
    kind: TaskKind = TaskKind.GENERATE,
) -> Task:
    now = int(time.time())
    return Task(
        id=f"grok:00000000-0000-4000-8000-{n:012d}",
        tenant_id=tenant,
        kind=kind,
        model="grok-video-3",
        prompt="p",
        status=status,
        error=TaskError(code="x", message="y") if status is TaskStatus.FAILED else None,
        created_at=now,
        status_update_time=now - 100 + n,
    )


def make_endpoint(tenant: str, *event_types: str, name: str = "hook") -> WebhookEndpoint:
    now = int(time.time())
    return WebhookEndpoint(
        id=new_endpoint_id(),
        tenant_id=tenant,
        name=name,
        url=f"https://{tenant}.example.com/hook",
        event_types=event_types or EVENT_TYPES,
        secret=new_secret(),
        created_at=now,
        updated_at=now,
    )


async def _announced_at(engine: AsyncEngine, task_id: str) -> float | None:
    async with engine.connect() as conn:
        value = (
            await conn.execute(select(tasks_table.c.announced_at).where(tasks_table.c.id == task_id))
        ).scalar_one()
    return None if value is None else float(value)


async def test_announce_queues_one_delivery_per_matching_endpoint_in_one_go(
    engine: AsyncEngine, repo: WebhookRepository, task_repo: TaskRepository
) -> None:
    done = make_task(1)
    failed = make_task(2, status=TaskStatus.FAILED)
    upload = make_task(3, kind=TaskKind.UPLOAD)
    queued = make_task(4, status=TaskStatus.QUEUED)
    cancelled = make_task(5, status=TaskStatus.CANCELLED)
    other = make_task(6, tenant="b")
    for task in (done, failed, upload, queued, cancelled, other):
        await task_repo.insert(task, enqueued_at=time.time())
    both = make_endpoint("a")
    completed_only = make_endpoint("a", "video.completed")
    b_failed_only = make_endpoint("b", "video.failed")
    for endpoint in (both, completed_only, b_failed_only):
        await repo.insert_endpoint(endpoint)
    operator = OperatorEndpoint(
        id="operator_x", url="https://ops.example.com", secret="s", event_types=EVENT_TYPES
    )

    result = await repo.announce(now=time.time(), operators=[operator])
    assert result.tasks == 3  # done, failed, other; not the upload, the queued or the cancelled
    assert result.deliveries == 3 + 2 + 1

    sent = await repo.deliveries_for_task(done.id)
    assert sorted(d.endpoint_id for d in sent) == sorted([both.id, completed_only.id, operator.id])
    assert len({d.event_id for d in sent}) == 1 and len({d.payload for d in sent}) == 1
    assert len({d.id for d in sent}) == 3
    event = json.loads(sent[0].payload)
    assert event == {
        "id": sent[0].event_id,
        "object": "event",
        "type": "video.completed",
        "created_at": done.status_update_time,
        "data": {"id": done.id},
    }
    assert all(d.status is DeliveryStatus.PENDING and d.attempts == 0 for d in sent)

    failed_sent = await repo.deliveries_for_task(failed.id)
    assert sorted(d.endpoint_id for d in failed_sent) == sorted([both.id, operator.id])
    assert json.loads(failed_sent[0].payload)["type"] == "video.failed"
    assert [d.endpoint_id for d in await repo.deliveries_for_task(other.id)] == [operator.id]

    for task in (done, failed, other):
        assert await _announced_at(engine, task.id) is not None
    for task in (upload, queued, cancelled):
        assert await _announced_at(engine, task.id) is None
        assert await repo.deliveries_for_task(task.id) == []

    again = await repo.announce(now=time.time(), operators=[operator])
    assert again == (0, 0)


async def test_a_failing_announce_leaves_the_task_unannounced(
    engine: AsyncEngine, repo: WebhookRepository, task_repo: TaskRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Marking the task and inserting its deliveries commit together or not at all."""
    task = make_task(1)
    await task_repo.insert(task, enqueued_at=time.time())
    await repo.insert_endpoint(make_endpoint("a"))
    await repo.insert_endpoint(make_endpoint("a"))
    monkeypatch.setattr(webhook_storage, "new_delivery_id", lambda: "msg_same")  # 2nd insert collides
    with pytest.raises(IntegrityError):
        await repo.announce(now=time.time())
    assert await _announced_at(engine, task.id) is None
    assert await repo.deliveries_for_task(task.id) == []

    monkeypatch.undo()
    assert await repo.announce(now=time.time()) == (1, 2)
    assert await _announced_at(engine, task.id) is not None


async def test_tasks_finished_without_endpoints_are_announced_with_no_deliveries(
    repo: WebhookRepository, task_repo: TaskRepository
) -> None:
    await task_repo.insert(make_task(1), enqueued_at=time.time())
    assert await repo.announce(now=time.time()) == (1, 0)
    assert await repo.announce(now=time.time()) == (0, 0)


async def test_announce_works_in_batches(repo: WebhookRepository, task_repo: TaskRepository) -> None:
    for n in range(7):
        await task_repo.insert(make_task(n), enqueued_at=time.time())
    await repo.insert_endpoint(make_endpoint("a"))
    assert await repo.announce(now=time.time(), limit=3) == (3, 3)
    assert await repo.announce(now=time.time(), limit=3) == (3, 3)
    assert await repo.announce(now=time.time(), limit=3) == (1, 1)


async def test_claim_lease_and_stale_results(repo: WebhookRepository, task_repo: TaskRepository) -> None:
    await task_repo.insert(make_task(1), enqueued_at=time.time())
    await repo.insert_endpoint(make_endpoint("a"))
    await repo.announce(now=time.time())
    now = time.time()
    first = await repo.claim_delivery(now=now, lease_seconds=10)
    assert first is not None and first.attempts == 1 and first.next_attempt_at == pytest.approx(now + 10)
    assert await repo.claim_delivery(now=now + 5, lease_seconds=10) is None  # leased
    second = await repo.claim_delivery(now=now + 11, lease_seconds=10)  # the lease ran out
    assert second is not None and second.id == first.id and second.attempts == 2
    # The first claimer's late result no longer applies; the second one's does.
    assert not await repo.mark_delivered(first, now=now + 12, status_code=200)
    assert await repo.reschedule(
        second, now=now + 12, next_attempt_at=now + 20, error="HTTP 500", status_code=500
    )
    assert await repo.claim_delivery(now=now + 19, lease_seconds=10) is None
    third = await repo.claim_delivery(now=now + 20, lease_seconds=10)
    assert third is not None and third.attempts == 3 and third.last_error == "HTTP 500"
    assert await repo.mark_delivered(third, now=now + 21, status_code=204)
    assert await repo.claim_delivery(now=now + 1000, lease_seconds=10) is None
    [stored] = await repo.deliveries_for_task(make_task(1).id)
    assert stored.status is DeliveryStatus.DELIVERED and stored.last_status_code == 204
    assert stored.last_error is None and stored.delivered_at == int(now + 21)
    assert not await repo.give_up(third, now=now + 22, error="late", status_code=None)


async def test_concurrent_claimers_never_share_a_delivery(
    repo: WebhookRepository, task_repo: TaskRepository
) -> None:
    for n in range(30):
        await task_repo.insert(make_task(n), enqueued_at=time.time())
    await repo.insert_endpoint(make_endpoint("a"))
    assert (await repo.announce(now=time.time())).deliveries == 30

    async def claimer() -> list[str]:
        got = []
        while delivery := await repo.claim_delivery(now=time.time(), lease_seconds=60):
            got.append(delivery.id)
        return got

    results = await asyncio.gather(*(claimer() for _ in range(6)))
    claimed = [d for batch in results for d in batch]
    assert len(claimed) == 30 and len(set(claimed)) == 30


async def test_endpoints_are_tenant_scoped(repo: WebhookRepository) -> None:
    mine = make_endpoint("a")
    await repo.insert_endpoint(mine)
    assert await repo.get_endpoint("a", mine.id) == mine
    assert await repo.get_endpoint("b", mine.id) is None
    assert await repo.update_endpoint("b", mine.id, now=1, name="x") is None
    assert (
        await repo.rotate_secret("b", mine.id, secret=new_secret(), keep_previous_until=None, now=1) is None
    )
    assert not await repo.delete_endpoint("b", mine.id)
    assert await repo.list_endpoints("b", after=None, limit=10) == ([], False)
    assert await repo.get_endpoint("a", mine.id) == mine


async def test_list_is_newest_first_with_cursor_paging(repo: WebhookRepository) -> None:
    created = []
    for n in range(5):
        endpoint = make_endpoint("a", name=f"e{n}")
        await repo.insert_endpoint(endpoint)
        created.append(endpoint.id)
        await asyncio.sleep(0.002)  # ids carry milliseconds
    page, more = await repo.list_endpoints("a", after=None, limit=2)
    assert [e.id for e in page] == created[::-1][:2] and more
    page2, more2 = await repo.list_endpoints("a", after=page[-1].id, limit=2)
    assert [e.id for e in page2] == created[::-1][2:4] and more2
    page3, more3 = await repo.list_endpoints("a", after=page2[-1].id, limit=2)
    assert [e.id for e in page3] == created[:1] and not more3


async def test_rotation_keeps_the_old_secret_only_when_asked(repo: WebhookRepository) -> None:
    endpoint = make_endpoint("a")
    await repo.insert_endpoint(endpoint)
    fresh = new_secret()
    kept = await repo.rotate_secret("a", endpoint.id, secret=fresh, keep_previous_until=2_000_000_000, now=5)
    assert kept is not None and kept.secret == fresh and kept.previous_secret == endpoint.secret
    assert kept.previous_secret_expires_at == 2_000_000_000 and kept.updated_at == 5
    newest = new_secret()
    dropped = await repo.rotate_secret("a", endpoint.id, secret=newest, keep_previous_until=None, now=6)
    assert dropped is not None and dropped.secret == newest
    assert dropped.previous_secret is None and dropped.previous_secret_expires_at is None


async def test_deleting_an_endpoint_drops_its_deliveries(
    repo: WebhookRepository, task_repo: TaskRepository
) -> None:
    await task_repo.insert(make_task(1), enqueued_at=time.time())
    gone, kept = make_endpoint("a"), make_endpoint("a")
    await repo.insert_endpoint(gone)
    await repo.insert_endpoint(kept)
    await repo.announce(now=time.time())
    assert await repo.delete_endpoint("a", gone.id)
    assert [d.endpoint_id for d in await repo.deliveries_for_task(make_task(1).id)] == [kept.id]
    assert not await repo.delete_endpoint("a", gone.id)
