"""Wire shapes of ``/v1/webhook_endpoints``, as the OpenAI SDK's ``types/webhooks`` has them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

__all__ = [
    "DeletedWebhookEndpoint",
    "WebhookCreateParams",
    "WebhookEndpoint",
    "WebhookEndpointList",
    "WebhookEndpointTestResult",
    "WebhookEndpointWithSecret",
    "WebhookEventTypeList",
    "WebhookRotateSecretParams",
    "WebhookTestParams",
    "WebhookUpdateParams",
]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookCreateParams(_Params):
    """Body of ``POST /v1/webhook_endpoints``."""

    name: StrictStr
    """A human-readable name for the webhook endpoint."""
    url: StrictStr
    """The http(s) URL that receives webhook deliveries."""
    event_types: list[StrictStr]
    """The event types that trigger deliveries: ``video.completed``, ``video.failed``."""


class WebhookUpdateParams(_Params):
    """Body of ``POST /v1/webhook_endpoints/{id}``; omitted fields stay as they are."""

    name: StrictStr | None = None
    url: StrictStr | None = None
    event_types: list[StrictStr] | None = None
    """The complete new set of event types."""


class WebhookRotateSecretParams(_Params):
    """Body of ``POST /v1/webhook_endpoints/{id}/rotate_secret`` (optional)."""

    keep_old_secret_active_for_24_hours: StrictBool = False
    """Keep signing with the previous secret too for 24 hours; default: drop it at once."""


class WebhookTestParams(_Params):
    """Body of ``POST /v1/webhook_endpoints/{id}/test``."""

    event_type: StrictStr
    """The event type of the sample delivery."""


class WebhookEndpoint(BaseModel):
    id: str
    """The unique ID of the webhook endpoint (``whe_…``)."""
    created_at: int
    """Unix timestamp (seconds) when the endpoint was created."""
    event_types: list[str]
    """The event types that trigger deliveries to this endpoint."""
    name: str
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    signing_secret_hint: str | None = None
    """A masked hint: ``whsec_****`` + the last 4 characters of the secret before its padding."""
    url: str
    updated_at: int | None = None
    """Unix timestamp (seconds) of the last configuration or signing-secret change."""


class WebhookEndpointWithSecret(WebhookEndpoint):
    """Answer to create and rotate_secret: the only answers that carry the secret."""

    signing_secret: str
    """``whsec_`` + base64 of 32 random bytes; pass it to ``client.webhooks.unwrap``."""


class WebhookEndpointList(BaseModel):
    """One page, newest first; the next page is ``?after=<last_id>``."""

    object: Literal["list"] = "list"
    data: list[WebhookEndpoint]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool


class DeletedWebhookEndpoint(BaseModel):
    id: str
    deleted: bool = True
    object: Literal["webhook_endpoint.deleted"] = "webhook_endpoint.deleted"


class WebhookEndpointTestResult(BaseModel):
    event_type: str
    object: Literal["webhook_endpoint.test"] = "webhook_endpoint.test"
    status_code: int
    """The HTTP status code the endpoint answered the sample event with."""
    success: Literal[True] = True
    """Always true for a returned result (the request completed); see ``status_code``."""
    webhook_endpoint_id: str


class WebhookEventTypeList(BaseModel):
    object: Literal["list"] = "list"
    data: list[str] = Field(default_factory=list)
    """The event types this server sends."""
