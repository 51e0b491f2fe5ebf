"""TaskService rules that need a clock: expiry, and extend validation against the source."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from videoloom.core.commands import ExtendCommand
from videoloom.core.errors import Conflict, Gone, InvalidRequest, NotFound
from videoloom.core.models import ModelRegistry
from videoloom.core.service import TaskService, UploadedVideo
from videoloom.core.tasks import Task, TaskKind, TaskStatus
from videoloom.net import AddressPolicy
from videoloom.storage.blobs import LocalBlobStore
from videoloom.storage.database import create_engine, migrate
from videoloom.storage.repository import TaskRepository

NOW = 1_800_000_000


async def _no_ingest(path: Path, tenant: str, task_id: str) -> UploadedVideo:
    raise AssertionError("not used")


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[tuple[TaskService, TaskRepository]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 's.db'}")
    await migrate(engine)
    repo = TaskRepository(engine)
    notified: list[int] = []
    svc = TaskService(
        store=repo,
        registry=ModelRegistry(),
        address_policy=AddressPolicy(),
        notify=lambda: notified.append(1),
        ingest=_no_ingest,
        files=LocalBlobStore(tmp_path / "blobs"),
        edit_operations=lambda model, prompt: [],
        retention_seconds=3600,
        clock=lambda: NOW,
    )
    yield svc, repo
    await engine.dispose()


def _video(task_id: str, *, status: TaskStatus = TaskStatus.COMPLETED, expires_at: int = NOW + 10) -> Task:
    return Task(
        id=task_id,
        tenant_id="t",
        kind=TaskKind.UPLOAD,
        model="grok-video-3",
        prompt="",
        status=status,
        created_at=NOW - 100,
        status_update_time=NOW - 100,
        expires_at=expires_at,
        duration=10.04,
        width=1280,
        height=720,
        fps=24.0,
        video_key="t/x/video.mp4",
    )


async def test_expired_results_are_gone(service: tuple[TaskService, TaskRepository]) -> None:
    svc, repo = service
    await repo.insert(_video("grok:00000000-0000-4000-8000-000000000001", expires_at=NOW - 1), enqueued_at=0)
    with pytest.raises(Gone):
        await svc.get_downloadable("t", "grok:00000000-0000-4000-8000-000000000001")
    with pytest.raises(NotFound):
        await svc.get_downloadable("other", "grok:00000000-0000-4000-8000-000000000001")


async def test_extend_validates_against_the_source(service: tuple[TaskService, TaskRepository]) -> None:
    svc, repo = service
    source_id = "grok:00000000-0000-4000-8000-000000000002"
    await repo.insert(_video(source_id), enqueued_at=0)
    base = ExtendCommand(source_id=source_id, model="grok-video-3", prompt="go")
    task = await svc.create_extend("t", base)
    assert task.status is TaskStatus.QUEUED and task.parent_id == source_id
    assert task.start_time is None and task.duration == pytest.approx(16.04)
    assert (task.width, task.height) == (1280, 720) and task.id.startswith("grok:")
    cut = await svc.create_extend(
        "t",
        ExtendCommand(
            source_id=source_id,
            model="motion-1",
            prompt="go",
            start_time=10,
            size="1080p",
            aspect_ratio="9:16",
        ),
    )
    assert cut.id.startswith("motion:") and (cut.width, cut.height) == (1080, 1920) and cut.duration == 16
    with pytest.raises(InvalidRequest) as info:
        await svc.create_extend(
            "t", ExtendCommand(source_id=source_id, model="grok-video-3", prompt="go", start_time=11)
        )
    assert info.value.param == "start_time"
    with pytest.raises(Conflict):
        await svc.create_extend("t", ExtendCommand(source_id=task.id, model="grok-video-3", prompt="go"))
