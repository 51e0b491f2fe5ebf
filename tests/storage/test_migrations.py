"""Upgrading an existing 0001 database to the newest revision keeps its data."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import videoloom.storage
from videoloom.core.tasks import TaskStatus
from videoloom.storage.database import create_engine, migrate
from videoloom.storage.repository import TaskRepository
from videoloom.storage.webhooks import WebhookRepository

MIGRATIONS = Path(videoloom.storage.__file__).parent / "migrations"


def _upgrade_to(revision: str) -> object:
    def run(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    return run


@pytest.fixture
async def engine_at_0001(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_to("0001"))  # type: ignore[arg-type]
    yield engine
    await engine.dispose()


def _insert(task_id: str, status: str, updated: int) -> tuple[str, dict[str, object]]:
    return (
        "INSERT INTO tasks (id, tenant_id, kind, model, prompt, params, status, progress, created_at, "
        "status_update_time, enqueued_at, attempts, completed_at, video_key) VALUES (:id, 't1', 'generate', "
        "'grok-video-3', 'a red sunset', '{\"duration\": 2}', :status, :progress, :created, :updated, "
        ":enqueued, 1, :completed, :video_key)",
        {
            "id": task_id,
            "status": status,
            "progress": 100 if status == "completed" else 0,
            "created": updated - 10,
            "updated": updated,
            "enqueued": float(updated - 10),
            "completed": updated if status == "completed" else None,
            "video_key": "t1/x/video.mp4" if status == "completed" else None,
        },
    )


async def test_upgrade_from_0001_keeps_tasks_and_does_not_announce_history(
    engine_at_0001: AsyncEngine,
) -> None:
    engine = engine_at_0001
    now = int(time.time())
    done_id = "grok:00000000-0000-4000-8000-000000000001"
    queued_id = "grok:00000000-0000-4000-8000-000000000002"
    async with engine.begin() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert "webhook_endpoints" not in tables
        assert "announced_at" not in [
            c["name"] for c in await conn.run_sync(lambda c: inspect(c).get_columns("tasks"))
        ]
        for statement, values in (_insert(done_id, "completed", now - 60), _insert(queued_id, "queued", now)):
            await conn.execute(text(statement), values)

    await migrate(engine)  # 0001 → head

    async with engine.connect() as conn:
        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one() == head
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert {"webhook_endpoints", "webhook_deliveries", "idempotency_keys"} <= set(tables)
        rows = dict((await conn.execute(text("SELECT id, announced_at FROM tasks"))).all())
    # Finished before the upgrade: marked announced, so no event is sent for history.
    assert rows[done_id] == pytest.approx(now - 60) and rows[queued_id] is None

    tasks = TaskRepository(engine)
    done = await tasks.get("t1", done_id)
    assert done is not None and done.status is TaskStatus.COMPLETED
    assert done.prompt == "a red sunset" and done.params == {"duration": 2}
    assert done.video_key == "t1/x/video.mp4" and done.completed_at == now - 60 and done.progress == 100
    queued = await tasks.get("t1", queued_id)
    assert queued is not None and queued.status is TaskStatus.QUEUED

    # The queued task still runs, and its event is announced once it finishes.
    claimed = await tasks.claim(worker_id="w", models=None, now=time.time(), lease_seconds=30)
    assert claimed is not None and claimed.id == queued_id
    assert await tasks.complete(
        queued_id, "w", now=time.time(), expires_at=now + 3600, output={"duration": 1.0}
    )
    assert await WebhookRepository(engine).announce(now=time.time()) == (1, 0)

    await migrate(engine)  # running again at head changes nothing
