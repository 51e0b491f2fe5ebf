"""Signed, expiring content URLs, so a plain ``<video src>`` works without a header."""

from __future__ import annotations

import functools
import hashlib
import hmac

__all__ = ["RELAY_INPUT", "relay_input_path", "sign_content", "verify_content"]

RELAY_INPUT = "relay_input"
"""The signed variant of a relay task's input clip (``GET /v1/videos/{id}/relay-input``): its
own name in the signed message, so a video link cannot be turned into one and back."""


@functools.lru_cache(maxsize=4096)  # URLs are stable for a minute; polls re-sign the same ones
def _digest(secret: bytes, task_id: str, variant: str, expires: int) -> str:
    message = f"{task_id}\n{variant}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign_content(secret: bytes, task_id: str, variant: str, expires: int) -> str:
    return _digest(secret, task_id, variant, expires)


def verify_content(secret: bytes, task_id: str, variant: str, expires: int, signature: str, now: int) -> bool:
    if expires < now:
        return False
    return hmac.compare_digest(_digest(secret, task_id, variant, expires), signature)


def relay_input_path(secret: bytes, task_id: str, expires: int) -> str:
    """The signed path and query of a relay task's input clip, to put after the public base URL."""
    signature = sign_content(secret, task_id, RELAY_INPUT, expires)
    return f"/v1/videos/{task_id}/relay-input?expires={expires}&signature={signature}"
