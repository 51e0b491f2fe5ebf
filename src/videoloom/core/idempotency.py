"""``Idempotency-Key``: the same key and body within 24 h returns the same task; another body is a 409."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from videoloom.core.errors import Conflict, InvalidRequest
from videoloom.core.tasks import Task

__all__ = ["IDEMPOTENCY_TTL_S", "Idempotency", "fingerprint"]

IDEMPOTENCY_TTL_S = 24 * 3600


class Record(Protocol):
    fingerprint: str
    task_id: str | None


class IdempotencyStore(Protocol):
    async def reserve(
        self, tenant_id: str, key: str, fingerprint: str, *, now: float, ttl: float
    ) -> Record | None: ...
    async def attach(self, tenant_id: str, key: str, task_id: str) -> None: ...
    async def release(self, tenant_id: str, key: str) -> None: ...


def fingerprint(route: str, body: Any) -> str:
    """SHA-256 of the route and the body in canonical JSON (files enter as their own hashes)."""
    canonical = json.dumps([route, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Idempotency:
    def __init__(self, store: IdempotencyStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    async def run(
        self,
        tenant_id: str,
        key: str | None,
        print_: str,
        create: Callable[[], Awaitable[Task]],
        load: Callable[[str], Awaitable[Task]],
    ) -> Task:
        if key is None:
            return await create()
        if not 1 <= len(key) <= 255 or not key.isprintable():
            raise InvalidRequest(
                "Idempotency-Key must be 1–255 printable characters", param="Idempotency-Key"
            )
        earlier = await self._store.reserve(tenant_id, key, print_, now=self._clock(), ttl=IDEMPOTENCY_TTL_S)
        if earlier is not None:
            if earlier.fingerprint != print_:
                raise Conflict(
                    "this Idempotency-Key was used with a different request body",
                    param="Idempotency-Key",
                    code="idempotency_key_reused",
                )
            if earlier.task_id is None:
                raise Conflict(
                    "a request with this Idempotency-Key is still being processed; retry shortly",
                    param="Idempotency-Key",
                    code="idempotency_key_in_use",
                )
            return await load(earlier.task_id)
        try:
            task = await create()
        except BaseException:
            await self._store.release(tenant_id, key)
            raise
        await self._store.attach(tenant_id, key, task.id)
        return task
