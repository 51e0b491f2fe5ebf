"""API keys at rest: lookups by hash, the short key cache, and its misses shared under load."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import event as sqlalchemy_event

from videoloom.storage.database import create_engine, migrate
from videoloom.storage.keys import ApiKeyRepository


async def test_concurrent_lookups_that_miss_share_one_query(tmp_path: Path) -> None:
    """100 pollers whose cached key expired at once make one query, not 100 (a stall each time)."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'k.db'}")
    await migrate(engine)
    keys = ApiKeyRepository(engine, cache_seconds=60)
    selects: list[str] = []
    try:
        record, plaintext = await keys.create(name="a", tenant_id="tenant-a")

        def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                selects.append(statement)

        sqlalchemy_event.listen(engine.sync_engine, "before_cursor_execute", count)
        found = await asyncio.gather(*(keys.authenticate(plaintext) for _ in range(100)))
        assert {k.id if k else None for k in found} == {record.id}
        assert len(selects) == 1
        assert await keys.authenticate(plaintext + "x") is None  # a wrong key is not the shared one
        assert len(selects) == 2
        await keys.revoke("a")
        assert await keys.authenticate(plaintext) is None
    finally:
        await engine.dispose()
