"""WebhookService: tenants manage their webhook endpoints, whatever the dialect.

It validates (name, URL against the address policy, event types), creates secrets,
and keeps every lookup inside the caller's tenant: another tenant's endpoint id
answers exactly like an unknown one (404).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from videoloom.core.errors import FetchError, InvalidRequest, NotFound
from videoloom.core.webhooks import (
    EVENT_TYPES,
    ROTATION_OVERLAP_SECONDS,
    WebhookEndpoint,
    new_endpoint_id,
    new_secret,
    validate_event_types,
)
from videoloom.net import AddressPolicy, validate_url

__all__ = ["MAX_ENDPOINTS_PER_TENANT", "MAX_URL_LENGTH", "WebhookService"]

MAX_ENDPOINTS_PER_TENANT = 50
MAX_NAME_LENGTH = 256
MAX_URL_LENGTH = 2048


class WebhookStore(Protocol):
    async def insert_endpoint(self, endpoint: WebhookEndpoint) -> None: ...
    async def get_endpoint(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None: ...
    async def count_endpoints(self, tenant_id: str) -> int: ...
    async def list_endpoints(
        self, tenant_id: str, *, after: str | None, limit: int
    ) -> tuple[list[WebhookEndpoint], bool]: ...
    async def update_endpoint(
        self, tenant_id: str, endpoint_id: str, *, now: int, **changes: Any
    ) -> WebhookEndpoint | None: ...
    async def rotate_secret(
        self, tenant_id: str, endpoint_id: str, *, secret: str, keep_previous_until: int | None, now: int
    ) -> WebhookEndpoint | None: ...
    async def delete_endpoint(self, tenant_id: str, endpoint_id: str) -> bool: ...


SendTest = Callable[[WebhookEndpoint, str], Awaitable[int]]
"""(endpoint, event type) → the status code the endpoint answered a sample event with."""


class WebhookService:
    def __init__(self, *, store: WebhookStore, address_policy: AddressPolicy, send_test: SendTest) -> None:
        self._store = store
        self._policy = address_policy
        self._send_test = send_test

    # --- validation ------------------------------------------------------------------

    def _name(self, name: str) -> str:
        name = name.strip()
        if not name:
            raise InvalidRequest("name must not be empty", param="name")
        if len(name) > MAX_NAME_LENGTH:
            raise InvalidRequest(f"name is longer than {MAX_NAME_LENGTH} characters", param="name")
        return name

    def _url(self, url: str) -> str:
        url = url.strip()
        if len(url) > MAX_URL_LENGTH:
            raise InvalidRequest(f"url is longer than {MAX_URL_LENGTH} characters", param="url")
        try:
            validate_url(url, policy=self._policy)
        except FetchError as exc:
            raise InvalidRequest(f"url: {exc.message}", param="url", code=exc.code) from None
        return url

    # --- operations ------------------------------------------------------------------

    async def create(
        self, tenant_id: str, *, name: str, url: str, event_types: Sequence[str]
    ) -> WebhookEndpoint:
        """The new endpoint, with its secret (shown to the caller this once)."""
        endpoint = WebhookEndpoint(
            id=new_endpoint_id(),
            tenant_id=tenant_id,
            name=self._name(name),
            url=self._url(url),
            event_types=validate_event_types(event_types),
            secret=new_secret(),
            created_at=(now := int(time.time())),
            updated_at=now,
        )
        if await self._store.count_endpoints(tenant_id) >= MAX_ENDPOINTS_PER_TENANT:
            raise InvalidRequest(
                f"a project may have at most {MAX_ENDPOINTS_PER_TENANT} webhook endpoints",
                code="too_many_endpoints",
            )
        await self._store.insert_endpoint(endpoint)
        return endpoint

    async def get(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
        endpoint = await self._store.get_endpoint(tenant_id, endpoint_id)
        if endpoint is None:
            raise NotFound(f"no webhook endpoint with id {endpoint_id!r}", param="webhook_endpoint_id")
        return endpoint

    async def list_page(
        self, tenant_id: str, *, after: str | None, limit: int
    ) -> tuple[list[WebhookEndpoint], bool]:
        """Newest first; ``after`` is the last id of the previous page."""
        return await self._store.list_endpoints(tenant_id, after=after, limit=limit)

    async def update(
        self,
        tenant_id: str,
        endpoint_id: str,
        *,
        name: str | None = None,
        url: str | None = None,
        event_types: Sequence[str] | None = None,
    ) -> WebhookEndpoint:
        """Change what is given; ``updated_at`` moves only when something really changes."""
        current = await self.get(tenant_id, endpoint_id)
        changes: dict[str, Any] = {}
        if name is not None and (value := self._name(name)) != current.name:
            changes["name"] = value
        if url is not None and (value := self._url(url)) != current.url:
            changes["url"] = value
        if event_types is not None:
            types = validate_event_types(event_types)
            if types != current.event_types:
                changes["event_types"] = types
        if not changes:
            return current
        updated = await self._store.update_endpoint(tenant_id, endpoint_id, now=int(time.time()), **changes)
        if updated is None:  # deleted meanwhile
            raise NotFound(f"no webhook endpoint with id {endpoint_id!r}", param="webhook_endpoint_id")
        return updated

    async def delete(self, tenant_id: str, endpoint_id: str) -> None:
        """Also drops the endpoint's queued deliveries."""
        if not await self._store.delete_endpoint(tenant_id, endpoint_id):
            raise NotFound(f"no webhook endpoint with id {endpoint_id!r}", param="webhook_endpoint_id")

    async def rotate_secret(self, tenant_id: str, endpoint_id: str, *, keep_old: bool) -> WebhookEndpoint:
        """A new secret; with ``keep_old`` the old one also signs for ROTATION_OVERLAP_SECONDS."""
        now = int(time.time())
        rotated = await self._store.rotate_secret(
            tenant_id,
            endpoint_id,
            secret=new_secret(),
            keep_previous_until=now + ROTATION_OVERLAP_SECONDS if keep_old else None,
            now=now,
        )
        if rotated is None:
            raise NotFound(f"no webhook endpoint with id {endpoint_id!r}", param="webhook_endpoint_id")
        return rotated

    async def test(self, tenant_id: str, endpoint_id: str, *, event_type: str) -> int:
        """Send a sample event now; the endpoint's status code (any, 2xx or not)."""
        if event_type not in EVENT_TYPES:
            raise InvalidRequest(
                f"unsupported event type {event_type!r}; supported: {', '.join(EVENT_TYPES)}",
                param="event_type",
                code="unsupported_event_type",
            )
        endpoint = await self.get(tenant_id, endpoint_id)
        return await self._send_test(endpoint, event_type)
