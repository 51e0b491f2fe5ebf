"""The OpenAI webhooks dialect: ``/v1/webhook_endpoints`` as ``client.webhooks`` calls it.

Thin by design: wire shape → :class:`WebhookService` call, endpoint record → wire shape.
Every route is scoped to the caller's tenant.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from videoloom.api.deps import CallerDep, ContainerDep
from videoloom.api.openai_webhook_types import (
    DeletedWebhookEndpoint,
    WebhookCreateParams,
    WebhookEndpoint,
    WebhookEndpointList,
    WebhookEndpointTestResult,
    WebhookEndpointWithSecret,
    WebhookEventTypeList,
    WebhookRotateSecretParams,
    WebhookTestParams,
    WebhookUpdateParams,
)
from videoloom.core import webhooks as core
from videoloom.core.webhook_service import WebhookService

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["webhooks"])


def _service(container: ContainerDep) -> WebhookService:
    return container.webhook_service


WebhookServiceDep = Annotated[WebhookService, Depends(_service)]


def _endpoint(endpoint: core.WebhookEndpoint) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=endpoint.id,
        created_at=endpoint.created_at,
        event_types=list(endpoint.event_types),
        name=endpoint.name,
        signing_secret_hint=endpoint.signing_secret_hint,
        url=endpoint.url,
        updated_at=endpoint.updated_at,
    )


def _with_secret(endpoint: core.WebhookEndpoint) -> WebhookEndpointWithSecret:
    return WebhookEndpointWithSecret(**_endpoint(endpoint).model_dump(), signing_secret=endpoint.secret)


@router.post("/webhook_endpoints", response_model=WebhookEndpointWithSecret)
async def create_webhook_endpoint(
    body: WebhookCreateParams, caller: CallerDep, service: WebhookServiceDep
) -> WebhookEndpointWithSecret:
    endpoint = await service.create(
        caller.tenant_id, name=body.name, url=body.url, event_types=body.event_types
    )
    return _with_secret(endpoint)


@router.get("/webhook_endpoints", response_model=WebhookEndpointList)
async def list_webhook_endpoints(
    caller: CallerDep,
    service: WebhookServiceDep,
    after: Annotated[str | None, Query(description="Last id of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size; default 20.")] = 20,
) -> WebhookEndpointList:
    endpoints, has_more = await service.list_page(caller.tenant_id, after=after, limit=limit)
    data = [_endpoint(endpoint) for endpoint in endpoints]
    return WebhookEndpointList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=has_more,
    )


@router.get("/webhook_endpoints/{webhook_endpoint_id}", response_model=WebhookEndpoint)
async def retrieve_webhook_endpoint(
    webhook_endpoint_id: str, caller: CallerDep, service: WebhookServiceDep
) -> WebhookEndpoint:
    return _endpoint(await service.get(caller.tenant_id, webhook_endpoint_id))


@router.post("/webhook_endpoints/{webhook_endpoint_id}", response_model=WebhookEndpoint)
async def update_webhook_endpoint(
    webhook_endpoint_id: str, body: WebhookUpdateParams, caller: CallerDep, service: WebhookServiceDep
) -> WebhookEndpoint:
    endpoint = await service.update(
        caller.tenant_id,
        webhook_endpoint_id,
        name=body.name,
        url=body.url,
        event_types=body.event_types,
    )
    return _endpoint(endpoint)


@router.delete("/webhook_endpoints/{webhook_endpoint_id}", response_model=DeletedWebhookEndpoint)
async def delete_webhook_endpoint(
    webhook_endpoint_id: str, caller: CallerDep, service: WebhookServiceDep
) -> DeletedWebhookEndpoint:
    await service.delete(caller.tenant_id, webhook_endpoint_id)
    return DeletedWebhookEndpoint(id=webhook_endpoint_id)


@router.post(
    "/webhook_endpoints/{webhook_endpoint_id}/rotate_secret", response_model=WebhookEndpointWithSecret
)
async def rotate_webhook_secret(
    webhook_endpoint_id: str,
    caller: CallerDep,
    service: WebhookServiceDep,
    body: WebhookRotateSecretParams | None = None,
) -> WebhookEndpointWithSecret:
    keep_old = body.keep_old_secret_active_for_24_hours if body is not None else False
    endpoint = await service.rotate_secret(caller.tenant_id, webhook_endpoint_id, keep_old=keep_old)
    return _with_secret(endpoint)


@router.post("/webhook_endpoints/{webhook_endpoint_id}/test", response_model=WebhookEndpointTestResult)
async def test_webhook_endpoint(
    webhook_endpoint_id: str, body: WebhookTestParams, caller: CallerDep, service: WebhookServiceDep
) -> WebhookEndpointTestResult:
    status_code = await service.test(caller.tenant_id, webhook_endpoint_id, event_type=body.event_type)
    return WebhookEndpointTestResult(
        event_type=body.event_type, status_code=status_code, webhook_endpoint_id=webhook_endpoint_id
    )


@router.get("/webhook_event_types", response_model=WebhookEventTypeList)
async def list_webhook_event_types(caller: CallerDep) -> WebhookEventTypeList:
    return WebhookEventTypeList(data=list(core.EVENT_TYPES))
