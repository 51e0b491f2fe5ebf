"""Idempotency keys: one row per (tenant, key), reserved before the task is created."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from videoloom.storage.schema import idempotency_keys

__all__ = ["IdempotencyRecord", "IdempotencyRepository"]


@dataclass(frozen=True, kw_only=True)
class IdempotencyRecord:
    fingerprint: str
    task_id: str | None
    """None while the first request with this key is still being handled."""


class IdempotencyRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def reserve(
        self, tenant_id: str, key: str, fingerprint: str, *, now: float, ttl: float
    ) -> IdempotencyRecord | None:
        """Claim the key; None means it is ours now, otherwise the earlier request's record."""
        async with self._engine.begin() as conn:
            # An expired key is free again.
            await conn.execute(
                delete(idempotency_keys).where(
                    idempotency_keys.c.tenant_id == tenant_id,
                    idempotency_keys.c.key == key,
                    idempotency_keys.c.created_at < now - ttl,
                )
            )
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    idempotency_keys.insert().values(
                        tenant_id=tenant_id, key=key, fingerprint=fingerprint, task_id=None, created_at=now
                    )
                )
            return None
        except IntegrityError:
            async with self._engine.connect() as conn:
                row = (
                    await conn.execute(
                        select(idempotency_keys.c.fingerprint, idempotency_keys.c.task_id).where(
                            idempotency_keys.c.tenant_id == tenant_id, idempotency_keys.c.key == key
                        )
                    )
                ).first()
            if row is None:  # released between our insert and read: treat as in flight
                return IdempotencyRecord(fingerprint=fingerprint, task_id=None)
            return IdempotencyRecord(fingerprint=row.fingerprint, task_id=row.task_id)

    async def attach(self, tenant_id: str, key: str, task_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(idempotency_keys)
                .where(idempotency_keys.c.tenant_id == tenant_id, idempotency_keys.c.key == key)
                .values(task_id=task_id)
            )

    async def release(self, tenant_id: str, key: str) -> None:
        """The request failed before creating anything: the key may be used again."""
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(idempotency_keys).where(
                    idempotency_keys.c.tenant_id == tenant_id, idempotency_keys.c.key == key
                )
            )
