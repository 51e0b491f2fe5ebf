"""What every creating route shares: the per-key rate limit and ``Idempotency-Key``."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from videoloom.container import Container
from videoloom.core.idempotency import fingerprint
from videoloom.core.tasks import Task
from videoloom.storage.keys import ApiKey

__all__ = ["create_once"]


async def _canonical(value: Any) -> Any:
    """The body with uploaded files replaced by their SHA-256, so a retry matches."""
    if isinstance(value, UploadFile):
        digest = hashlib.sha256()
        while chunk := await value.read(1024 * 1024):
            digest.update(chunk)
        await value.seek(0)
        return {"file_sha256": digest.hexdigest()}
    if isinstance(value, dict):
        return {k: await _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [await _canonical(v) for v in value]
    return value


async def create_once(
    request: Request,
    caller: ApiKey,
    container: Container,
    body: Any,
    create: Callable[[], Awaitable[Task]],
) -> Task:
    await container.rate_limiter.admit(caller.name)
    key = request.headers.get("idempotency-key")
    print_ = fingerprint(request.url.path, await _canonical(body)) if key is not None else ""
    return await container.idempotency.run(
        caller.tenant_id,
        key,
        print_,
        create,
        lambda task_id: container.service.get(caller.tenant_id, task_id),
    )
