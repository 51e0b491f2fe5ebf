"""API keys: stored as SHA-256 hashes, each bound to one tenant."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from videoloom.core.errors import Conflict, NotFound
from videoloom.storage._single_flight import SingleFlight
from videoloom.storage.schema import api_keys

__all__ = ["ApiKey", "ApiKeyRepository", "hash_key"]

KEY_PREFIX = "vl-"


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    name: str
    id: int | None = None
    """The row's id: what tasks and usage rows record (the name may be reused after a delete)."""
    tenant_id: str
    key_prefix: str
    is_admin: bool
    created_at: int
    revoked_at: int | None


def _from_row(row: object) -> ApiKey:
    return ApiKey(
        id=row.id,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        tenant_id=row.tenant_id,  # type: ignore[attr-defined]
        key_prefix=row.key_prefix,  # type: ignore[attr-defined]
        is_admin=bool(row.is_admin),  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        revoked_at=row.revoked_at,  # type: ignore[attr-defined]
    )


class ApiKeyRepository:
    def __init__(self, engine: AsyncEngine, *, cache_seconds: float = 0.0) -> None:
        self._engine = engine
        # Known-good keys are remembered briefly: a status poll then costs one query, not two.
        # A revocation made by another process takes effect within ``cache_seconds``.
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[ApiKey, float]] = {}
        self._reading: SingleFlight[str, ApiKey | None] = SingleFlight()

    async def create(self, *, name: str, tenant_id: str, is_admin: bool = False) -> tuple[ApiKey, str]:
        """Returns the record and the plaintext key, which is never stored nor shown again."""
        plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
        now = int(time.time())
        try:
            async with self._engine.begin() as conn:
                inserted = await conn.execute(
                    api_keys.insert().values(
                        name=name,
                        tenant_id=tenant_id,
                        key_hash=hash_key(plaintext),
                        key_prefix=plaintext[:10],
                        is_admin=is_admin,
                        created_at=now,
                        revoked_at=None,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"an API key named {name!r} already exists", param="name") from exc
        record = ApiKey(
            id=inserted.inserted_primary_key[0] if inserted.inserted_primary_key else None,
            name=name,
            tenant_id=tenant_id,
            key_prefix=plaintext[:10],
            is_admin=is_admin,
            created_at=now,
            revoked_at=None,
        )
        return record, plaintext

    async def authenticate(self, plaintext: str) -> ApiKey | None:
        digest = hash_key(plaintext)
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        # Every poller's cached key expires at once: one of them reads, the others wait for it.
        return await self._reading.run(digest, lambda: self._read(digest, now))

    async def _read(self, digest: str, now: float) -> ApiKey | None:
        async with self._engine.connect() as conn:
            result = await conn.execute(
                select(api_keys).where(api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None))
            )
            row = result.first()
        key = _from_row(row) if row else None
        if key is not None and self._cache_seconds > 0:
            if len(self._cache) > 10_000:  # bounded: forget everything rather than grow
                self._cache.clear()
            self._cache[digest] = (key, now + self._cache_seconds)
        else:
            self._cache.pop(digest, None)
        return key

    async def list(self) -> list[ApiKey]:
        async with self._engine.connect() as conn:
            result = await conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id))
            return [_from_row(row) for row in result]

    async def revoke(self, name: str) -> ApiKey:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(api_keys)
                .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=int(time.time()))
                .returning(*api_keys.c)
            )
            row = result.first()
        if row is None:
            raise NotFound(f"no active API key named {name!r}", param="name")
        self._cache.clear()  # this process stops accepting it at once
        return _from_row(row)

    async def count(self) -> int:
        async with self._engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(api_keys))).scalar_one())
