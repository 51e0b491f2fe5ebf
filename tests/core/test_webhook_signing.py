"""Signing as the official OpenAI SDK verifies it: ``client.webhooks.unwrap`` / ``verify_signature``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import openai
import pytest
from openai import InvalidWebhookSignatureError

from videoloom.core.errors import InvalidRequest
from videoloom.core.webhooks import (
    EVENT_TYPES,
    WebhookEndpoint,
    decode_secret,
    event_payload,
    new_secret,
    retry_delay,
    secret_hint,
    sign,
    signature_headers,
    validate_event_types,
)


def _client(secret: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(api_key="x", webhook_secret=secret, base_url="http://127.0.0.1:9/v1")


def _event(event_type: str = "video.completed") -> bytes:
    return event_payload(
        event_id="evt_123", event_type=event_type, created_at=int(time.time()), video_id="grok:abc"
    ).encode()


def _headers(body: bytes, *secrets: str, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return signature_headers(body, webhook_id="msg_1", timestamp=ts, secrets=list(secrets))


def test_secret_format_is_whsec_and_32_random_bytes() -> None:
    a, b = new_secret(), new_secret()
    assert a.startswith("whsec_") and a != b
    assert len(base64.b64decode(a[len("whsec_") :])) == 32
    assert decode_secret(a) == base64.b64decode(a[6:])
    assert secret_hint(a) == "whsec_****" + a.rstrip("=")[-4:] and a[6:-4] not in secret_hint(a)


def test_the_sdk_accepts_a_signed_event_and_unwraps_it() -> None:
    secret = new_secret()
    body = _event()
    headers = _headers(body, secret)
    assert set(headers) >= {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,") and " " not in headers["webhook-signature"]
    client = _client(secret)
    client.webhooks.verify_signature(body, headers)
    event = client.webhooks.unwrap(body, headers)
    # 3.51's UnwrapWebhookEvent union has no video events: unwrap builds a stand-in model
    # without validation, keeping every field, so type and data.id read as sent.
    assert event.type == "video.completed"
    assert event.id == "evt_123" and event.data.id == "grok:abc" and event.object == "event"
    assert json.loads(body) == {
        "id": "evt_123",
        "object": "event",
        "type": "video.completed",
        "created_at": event.created_at,
        "data": {"id": "grok:abc"},
    }


def test_the_sdk_also_accepts_a_string_body_and_video_failed() -> None:
    secret = new_secret()
    body = _event("video.failed")
    event = _client().webhooks.unwrap(body.decode(), _headers(body, secret), secret=secret)
    assert event.type == "video.failed"


def test_a_tampered_body_is_rejected() -> None:
    secret = new_secret()
    body = _event()
    headers = _headers(body, secret)
    tampered = body.replace(b"grok:abc", b"grok:abd")
    with pytest.raises(InvalidWebhookSignatureError):
        _client(secret).webhooks.unwrap(tampered, headers)


def test_a_changed_webhook_id_is_rejected() -> None:
    secret = new_secret()
    body = _event()
    headers = {**_headers(body, secret), "webhook-id": "msg_2"}
    with pytest.raises(InvalidWebhookSignatureError):
        _client(secret).webhooks.verify_signature(body, headers)


def test_an_old_timestamp_is_rejected() -> None:
    secret = new_secret()
    body = _event()
    headers = _headers(body, secret, timestamp=int(time.time()) - 3600)
    with pytest.raises(InvalidWebhookSignatureError, match="too old"):
        _client(secret).webhooks.unwrap(body, headers)


def test_a_wrong_secret_is_rejected() -> None:
    body = _event()
    headers = _headers(body, new_secret())
    with pytest.raises(InvalidWebhookSignatureError):
        _client(new_secret()).webhooks.unwrap(body, headers)


def test_rotation_signs_with_both_secrets_and_each_verifies() -> None:
    old, new = new_secret(), new_secret()
    body = _event()
    headers = _headers(body, new, old)
    parts = headers["webhook-signature"].split(" ")
    assert len(parts) == 2 and all(p.startswith("v1,") for p in parts)
    for secret in (old, new):
        assert _client(secret).webhooks.unwrap(body, headers).type == "video.completed"
    with pytest.raises(InvalidWebhookSignatureError):
        _client(new_secret()).webhooks.unwrap(body, headers)


def test_endpoint_signs_with_the_previous_secret_only_inside_its_window() -> None:
    now = int(time.time())
    endpoint = WebhookEndpoint(
        id="whe_1",
        tenant_id="t",
        name="n",
        url="https://example.com/hook",
        event_types=EVENT_TYPES,
        secret="whsec_bmV3",
        previous_secret="whsec_b2xk",
        previous_secret_expires_at=now + 10,
        created_at=now,
        updated_at=now,
    )
    assert endpoint.signing_secrets(now) == ["whsec_bmV3", "whsec_b2xk"]
    assert endpoint.signing_secrets(now + 10) == ["whsec_bmV3"]


def test_signature_matches_the_standard_webhooks_formula() -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    expected = base64.b64encode(hmac.new(b"k" * 32, b"msg_1.1700000000.{}", hashlib.sha256).digest()).decode()
    assert sign(b"{}", webhook_id="msg_1", timestamp=1700000000, secrets=[secret]) == f"v1,{expected}"
    with pytest.raises(ValueError):
        sign(b"{}", webhook_id="msg_1", timestamp=1, secrets=[])


def test_event_types_are_validated_and_deduplicated() -> None:
    assert validate_event_types(["video.failed", "video.completed", "video.failed"]) == (
        "video.failed",
        "video.completed",
    )
    with pytest.raises(InvalidRequest) as info:
        validate_event_types(["batch.completed"])
    assert info.value.param == "event_types" and "batch.completed" in info.value.message
    with pytest.raises(InvalidRequest):
        validate_event_types([])


def test_retry_delay_is_full_jitter_under_a_doubling_ceiling() -> None:
    assert retry_delay(1, initial=2.0, rand=lambda: 1.0) == 2.0
    assert retry_delay(3, initial=2.0, rand=lambda: 1.0) == 8.0
    assert retry_delay(3, initial=2.0, rand=lambda: 0.5) == 4.0
    assert retry_delay(40, initial=2.0, cap=60.0, rand=lambda: 1.0) == 60.0
    assert retry_delay(1, initial=2.0, rand=lambda: 0.0) == 0.0
    assert all(0 <= retry_delay(5, initial=1.0) <= 16 for _ in range(100))
