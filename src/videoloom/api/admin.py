"""Admin routes: API keys over HTTP, for keys created with ``--admin`` only."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from videoloom.api.deps import CallerDep, ContainerDep
from videoloom.core.errors import PermissionDenied
from videoloom.storage.keys import ApiKey

__all__ = ["router"]


def require_admin(caller: CallerDep) -> ApiKey:
    if not caller.is_admin:
        raise PermissionDenied("this action needs an admin API key")
    return caller


AdminDep = Annotated[ApiKey, Depends(require_admin)]

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class AdminKey(BaseModel):
    object: Literal["api_key"] = "api_key"
    name: str
    tenant_id: str
    key_prefix: str
    is_admin: bool
    created_at: int
    revoked_at: int | None


class AdminKeyCreateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    tenant_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    is_admin: bool = Field(default=False, strict=True)  # granting admin takes a real true, not 1 or "yes"


class AdminKeyWithSecret(AdminKey):
    key: str
    """The key itself: shown once, never stored."""


class AdminKeyList(BaseModel):
    object: Literal["list"] = "list"
    data: list[AdminKey]


def _wire(key: ApiKey) -> AdminKey:
    return AdminKey(
        name=key.name,
        tenant_id=key.tenant_id,
        key_prefix=key.key_prefix,
        is_admin=key.is_admin,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


@router.get("/keys", response_model=AdminKeyList)
async def list_keys(_: AdminDep, container: ContainerDep) -> AdminKeyList:
    return AdminKeyList(data=[_wire(k) for k in await container.keys.list()])


@router.post("/keys", response_model=AdminKeyWithSecret)
async def create_key(body: AdminKeyCreateParams, _: AdminDep, container: ContainerDep) -> AdminKeyWithSecret:
    record, plaintext = await container.keys.create(
        name=body.name, tenant_id=body.tenant_id or body.name, is_admin=body.is_admin
    )
    return AdminKeyWithSecret(**_wire(record).model_dump(), key=plaintext)


@router.delete("/keys/{name}", response_model=AdminKey)
async def revoke_key(name: str, _: AdminDep, container: ContainerDep) -> AdminKey:
    return _wire(await container.keys.revoke(name))
