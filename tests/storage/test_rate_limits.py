"""The rate limit two API nodes share through PostgreSQL (``storage/rate_limits.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support import create_postgres_database
from videoloom.core.errors import RateLimited
from videoloom.storage.database import create_engine, migrate
from videoloom.storage.rate_limits import SharedRateLimiter
from videoloom.storage.schema import rate_limit_hits


@pytest.fixture
def database_url() -> str:
    return create_postgres_database()  # sync: it runs its own event loop


@pytest.fixture
async def nodes(database_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two API nodes: two engines (two connection pools) on one database."""
    first, second = create_engine(database_url), create_engine(database_url)
    await migrate(first)
    yield first, second
    await first.dispose()
    await second.dispose()


async def admitted(limiter: SharedRateLimiter, key: str) -> bool:
    try:
        await limiter.admit(key)
    except RateLimited:
        return False
    return True


async def test_two_nodes_share_one_limit_per_key(nodes: tuple[AsyncEngine, AsyncEngine]) -> None:
    a, b = SharedRateLimiter(nodes[0], 5), SharedRateLimiter(nodes[1], 5)
    assert [await admitted(a, "alice") for _ in range(3)] == [True] * 3
    assert [await admitted(b, "alice") for _ in range(2)] == [True] * 2
    for node in (a, b):
        with pytest.raises(RateLimited) as refused:
            await node.admit("alice")
        assert 55 <= refused.value.retry_after <= 60  # the oldest hit leaves the window then
    assert await admitted(b, "bob")  # each key has its own minute
    async with nodes[0].connect() as conn:  # refused requests are not counted
        count = (
            await conn.execute(text("SELECT count(*) FROM rate_limit_hits WHERE key = 'alice'"))
        ).scalar()
    assert count == 5


async def test_concurrent_requests_on_two_nodes_never_exceed_the_limit(
    nodes: tuple[AsyncEngine, AsyncEngine],
) -> None:
    a, b = SharedRateLimiter(nodes[0], 10), SharedRateLimiter(nodes[1], 10)
    results = await asyncio.gather(*(admitted(node, "carol") for node in (a, b) * 15))
    assert results.count(True) == 10 and results.count(False) == 20


async def test_hits_older_than_a_minute_stop_counting_and_are_deleted(
    nodes: tuple[AsyncEngine, AsyncEngine],
) -> None:
    limiter = SharedRateLimiter(nodes[0], 2)
    async with nodes[0].begin() as conn:
        now = (await conn.execute(text("SELECT extract(epoch from clock_timestamp())::float8"))).scalar_one()
        await conn.execute(insert(rate_limit_hits), [{"key": "dave", "at": now - 61}] * 2)
        await conn.execute(insert(rate_limit_hits), [{"key": "dave", "at": now - 30}])
    assert await admitted(limiter, "dave")  # the two old ones no longer count
    with pytest.raises(RateLimited) as refused:
        await limiter.admit("dave")
    assert 25 <= refused.value.retry_after <= 31
    async with nodes[0].connect() as conn:
        left = (await conn.execute(text("SELECT count(*) FROM rate_limit_hits WHERE key = 'dave'"))).scalar()
    assert left == 2


async def test_zero_turns_it_off(nodes: tuple[AsyncEngine, AsyncEngine]) -> None:
    limiter = SharedRateLimiter(nodes[0], 0)
    assert all([await admitted(limiter, "erin") for _ in range(50)])
