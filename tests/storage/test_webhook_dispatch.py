"""WebhookDispatcher over a real SQLite outbox and a loopback receiver: send, retry, give up."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import openai
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.webhook_receiver import Receiver
from videoloom.core.tasks import Task, TaskKind, TaskStatus
from videoloom.core.webhooks import (
    EVENT_TYPES,
    Delivery,
    DeliveryStatus,
    OperatorEndpoint,
    WebhookEndpoint,
    new_endpoint_id,
    new_secret,
)
from videoloom.net import AddressPolicy, FetchLimits, SafeFetcher
from videoloom.storage.database import create_engine, migrate
from videoloom.storage.repository import TaskRepository
from videoloom.storage.webhooks import WebhookRepository
from videoloom.worker.webhooks import WebhookDispatcher

LOOPBACK_ONLY = AddressPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))
TASK_ID = "grok:00000000-0000-4000-8000-000000000001"


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    await migrate(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


async def _finished_task(engine: AsyncEngine, *, status: TaskStatus = TaskStatus.COMPLETED) -> None:
    now = int(time.time())
    task = Task(
        id=TASK_ID,
        tenant_id="a",
        kind=TaskKind.GENERATE,
        model="grok-video-3",
        prompt="p",
        status=status,
        created_at=now,
        status_update_time=now,
    )
    await TaskRepository(engine).insert(task, enqueued_at=time.time())


async def _endpoint(repo: WebhookRepository, url: str) -> WebhookEndpoint:
    now = int(time.time())
    endpoint = WebhookEndpoint(
        id=new_endpoint_id(),
        tenant_id="a",
        name="hook",
        url=url,
        event_types=EVENT_TYPES,
        secret=new_secret(),
        created_at=now,
        updated_at=now,
    )
    await repo.insert_endpoint(endpoint)
    return endpoint


def _dispatcher(
    repo: WebhookRepository,
    *,
    policy: AddressPolicy = LOOPBACK_ONLY,
    max_age: float = 60,
    operators: list[OperatorEndpoint] | None = None,
) -> WebhookDispatcher:
    return WebhookDispatcher(
        repository=repo,
        fetcher=SafeFetcher(policy=policy, limits=FetchLimits(timeout_s=2)),
        operators=operators or [],
        initial_backoff=0.05,
        max_age=max_age,
        poll_interval=0.05,
    )


async def _settled(
    repo: WebhookRepository, check: Callable[[list[Delivery]], bool], timeout: float = 15
) -> list[Delivery]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deliveries = await repo.deliveries_for_task(TASK_ID)
        if deliveries and check(deliveries):
            return deliveries
        await asyncio.sleep(0.05)
    raise AssertionError(f"deliveries did not settle: {await repo.deliveries_for_task(TASK_ID)}")


async def test_delivers_a_signed_event_the_sdk_accepts(engine: AsyncEngine, receiver: Receiver) -> None:
    repo = WebhookRepository(engine)
    endpoint = await _endpoint(repo, receiver.url("/hook"))
    operator = OperatorEndpoint(
        id="operator_1", url=receiver.url("/ops"), secret=new_secret(), event_types=("video.completed",)
    )
    await _finished_task(engine)
    dispatcher = _dispatcher(repo, operators=[operator])
    dispatcher.start()
    try:
        deliveries = await _settled(repo, lambda ds: all(d.status is DeliveryStatus.DELIVERED for d in ds))
    finally:
        await dispatcher.stop()
    assert len(deliveries) == 2
    for path, secret in (("/hook", endpoint.secret), ("/ops", operator.secret)):
        [seen] = receiver.requests(path)
        event = openai.OpenAI(api_key="x", base_url="http://127.0.0.1:9/v1").webhooks.unwrap(
            seen.body, seen.headers, secret=secret
        )
        assert event.type == "video.completed" and event.data.id == TASK_ID
        assert seen.headers["content-type"] == "application/json"
        assert seen.headers["user-agent"].startswith("videoloom-webhooks/")
    assert {d.id for d in deliveries} == {r.headers["webhook-id"] for r in receiver.requests()}
    assert all(d.attempts == 1 and d.last_status_code == 200 for d in deliveries)


async def test_gives_up_once_the_event_is_older_than_max_age(engine: AsyncEngine, receiver: Receiver) -> None:
    repo = WebhookRepository(engine)
    receiver.answer("/down", 503)
    await _endpoint(repo, receiver.url("/down"))
    await _finished_task(engine, status=TaskStatus.FAILED)
    dispatcher = _dispatcher(repo, max_age=1.5)
    dispatcher.start()
    try:
        [delivery] = await _settled(repo, lambda ds: ds[0].status is DeliveryStatus.FAILED)
    finally:
        await dispatcher.stop()
    assert delivery.attempts >= 2 and delivery.attempts == len(receiver.requests("/down"))
    assert delivery.last_error == "the endpoint answered HTTP 503" and delivery.last_status_code == 503
    ids = {r.headers["webhook-id"] for r in receiver.requests("/down")}
    assert ids == {delivery.id}  # every retry is the same message
    assert json.loads(receiver.requests("/down")[0].body)["type"] == "video.failed"


async def test_a_redirect_is_a_failed_attempt_and_is_not_followed(
    engine: AsyncEngine, receiver: Receiver
) -> None:
    repo = WebhookRepository(engine)
    receiver.answer("/moved", 302, Location="/elsewhere")
    await _endpoint(repo, receiver.url("/moved"))
    await _finished_task(engine)
    dispatcher = _dispatcher(repo)
    dispatcher.start()
    try:
        [delivery] = await _settled(repo, lambda ds: ds[0].attempts >= 2 and ds[0].last_error is not None)
    finally:
        await dispatcher.stop()
    assert delivery.status is DeliveryStatus.PENDING and delivery.last_status_code == 302
    assert "redirects are not followed" in (delivery.last_error or "")
    assert receiver.requests("/elsewhere") == []


async def test_a_refused_address_is_never_contacted(engine: AsyncEngine, receiver: Receiver) -> None:
    repo = WebhookRepository(engine)
    await _endpoint(repo, receiver.url("/internal"))  # stored earlier, e.g. under a laxer policy
    await _finished_task(engine)
    dispatcher = _dispatcher(repo, policy=AddressPolicy(), max_age=0.5)
    dispatcher.start()
    try:
        [delivery] = await _settled(repo, lambda ds: ds[0].status is DeliveryStatus.FAILED)
    finally:
        await dispatcher.stop()
    assert (delivery.last_error or "").startswith("address_not_allowed")
    assert receiver.requests() == []


async def test_stop_is_prompt_and_idempotent(engine: AsyncEngine) -> None:
    dispatcher = _dispatcher(WebhookRepository(engine))
    dispatcher.start()
    dispatcher.notify()
    started = time.monotonic()
    await dispatcher.stop()
    await dispatcher.stop()
    assert time.monotonic() - started < 2
