"""``RequestContext``: each request gets an id, a latency observation and (JSON logs) an access line."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from videoloom.observability._logging import _request_id

__all__ = ["RequestContext"]

log = logging.getLogger("videoloom.access")

_INCOMING_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
UNMATCHED = "unmatched"
"""The route label of requests no route answered (404s), so paths cannot explode the label set."""


def route_template(scope: Scope) -> str:
    """``/v1/videos/{video_id}/content`` rather than the concrete path."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        # Mounted apps (the playground's files): FastAPI sets no route, but the mount's prefix
        # is what root_path gained beyond the app's own.
        app_root, root = scope.get("app_root_path", ""), scope.get("root_path", "")
        if root.startswith(app_root) and len(root) > len(app_root):
            return f"{root[len(app_root) :]}/*"
        return UNMATCHED
    if route.__class__.__name__ == "Mount":
        return f"{path}/*"
    return path


class RequestContext:
    """Outermost middleware: ``X-Request-ID`` in and out, HTTP metrics, access log.

    An incoming ``X-Request-ID`` (from a proxy) is kept when it is short and
    plain; otherwise a new one is made. Metrics go to the container's
    ``Metrics`` once the app's lifespan has built it.
    """

    def __init__(self, app: ASGIApp, *, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _INCOMING_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = scope.get("method", "GET")
            container = getattr(getattr(scope.get("app"), "state", None), "container", None)
            metrics = getattr(container, "metrics", None)
            if metrics is not None:
                metrics.observe_request(method, route, status, elapsed)
            if self.access_log:
                log.info(
                    "%s %s %d %.1f ms",
                    method,
                    scope.get("path", ""),
                    status,
                    elapsed * 1000,
                    extra={
                        "method": method,
                        "path": scope.get("path", ""),
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client": (scope.get("client") or ("", 0))[0],
                    },
                )
            _request_id.reset(token)
