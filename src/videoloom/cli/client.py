"""A small HTTP client for the ``videoloom`` user commands: one method per route.

Every failure leaves this module as one of its own errors (``raise … from``),
so the commands map them to exit codes without knowing about httpx:

    ClientError
    ├── ApiError            the server answered with its error envelope (status, code, message)
    ├── ConnectionFailed    the server could not be reached, or the connection broke
    ├── TaskFailed          a waited-for task ended failed or cancelled (carries the final task)
    └── WaitTimedOut        a wait gave up before the task finished

Progress is read from the Server-Sent Events stream ``GET /v1/videos/{id}/events``
and, where that stream is unavailable (an older server, a proxy that buffers),
by polling ``GET /v1/video/query``.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from videoloom import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "ApiError",
    "ClientError",
    "ConnectionFailed",
    "TaskFailed",
    "TaskUpdate",
    "VideoloomClient",
    "WaitTimedOut",
    "image_reference",
]

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
TERMINAL_STATES = frozenset({"completed", "failed", "cancelled"})
_OPENAI_TO_STATE = {"in_progress": "processing", "queued": "queued"}


class ClientError(Exception):
    """Base of every error the CLI reports."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ApiError(ClientError):
    """The server refused the request; ``message`` is the server's ``error.message``."""

    def __init__(self, message: str, *, status: int, code: str | None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.param = param


class ConnectionFailed(ClientError):
    """No answer from the server: refused, unresolvable, timed out or cut off."""


class TaskFailed(ClientError):
    """The task ended ``failed`` or ``cancelled``; ``task`` is its final query answer."""

    def __init__(self, message: str, task: dict[str, Any]) -> None:
        super().__init__(message)
        self.task = task


class WaitTimedOut(ClientError):
    """The task was still running when the wait's time limit ran out."""


class TaskUpdate:
    """One observed state of a task: ``state`` is queued, processing, completed, failed or cancelled."""

    __slots__ = ("progress", "source", "state")

    def __init__(self, state: str, progress: int, source: str) -> None:
        self.state = state
        self.progress = progress
        self.source = source
        """``events`` (the SSE stream) or ``polling``."""

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES


class _StreamUnavailable(Exception):
    """The events stream cannot be used here; fall back to polling."""


def image_reference(value: str, *, max_bytes: int = 10 * 1024 * 1024) -> str:
    """A reference image for ``images``: URLs pass through, a local file becomes a ``data:`` URL."""
    if value.startswith(("http://", "https://", "data:")):
        return value
    path = Path(value).expanduser()
    if not path.is_file():
        raise ClientError(f"--image {value!r} is neither an http(s)/data: URL nor a readable file")
    content = path.read_bytes()
    if len(content) > max_bytes:
        raise ClientError(f"--image {value!r} is larger than {max_bytes} bytes")
    media_type = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{media_type};base64,{base64.b64encode(content).decode()}"


def _raise_for_error(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = response.json()
        error = body["error"]
        message = str(error.get("message") or "request failed")
        raise ApiError(message, status=response.status_code, code=error.get("code"), param=error.get("param"))
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    text = response.text.strip()[:200] or response.reason_phrase
    raise ApiError(f"HTTP {response.status_code}: {text}", status=response.status_code, code=None)


class VideoloomClient:
    """Talks to one server with one API key. Use as a context manager."""

    def __init__(self, base_url: str = DEFAULT_BASE_URL, api_key: str | None = None, *, timeout: float = 60):
        headers = {"User-Agent": f"videoloom-cli/{__version__}"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=10),
            trust_env=False,  # never route the local server through a proxy from the environment
        )

    def __enter__(self) -> VideoloomClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- plumbing ------------------------------------------------------------------------

    @contextmanager
    def _transport(self) -> Iterator[None]:
        """httpx's transport errors → ConnectionFailed, with where it was trying to go."""
        try:
            yield
        except httpx.TimeoutException as exc:
            raise ConnectionFailed(f"the server at {self.base_url} did not answer in time ({exc})") from exc
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"cannot reach the server at {self.base_url}: {exc}") from exc

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        with self._transport():
            response = self._http.request(method, path, **kwargs)
        _raise_for_error(response)
        return response.json()

    # --- routes --------------------------------------------------------------------------

    def models(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/v1/models")
        return result

    def query(self, task_id: str) -> dict[str, Any]:
        """``GET /v1/video/query``: the task, with signed ``video_url``/``thumbnail_url`` once done."""
        result: dict[str, Any] = self._request("GET", "/v1/video/query", params={"id": task_id})
        return result

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._request("POST", "/v1/video/create", json=body)
        return result

    def extend(self, video_id: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._request("POST", f"/v1/videos/{video_id}/extend", json=body)
        return result

    def upload(self, path: Path, *, model: str | None = None) -> dict[str, Any]:
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = {"model": model} if model else None
        with open(path, "rb") as handle:
            result: dict[str, Any] = self._request(
                "POST",
                "/v1/videos/uploads",
                files={"file": (path.name, handle, media_type)},
                data=data,
                timeout=httpx.Timeout(600, connect=10),
            )
        return result

    def list(self, *, limit: int = 20, after: str | None = None, order: str = "desc") -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit, "order": order}
        if after:
            params["after"] = after
        result: dict[str, Any] = self._request("GET", "/v1/videos", params=params)
        return result

    def usage(self, *, start: str | None = None, end: str | None = None) -> dict[str, Any]:
        params = {k: v for k, v in {"start": start, "end": end}.items() if v}
        result: dict[str, Any] = self._request("GET", "/v1/usage", params=params)
        return result

    def delete(self, video_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("DELETE", f"/v1/videos/{video_id}")
        return result

    def download(
        self,
        video_id: str,
        target: Path,
        *,
        variant: str = "video",
        on_chunk: Callable[[int, int | None], None] | None = None,
    ) -> int:
        """Stream the content to ``target`` (written beside it first, then renamed); returns bytes."""
        partial = target.with_name(f".{target.name}.partial")
        written = 0
        try:
            with (
                self._transport(),
                # A bucket-backed server answers with a redirect to a presigned URL; httpx drops
                # the Authorization header when a redirect leaves the server's origin.
                self._http.stream(
                    "GET",
                    f"/v1/videos/{video_id}/content",
                    params={"variant": variant},
                    follow_redirects=True,
                ) as response,
            ):
                if not response.is_success:
                    response.read()
                    _raise_for_error(response)
                length = response.headers.get("content-length")
                total = int(length) if length and length.isdigit() else None
                with open(partial, "wb") as out:
                    for chunk in response.iter_bytes(1024 * 1024):
                        out.write(chunk)
                        written += len(chunk)
                        if on_chunk is not None:
                            on_chunk(written, total)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return written

    def lineage(self, video_id: str, *, max_depth: int = 100) -> list[dict[str, Any]]:
        """The chain from the root down to ``video_id``, following ``parent_id``.

        A parent that no longer exists (deleted) ends the chain with
        ``{"id": …, "missing": true}``; the video itself must exist.
        """
        chain = [self.query(video_id)]
        while (parent := chain[-1].get("parent_id")) and len(chain) < max_depth:
            try:
                chain.append(self.query(parent))
            except ApiError as exc:
                if exc.status != 404:
                    raise
                chain.append({"id": parent, "missing": True})
                break
        chain.reverse()
        return chain

    # --- waiting -------------------------------------------------------------------------

    def wait(
        self,
        task_id: str,
        *,
        on_update: Callable[[TaskUpdate], None] = lambda _: None,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        use_events: bool = True,
    ) -> dict[str, Any]:
        """Follow a task until it ends; returns its final query answer.

        Raises TaskFailed when it ends failed or cancelled, WaitTimedOut after ``timeout`` s.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        finished = False
        if use_events:
            try:
                finished = self._follow_events(task_id, on_update, deadline)
            except _StreamUnavailable:
                finished = False
        if not finished:
            self._poll(task_id, on_update, deadline, poll_interval)
        final = self.query(task_id)
        if final.get("state") in ("failed", "cancelled") or final.get("status") == "failed":
            error = final.get("error") or {}
            reason = error.get("message") or final.get("state") or "failed"
            code = error.get("code")
            raise TaskFailed(
                f"task {task_id} {final.get('state', 'failed')}: {reason}" + (f" ({code})" if code else ""),
                final,
            )
        return final

    def _follow_events(
        self, task_id: str, on_update: Callable[[TaskUpdate], None], deadline: float | None
    ) -> bool:
        """True once a final event arrived; _StreamUnavailable when polling should take over."""
        timeout = httpx.Timeout(10, read=30)
        try:
            with self._http.stream(
                "GET",
                f"/v1/videos/{task_id}/events",
                headers={"Accept": "text/event-stream"},
                timeout=timeout,
            ) as response:
                if response.status_code in (404, 405, 501) or not response.is_success:
                    response.read()
                    try:
                        _raise_for_error(response)
                    except ApiError as exc:
                        # An unknown video is the caller's error; a missing route means "poll instead".
                        if exc.code in ("video_not_found", "invalid_api_key", "invalid_signature"):
                            raise
                        raise _StreamUnavailable from exc
                if not response.headers.get("content-type", "").startswith("text/event-stream"):
                    raise _StreamUnavailable
                for event, data in _sse_events(response.iter_lines()):
                    if event == "deleted":
                        raise ApiError(
                            f"video {task_id} was deleted while waiting", status=404, code="video_not_found"
                        )
                    state = _OPENAI_TO_STATE.get(str(data.get("status")), str(data.get("status")))
                    if event in TERMINAL_STATES:
                        state = event
                    on_update(TaskUpdate(state, int(data.get("progress") or 0), "events"))
                    if event in TERMINAL_STATES:
                        return True
                    if deadline is not None and time.monotonic() > deadline:
                        raise WaitTimedOut(f"task {task_id} is still {state} after the time limit")
        except httpx.TimeoutException as exc:
            raise _StreamUnavailable from exc
        except httpx.ConnectError as exc:
            raise ConnectionFailed(f"cannot reach the server at {self.base_url}: {exc}") from exc
        except httpx.TransportError as exc:  # the stream broke off: polling will tell the rest
            raise _StreamUnavailable from exc
        raise _StreamUnavailable  # ended without a final event

    def _poll(
        self,
        task_id: str,
        on_update: Callable[[TaskUpdate], None],
        deadline: float | None,
        interval: float,
    ) -> None:
        while True:
            task = self.query(task_id)
            update = TaskUpdate(
                str(task.get("state") or task.get("status")), int(task.get("progress") or 0), "polling"
            )
            on_update(update)
            if update.finished or task.get("status") in ("completed", "failed"):
                return
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimedOut(f"task {task_id} is still {update.state} after the time limit")
            time.sleep(interval)


def _sse_events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(event, data)`` pairs from a ``text/event-stream`` (data parsed as JSON)."""
    event, data = "message", []
    for line in lines:
        if line == "":
            if data:
                try:
                    payload = json.loads("\n".join(data))
                except ValueError:
                    payload = {}
                yield event, payload if isinstance(payload, dict) else {}
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
