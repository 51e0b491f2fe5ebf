"""FastAPI dependencies: the container's parts and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from videoloom.container import Container
from videoloom.core.errors import AuthenticationFailed
from videoloom.core.service import TaskService
from videoloom.storage.keys import ApiKey

__all__ = ["CallerDep", "ContainerDep", "ServiceDep", "authenticate", "bearer_token", "parse_bearer"]


async def get_container(request: Request) -> Container:
    # async: FastAPI runs plain ``def`` dependencies in its thread pool, a thread hop per request.
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_service(container: ContainerDep) -> TaskService:
    return container.service


ServiceDep = Annotated[TaskService, Depends(get_service)]


def bearer_token(request: Request) -> str | None:
    return parse_bearer(request.headers.get("authorization"))


def parse_bearer(header: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header; None without one; malformed → 401."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("the Authorization header must be 'Bearer <API key>'")
    return token.strip()


async def authenticate(request: Request, container: ContainerDep) -> ApiKey:
    token = bearer_token(request)
    if token is None:
        raise AuthenticationFailed("missing API key: send 'Authorization: Bearer <API key>'")
    key = await container.keys.authenticate(token)
    if key is None:
        raise AuthenticationFailed("invalid or revoked API key")
    return key


CallerDep = Annotated[ApiKey, Depends(authenticate)]
