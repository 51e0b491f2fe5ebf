"""The hot path of polling: ``GET /v1/video/query?id=…`` and ``GET /v1/videos/{id}``.

Clients poll these every few seconds per task, by the hundred. Through FastAPI a
poll pays for the middleware stack, route matching over every route, dependency
solving and response re-validation — most of the server's time for a cached
answer (docs/benchmarks.md). The app asks this first and it answers the ordinary case:
a bearer key that verifies, a task the caller owns. It builds the answer with the
routes' own functions (``gateway.query_answer``, ``openai_videos.to_video``), so
the two paths cannot drift apart; anything else (no or bad key, unknown id,
another method, an error) goes on to the FastAPI routes, which answer it as
always.

Answers are reused: within one wall-clock second, for the very task object the
repository's status cache returned (a new object after any commit that changes a
task), the bytes built for the first poll are the answer to the next ones. The
answer is a function of exactly those (``query_answer``'s URLs are signed from
the current second), so a reused answer is the one a fresh build would give.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import Scope, Send

from videoloom.api.content import public_base
from videoloom.api.deps import parse_bearer
from videoloom.api.gateway import query_answer
from videoloom.api.openai_videos import poll_headers, to_video
from videoloom.core.errors import AuthenticationFailed
from videoloom.core.ids import is_task_id
from videoloom.observability import RequestContext

if TYPE_CHECKING:
    from videoloom.container import Container
    from videoloom.core.tasks import Task

__all__ = ["StatusFastPath"]

log = logging.getLogger("videoloom.api")

_VIDEO = re.compile(r"/v1/videos/([^/]+)")
# Route labels for metrics, as the FastAPI routes would report them.
_QUERY_ROUTE = SimpleNamespace(path="/v1/video/query")
_VIDEO_ROUTE = SimpleNamespace(path="/v1/videos/{video_id}")
MAX_REUSED_ANSWERS = 10_000
"""Answers kept for reuse (emptied when full: each lives a second at most anyway)."""


@dataclass(frozen=True, slots=True)
class _Answer:
    task: Task
    """The repository's cached object it was built from (identity, not equality, is compared)."""
    second: int
    body: bytes
    headers: list[tuple[bytes, bytes]]


class StatusFastPath:
    """Answers the ordinary status poll before the app's middleware stack (see the module doc).

    ``VideoloomAPI.__call__`` asks it first; it gives the request the same request id,
    metrics and access line as ``RequestContext`` would, and declines (``False``, nothing
    sent) whatever it does not answer itself.
    """

    def __init__(self, app: FastAPI, context: RequestContext) -> None:
        self.app = app
        self.context = context
        self._answers: dict[tuple[str, str, str], _Answer] = {}

    async def handle(self, scope: Scope, send: Send) -> bool:
        if scope["type"] != "http" or scope["method"] != "GET":
            return False
        try:
            answer = await self._answer(scope)
        except Exception:  # let the full stack answer it, with its error handling
            log.debug("status fast path declined after an error", exc_info=True)
            return False
        if answer is None:
            return False
        body, headers, route = answer
        scope["app"] = self.app
        scope["route"] = route
        request = self.context.begin(scope)
        try:
            await _send_json(send, body, [*headers, request.header])
        finally:
            self.context.finish(scope, request, 200)
        return True

    async def _answer(self, scope: Scope) -> tuple[bytes, list[tuple[bytes, bytes]], Any] | None:
        path: str = scope["path"]
        if path == "/v1/video/query":
            query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
            task_id, route = query.get("id", ""), _QUERY_ROUTE
        elif (match := _VIDEO.fullmatch(path)) is not None:
            task_id, route = match.group(1), _VIDEO_ROUTE
        else:
            return None
        container: Container | None = getattr(self.app.state, "container", None)
        token = _bearer(scope)
        if container is None or token is None or not is_task_id(task_id):
            return None
        caller = await container.keys.authenticate(token)
        if caller is None:
            return None
        task = await container.tasks.get(caller.tenant_id, task_id, cached=True)
        if task is None:
            return None
        base = public_base(Request(scope), container) if route is _QUERY_ROUTE else ""
        key, second = (route.path, task.id, base), int(time.time())
        reused = self._answers.get(key)
        if reused is not None and reused.task is task and reused.second == second:
            return reused.body, reused.headers, route
        if route is _QUERY_ROUTE:
            body, headers = query_answer(base, container, task).model_dump_json().encode(), []
        else:
            poll = poll_headers(task, container)
            headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in poll.items()]
            body = to_video(task, container).model_dump_json().encode()
        if len(self._answers) >= MAX_REUSED_ANSWERS:
            self._answers.clear()
        self._answers[key] = _Answer(task=task, second=second, body=body, headers=headers)
        return body, headers, route


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            try:
                return parse_bearer(value.decode("latin-1"))
            except AuthenticationFailed:
                return None  # malformed: the routes answer it
    return None


async def _send_json(send: Send, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": 200, "headers": raw})
    await send({"type": "http.response.body", "body": body})
