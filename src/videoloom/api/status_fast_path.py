"""The hot path of polling: ``GET /v1/video/query?id=…`` and ``GET /v1/videos/{id}``.

Clients poll these every few seconds per task, by the hundred. Through FastAPI a
poll pays for route matching over every route, dependency solving and response
re-validation — measured at about half the server's time for a cached answer
(docs/benchmarks.md). This ASGI middleware answers the ordinary case itself:
a bearer key that verifies, a task the caller owns. It builds the answer with the
routes' own functions (``gateway.query_answer``, ``openai_videos.to_video``), so
the two paths cannot drift apart; anything else (no or bad key, unknown id,
another method, an error) goes on to the FastAPI routes, which answer it as
always.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from videoloom.api.gateway import query_answer
from videoloom.api.openai_videos import poll_headers, to_video
from videoloom.core.ids import is_task_id

if TYPE_CHECKING:
    from videoloom.container import Container

__all__ = ["StatusFastPath"]

_VIDEO = re.compile(r"/v1/videos/([^/]+)")
# Route labels for metrics, as the FastAPI routes would report them.
_QUERY_ROUTE = SimpleNamespace(path="/v1/video/query")
_VIDEO_ROUTE = SimpleNamespace(path="/v1/videos/{video_id}")


class StatusFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            answered = await self._answer(scope, send)
            if answered:
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, send: Send) -> bool:
        path: str = scope["path"]
        if path == "/v1/video/query":
            query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
            task_id, route = query.get("id", ""), _QUERY_ROUTE
        elif (match := _VIDEO.fullmatch(path)) is not None:
            task_id, route = match.group(1), _VIDEO_ROUTE
        else:
            return False
        container: Container | None = getattr(scope["app"].state, "container", None)
        token = _bearer(scope)
        if container is None or token is None or not is_task_id(task_id):
            return False
        caller = await container.keys.authenticate(token)
        if caller is None:
            return False
        task = await container.tasks.get(caller.tenant_id, task_id, cached=True)
        if task is None:
            return False
        headers: dict[str, str]
        if route is _QUERY_ROUTE:
            body = query_answer(Request(scope), container, task).model_dump_json()
            headers = {}
        else:
            body = to_video(task, container).model_dump_json()
            headers = poll_headers(task, container)
        scope["route"] = route
        await _send_json(send, body.encode(), headers)
        return True


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


async def _send_json(send: Send, body: bytes, headers: dict[str, str]) -> None:
    raw: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    message: dict[str, Any] = {"type": "http.response.start", "status": 200, "headers": raw}
    await send(message)
    await send({"type": "http.response.body", "body": body})
