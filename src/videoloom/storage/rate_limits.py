"""The per-key rate limit of creating requests, shared by every API node through PostgreSQL.

``core.admission.RateLimiter`` counts in one process's memory: behind a load balancer
each of N nodes would allow the limit, N times it in all. Here every node counts in
one table: a row per admitted request, a sliding one-minute window per key, the
database's clock for every node (theirs may differ), and one key's checks run one
at a time across the cluster (a transaction-scoped advisory lock), so two nodes
never both admit the last request of a minute. Rows older than the window are
deleted by the next check of their key, so the table holds at most
``limit`` rows per key.
"""

from __future__ import annotations

from sqlalchemy import delete, func, insert, literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine

from videoloom.core.admission import WINDOW_S, rate_limited
from videoloom.storage.schema import rate_limit_hits

__all__ = ["SharedRateLimiter"]

LOCK_CLASS = 0x564C  # "VL": the first half of the advisory lock's key, so no other lock collides
_NOW = literal_column("extract(epoch from clock_timestamp())::float8")


class SharedRateLimiter:
    def __init__(self, engine: AsyncEngine, per_minute: int) -> None:
        self._engine = engine
        self._limit = per_minute

    async def admit(self, key: str) -> None:
        if self._limit <= 0:
            return
        hits = rate_limit_hits.c
        async with self._engine.begin() as conn:
            await conn.execute(select(func.pg_advisory_xact_lock(LOCK_CLASS, func.hashtext(key))))
            now = float((await conn.execute(select(_NOW))).scalar_one())
            await conn.execute(delete(rate_limit_hits).where(hits.key == key, hits.at <= now - WINDOW_S))
            count, oldest = (
                await conn.execute(select(func.count(), func.min(hits.at)).where(hits.key == key))
            ).one()
            if count >= self._limit:
                raise rate_limited(self._limit, oldest + WINDOW_S - now)
            await conn.execute(insert(rate_limit_hits).values(key=key, at=now))
