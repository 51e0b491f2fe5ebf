"""``RequestContext``: each request gets an id, a latency observation and (JSON logs) an access line."""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from contextvars import Token
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from videoloom.observability._logging import _request_id

__all__ = ["RequestContext", "RequestScope", "new_request_id"]

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


_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count()


def new_request_id() -> str:
    """Unique per request: a random per-process prefix and a counter (32 hex characters, like a
    uuid4's hex). Cheaper than ``uuid.uuid4()``, whose system call showed in status-poll profiles."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFFFFFFFFFF:016x}"


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
        request = self.begin(scope)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append(request.header)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.finish(scope, request, status)

    # The two halves, also used by the status fast path (api/status_fast_path.py), which
    # answers before this middleware is reached.

    def begin(self, scope: Scope) -> RequestScope:
        """The request's id (an incoming plain ``X-Request-ID`` or a new one), bound to its logs."""
        incoming = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value
                break
        text = incoming.decode("latin-1")
        request_id = text if text and _INCOMING_ID.fullmatch(text) else new_request_id()
        return RequestScope(
            request_id=request_id,
            header=(b"x-request-id", request_id.encode("latin-1")),
            token=_request_id.set(request_id),
            started=time.perf_counter(),
        )

    def finish(self, scope: Scope, request: RequestScope, status: int) -> None:
        """Metrics and (JSON logs) the access line; unbinds the request id."""
        elapsed = time.perf_counter() - request.started
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
        _request_id.reset(request.token)


@dataclass(frozen=True, slots=True)
class RequestScope:
    request_id: str
    header: tuple[bytes, bytes]
    token: Token[str | None]
    started: float
