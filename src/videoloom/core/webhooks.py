"""Webhooks: event vocabulary, endpoint and delivery records, Standard Webhooks signing.

Pure: no I/O, no database, no HTTP. The outbox (``storage.webhooks``) stores what is
built here; the dispatcher (``worker.webhooks``) signs and sends it.

A delivery moves through::

    pending ──2xx──▶ delivered
      │  ▲
      │  └── non-2xx, redirect, timeout, refused address: retried after
      │      exponential backoff with full jitter
      └──── still failing once the event is ``max_age`` old ──▶ failed

Signatures follow Standard Webhooks, as OpenAI sends them and as the OpenAI SDK's
``client.webhooks.unwrap()`` / ``verify_signature()`` check them:

- ``webhook-id``: the delivery's id; the same on every retry of that delivery.
- ``webhook-timestamp``: Unix seconds when this attempt was sent; fresh on each retry.
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``; while a
  rotated-out secret is in its overlap window (:data:`ROTATION_OVERLAP_SECONDS`) one
  signature per secret, separated by a space. A receiver accepts when any one matches.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import random
import secrets as _secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from videoloom.core.errors import InvalidRequest

__all__ = [
    "EVENT_TYPES",
    "MAX_BACKOFF_SECONDS",
    "ROTATION_OVERLAP_SECONDS",
    "SECRET_PREFIX",
    "TEST_VIDEO_ID",
    "Delivery",
    "DeliveryStatus",
    "OperatorEndpoint",
    "WebhookEndpoint",
    "WebhookEventType",
    "decode_secret",
    "event_payload",
    "event_type_for_status",
    "new_delivery_id",
    "new_endpoint_id",
    "new_event_id",
    "new_secret",
    "operator_endpoint_id",
    "retry_delay",
    "secret_hint",
    "sign",
    "signature_headers",
    "validate_event_types",
    "validate_secret",
]

WebhookEventType = Literal["video.completed", "video.failed"]
"""The events Videoloom sends: a video task finished with a result, or failed for good."""

EVENT_TYPES: tuple[str, ...] = get_args(WebhookEventType)

SECRET_PREFIX = "whsec_"

ROTATION_OVERLAP_SECONDS = 24 * 3600
"""How long a rotated-out secret keeps signing when the rotation asked to keep it
(``keep_old_secret_active_for_24_hours``): deliveries carry both signatures meanwhile."""

MAX_BACKOFF_SECONDS = 3600.0
"""Ceiling of the exponential backoff between two attempts (before jitter)."""

TEST_VIDEO_ID = "video_test_00000000000000000000"
"""``data.id`` of the sample events sent by ``POST /v1/webhook_endpoints/{id}/test``."""

_TASK_STATUS_EVENTS: dict[str, WebhookEventType] = {
    "completed": "video.completed",
    "failed": "video.failed",
}


# --- ids and secrets -------------------------------------------------------------------------


def _sortable_id(prefix: str) -> str:
    """``<prefix>`` + 12 hex digits of milliseconds + 16 random hex digits: newer ids sort later."""
    return f"{prefix}{time.time_ns() // 1_000_000:012x}{_secrets.token_hex(8)}"


def new_endpoint_id() -> str:
    return _sortable_id("whe_")


def new_event_id() -> str:
    return _sortable_id("evt_")


def new_delivery_id() -> str:
    """The ``webhook-id`` of one event sent to one endpoint."""
    return _sortable_id("msg_")


def operator_endpoint_id(url: str) -> str:
    """Stable id of an operator endpoint from the settings, derived from its URL."""
    return "operator_" + hashlib.sha256(url.encode()).hexdigest()[:24]


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes, the form the OpenAI SDK decodes."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(32)).decode("ascii")


def decode_secret(secret: str) -> bytes:
    """The HMAC key, decoded exactly as the OpenAI SDK decodes it.

    ``whsec_<base64>`` gives the decoded bytes; any other string is used as its UTF-8 bytes.
    """
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    return secret.encode()


def validate_secret(secret: str) -> None:
    """Raise ``ValueError`` for an empty secret or a ``whsec_`` one that is not base64."""
    if not secret:
        raise ValueError("the webhook secret is empty")
    try:
        key = decode_secret(secret)
    except ValueError:
        raise ValueError("a whsec_ secret must be followed by base64") from None
    if not key:
        raise ValueError("the webhook secret is empty")


def secret_hint(secret: str) -> str:
    """A masked form that identifies a secret without revealing it: ``whsec_****wxyz``.

    The 4 characters are the last ones before any base64 padding.
    """
    return f"{SECRET_PREFIX}****{secret.rstrip('=')[-4:]}"


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WebhookEndpoint:
    """A tenant's receiver of events, as stored."""

    id: str
    """``whe_…``; sorts by creation time."""
    tenant_id: str
    name: str
    url: str
    """http(s) URL the events are POSTed to."""
    event_types: tuple[str, ...]
    secret: str
    """The current signing secret (``whsec_…``)."""
    previous_secret: str | None = None
    """The rotated-out secret, still signing until ``previous_secret_expires_at``."""
    previous_secret_expires_at: int | None = None
    """Unix timestamp (seconds) at which ``previous_secret`` stops signing."""
    created_at: int
    """Unix timestamp (seconds)."""
    updated_at: int
    """Unix timestamp (seconds) of the last configuration or secret change."""

    def signing_secrets(self, now: float) -> list[str]:
        """Secrets a delivery sent at ``now`` is signed with, current first."""
        active = [self.secret]
        if (
            self.previous_secret
            and self.previous_secret_expires_at is not None
            and now < self.previous_secret_expires_at
        ):
            active.append(self.previous_secret)
        return active

    @property
    def signing_secret_hint(self) -> str:
        return secret_hint(self.secret)


@dataclass(frozen=True, kw_only=True)
class OperatorEndpoint:
    """An endpoint from the settings that receives the events of every tenant."""

    id: str
    """``operator_…``, see :func:`operator_endpoint_id`."""
    url: str
    secret: str
    event_types: tuple[str, ...]


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    """Waiting for its (next) attempt at ``next_attempt_at``."""
    DELIVERED = "delivered"
    """The endpoint answered 2xx."""
    FAILED = "failed"
    """Given up: the event grew older than the maximum age, or its endpoint is gone."""


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One event for one endpoint: a row of the outbox."""

    id: str
    """``msg_…``, sent as ``webhook-id``; the same on every retry."""
    endpoint_id: str
    tenant_id: str
    """The tenant whose task the event is about."""
    task_id: str | None
    event_id: str
    event_type: str
    payload: str
    """The exact JSON body, built once; every attempt sends these bytes."""
    event_created_at: int
    """Unix timestamp (seconds) of the event (the task's finish)."""
    status: DeliveryStatus
    attempts: int
    """Attempts started so far, including one in flight."""
    next_attempt_at: float
    """Unix time of the next attempt; while one is in flight, the end of its lease."""
    last_error: str | None = None
    last_status_code: int | None = None
    created_at: int
    updated_at: int
    delivered_at: int | None = None


# --- events ----------------------------------------------------------------------------------


def event_type_for_status(status: str) -> WebhookEventType | None:
    """The event a task's terminal status announces; ``None`` when it announces nothing."""
    return _TASK_STATUS_EVENTS.get(status)


def event_payload(*, event_id: str, event_type: str, created_at: int, video_id: str) -> str:
    """The body OpenAI sends for video events, compact JSON."""
    event = {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created_at": created_at,
        "data": {"id": video_id},
    }
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def validate_event_types(values: Iterable[str], *, param: str = "event_types") -> tuple[str, ...]:
    """Known, deduplicated event types in their given order; at least one."""
    seen: list[str] = []
    for value in values:
        if value not in EVENT_TYPES:
            raise InvalidRequest(
                f"unsupported event type {value!r}; supported: {', '.join(EVENT_TYPES)}",
                param=param,
                code="unsupported_event_type",
            )
        if value not in seen:
            seen.append(value)
    if not seen:
        raise InvalidRequest(f"{param} must name at least one event type", param=param)
    return tuple(seen)


# --- signing ---------------------------------------------------------------------------------


def sign(payload: bytes, *, webhook_id: str, timestamp: int, secrets: Sequence[str]) -> str:
    """The ``webhook-signature`` value: ``v1,<base64>`` per secret, space-separated."""
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    message = f"{webhook_id}.{timestamp}.".encode() + payload
    return " ".join(
        "v1," + base64.b64encode(hmac.new(decode_secret(s), message, hashlib.sha256).digest()).decode()
        for s in secrets
    )


def signature_headers(
    payload: bytes, *, webhook_id: str, timestamp: int, secrets: Sequence[str]
) -> dict[str, str]:
    """Every header of one attempt; ``timestamp`` must be the attempt's own send time."""
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(payload, webhook_id=webhook_id, timestamp=timestamp, secrets=secrets),
    }


# --- retries ---------------------------------------------------------------------------------


def retry_delay(
    attempts: int,
    *,
    initial: float,
    cap: float = MAX_BACKOFF_SECONDS,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: full jitter.

    Uniform in ``[0, min(cap, initial · 2^(attempts−1))]``, so endpoints recovering from an
    outage are not hit by every waiting delivery at the same instant.
    """
    ceiling = min(cap, initial * 2.0 ** max(0, min(attempts - 1, 60)))
    return rand() * ceiling
