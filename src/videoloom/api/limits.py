"""Request body size limits, enforced before a byte of the body is read."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["BodySizeLimit"]

_FORM_OVERHEAD = 1024 * 1024  # multipart boundaries and the small fields beside the file


class BodySizeLimit:
    """413 when ``Content-Length`` exceeds the limit for the body's type (JSON vs uploads)."""

    def __init__(self, app: ASGIApp, *, json_bytes: int, upload_bytes: int) -> None:
        self.app = app
        self.json_bytes = json_bytes
        self.upload_bytes = upload_bytes + _FORM_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            form = headers.get(b"content-type", b"").lower().startswith(b"multipart/")
            limit = self.upload_bytes if form else self.json_bytes
            if length is not None and length.isdigit() and int(length) > limit:
                await _too_large(send, limit)
                return
        await self.app(scope, receive, send)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "error": {
                "message": f"the request body is larger than {limit} bytes",
                "type": "invalid_request_error",
                "param": None,
                "code": "payload_too_large",
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
