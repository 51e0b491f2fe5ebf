"""WebhookService rules: validation, tenant scoping, when ``updated_at`` moves, rotation windows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from videoloom.core import webhook_service
from videoloom.core.errors import InvalidRequest, NotFound
from videoloom.core.webhook_service import MAX_ENDPOINTS_PER_TENANT, WebhookService
from videoloom.core.webhooks import ROTATION_OVERLAP_SECONDS, WebhookEndpoint
from videoloom.net import AddressPolicy
from videoloom.storage.database import create_engine, migrate
from videoloom.storage.webhooks import WebhookRepository

URL = "https://hooks.example.com/videoloom"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(webhook_service.time, "time", clock)
    return clock


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[tuple[WebhookService, list[tuple[str, str]]]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 's.db'}")
    await migrate(engine)
    sent: list[tuple[str, str]] = []

    async def send_test(endpoint: WebhookEndpoint, event_type: str) -> int:
        sent.append((endpoint.id, event_type))
        return 204

    yield (
        WebhookService(store=WebhookRepository(engine), address_policy=AddressPolicy(), send_test=send_test),
        sent,
    )
    await engine.dispose()


async def test_updated_at_moves_only_on_real_changes(
    service: tuple[WebhookService, list[tuple[str, str]]], clock: Clock
) -> None:
    svc, _ = service
    endpoint = await svc.create("t", name="  hook ", url=URL, event_types=["video.completed"])
    assert endpoint.name == "hook" and endpoint.created_at == endpoint.updated_at == int(clock.now)
    clock.now += 100
    same = await svc.update("t", endpoint.id, name="hook", url=URL, event_types=["video.completed"])
    assert same.updated_at == endpoint.updated_at
    clock.now += 100
    changed = await svc.update("t", endpoint.id, event_types=["video.failed", "video.completed"])
    assert changed.updated_at == int(clock.now) and changed.event_types == ("video.failed", "video.completed")
    assert changed.name == "hook" and changed.url == URL and changed.secret == endpoint.secret


async def test_rotation_window_is_24_hours_only_when_asked(
    service: tuple[WebhookService, list[tuple[str, str]]], clock: Clock
) -> None:
    svc, _ = service
    endpoint = await svc.create("t", name="n", url=URL, event_types=["video.failed"])
    clock.now += 10
    kept = await svc.rotate_secret("t", endpoint.id, keep_old=True)
    assert kept.previous_secret == endpoint.secret
    assert (
        kept.previous_secret_expires_at == int(clock.now) + ROTATION_OVERLAP_SECONDS == int(clock.now) + 86400
    )
    assert kept.signing_secrets(clock.now) == [kept.secret, endpoint.secret]
    assert kept.signing_secrets(clock.now + 86400) == [kept.secret]
    assert kept.updated_at == int(clock.now)
    dropped = await svc.rotate_secret("t", endpoint.id, keep_old=False)
    assert dropped.signing_secrets(clock.now) == [dropped.secret] and dropped.secret != kept.secret


async def test_validation_names_the_field(service: tuple[WebhookService, list[tuple[str, str]]]) -> None:
    svc, _ = service
    cases = [
        ({"name": "", "url": URL, "event_types": ["video.failed"]}, "name"),
        ({"name": "x" * 257, "url": URL, "event_types": ["video.failed"]}, "name"),
        ({"name": "n", "url": "file:///etc/passwd", "event_types": ["video.failed"]}, "url"),
        (
            {"name": "n", "url": "http://169.254.169.254/latest/meta-data", "event_types": ["video.failed"]},
            "url",
        ),
        ({"name": "n", "url": "http://[fd00:ec2::254]/", "event_types": ["video.failed"]}, "url"),
        ({"name": "n", "url": "https://" + "a" * 2048 + ".com/", "event_types": ["video.failed"]}, "url"),
        ({"name": "n", "url": URL, "event_types": ["response.completed"]}, "event_types"),
        ({"name": "n", "url": URL, "event_types": []}, "event_types"),
    ]
    for fields, param in cases:
        with pytest.raises(InvalidRequest) as info:
            await svc.create("t", **fields)  # type: ignore[arg-type]
        assert info.value.param == param, fields


async def test_every_operation_is_tenant_scoped(
    service: tuple[WebhookService, list[tuple[str, str]]],
) -> None:
    svc, sent = service
    endpoint = await svc.create("a", name="n", url=URL, event_types=["video.failed"])
    for call in (
        svc.get("b", endpoint.id),
        svc.update("b", endpoint.id, name="x"),
        svc.rotate_secret("b", endpoint.id, keep_old=True),
        svc.delete("b", endpoint.id),
        svc.test("b", endpoint.id, event_type="video.failed"),
    ):
        with pytest.raises(NotFound):
            await call
    assert sent == []
    assert await svc.test("a", endpoint.id, event_type="video.completed") == 204
    assert sent == [(endpoint.id, "video.completed")]
    await svc.delete("a", endpoint.id)
    with pytest.raises(NotFound):
        await svc.get("a", endpoint.id)


async def test_endpoints_per_tenant_are_capped(service: tuple[WebhookService, list[tuple[str, str]]]) -> None:
    svc, _ = service
    for n in range(MAX_ENDPOINTS_PER_TENANT):
        await svc.create("a", name=f"e{n}", url=URL, event_types=["video.failed"])
    with pytest.raises(InvalidRequest) as info:
        await svc.create("a", name="one too many", url=URL, event_types=["video.failed"])
    assert info.value.code == "too_many_endpoints"
    await svc.create("b", name="other tenant", url=URL, event_types=["video.failed"])
