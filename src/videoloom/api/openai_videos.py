"""The OpenAI Videos API dialect: what the official ``openai`` SDK's ``client.videos`` calls.

Thin: wire shape → core command, core task → ``Video``. The SDK sends
multipart for create/extend/edit (values as strings, nested objects as
``video[id]``) and JSON for remix; ``forms.read_body`` reads both.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile

from videoloom.api.creating import create_once
from videoloom.api.deps import CallerDep, ContainerDep
from videoloom.api.forms import read_body
from videoloom.api.openai_types import Video, VideoCreateError, VideoDeleteResponse, VideoList, VideoStatus
from videoloom.api.uploads import receive_upload
from videoloom.container import Container
from videoloom.core.commands import EditCommand, ExtendCommand, GenerateCommand
from videoloom.core.errors import InvalidRequest
from videoloom.core.service import MAX_IMAGES
from videoloom.core.tasks import Task, TaskKind, TaskStatus
from videoloom.net import decode_image
from videoloom.storage.keys import ApiKey

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["openai"])

SIZES = {"720x1280", "1280x720", "1024x1792", "1792x1024", "1920x1080", "1080x1920"}
DEFAULT_SIZE = "720x1280"
DEFAULT_SECONDS = 4
SSE_INTERVAL_S = 0.5

_OPENAI_STATUS: dict[TaskStatus, VideoStatus] = {
    TaskStatus.QUEUED: "queued",
    TaskStatus.PROCESSING: "in_progress",
    TaskStatus.COMPLETED: "completed",
    TaskStatus.FAILED: "failed",
    TaskStatus.CANCELLED: "failed",
}
_GATEWAY_STATUS: dict[TaskStatus, VideoStatus] = {
    **_OPENAI_STATUS,
    TaskStatus.QUEUED: "processing",
    TaskStatus.PROCESSING: "processing",
}


def to_video(task: Task, container: Container) -> Video:
    table = _GATEWAY_STATUS if container.settings.openai_status_vocabulary == "gateway" else _OPENAI_STATUS
    # From a stored task: constructed without re-validation (status polls; see gateway.query_answer).
    return Video.model_construct(
        id=task.id,
        model=task.model,
        status=table[task.status],
        progress=task.progress,
        created_at=task.created_at,
        completed_at=task.completed_at,
        expires_at=task.expires_at,
        prompt=task.prompt or None,
        seconds=str(round(task.duration or 0)),
        size=f"{task.width}x{task.height}" if task.width and task.height else "",
        remixed_from_video_id=task.parent_id if task.kind is TaskKind.REMIX else None,
        error=VideoCreateError.model_construct(code=task.error.code, message=task.error.message)
        if task.error
        else None,
        kind=task.kind.value,
        parent_id=task.parent_id,
        start_time=task.start_time,
    )


# --- reading the body ------------------------------------------------------------------------


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    for key in body:
        if key not in allowed:
            raise InvalidRequest(f"unknown parameter {key!r}", param=key, code="unknown_parameter")


def _text(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"{name} is required", param=name, code="missing_required_parameter")
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a string", param=name)
    return value


def _whole_seconds(body: dict[str, Any], name: str) -> int | None:
    """``"8"`` or ``8``; never ``"8.0"``, ``8.5`` or ``true``."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidRequest(f'{name} must be a whole number of seconds such as "8"', param=name)
    if isinstance(value, str) and not re.fullmatch(r"\d{1,3}", value.strip()):
        raise InvalidRequest(
            f'{name} must be a whole number of seconds such as "8", got {value!r}', param=name
        )
    seconds = int(value)
    if not 1 <= seconds <= 20:
        raise InvalidRequest(f"{name} must be between 1 and 20 seconds, got {seconds}", param=name)
    return seconds


def _size(body: dict[str, Any], *, default: str | None) -> dict[str, Any]:
    """``WxH`` → exact dimensions; the gateway's ``720P``/``1080P`` → short side (+ aspect_ratio)."""
    size = _text(body, "size") or default
    aspect_ratio = _text(body, "aspect_ratio")
    if size is None:
        return {"aspect_ratio": aspect_ratio}
    if re.fullmatch(r"\d+x\d+", size):
        if size not in SIZES:
            raise InvalidRequest(
                f"size must be one of {', '.join(sorted(SIZES))}, got {size!r}", param="size"
            )
        width, height = (int(n) for n in size.split("x"))
        return {"dimensions": (width, height)}
    return {"size": size, "aspect_ratio": aspect_ratio}


async def _references(body: dict[str, Any], max_bytes: int) -> tuple[tuple[str, ...], tuple[bytes, ...]]:
    """``input_reference`` (file, ``{image_url}``, or several) and the gateway's ``images`` list."""
    urls: list[str] = []
    uploads: list[bytes] = []
    raw = body.get("input_reference")
    items = raw if isinstance(raw, list) else [] if raw is None else [raw]
    for item in items:
        if isinstance(item, UploadFile):
            content = await item.read(max_bytes + 1)
            if len(content) > max_bytes:
                raise InvalidRequest(
                    f"input_reference is larger than {max_bytes} bytes",
                    param="input_reference",
                    code="too_large",
                )
            try:
                await asyncio.to_thread(decode_image, content)
            except Exception as exc:
                raise InvalidRequest(
                    f"input_reference is not a usable image: {exc}",
                    param="input_reference",
                    code="invalid_image",
                ) from exc
            uploads.append(content)
        elif isinstance(item, dict) and set(item) == {"image_url"}:
            found = item["image_url"]
            urls.extend(found if isinstance(found, list) else [found])
        elif isinstance(item, str):
            urls.append(item)
        else:
            raise InvalidRequest(
                'input_reference must be an image file or {"image_url": …}', param="input_reference"
            )
    images = body.get("images")
    if images is not None:
        urls.extend(images if isinstance(images, list) else [images])
    if not all(isinstance(u, str) for u in urls):
        raise InvalidRequest("image URLs must be strings", param="input_reference")
    if len(urls) + len(uploads) > MAX_IMAGES:
        raise InvalidRequest(f"at most {MAX_IMAGES} reference images are accepted", param="input_reference")
    return tuple(urls), tuple(uploads)


def _seed(body: dict[str, Any]) -> int | None:
    value = body.get("seed")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise InvalidRequest("seed must be a non-negative integer", param="seed")
    return int(value)


async def _source_id(body: dict[str, Any], caller_tenant: str, container: Container) -> str:
    """``video`` as ``{id}``, the gateway's ``{url: <task id>}``, a bare id, or an uploaded file."""
    video = body.get("video")
    if video is None:
        raise InvalidRequest(
            'video is required: {"id": …} or an uploaded file',
            param="video",
            code="missing_required_parameter",
        )
    if isinstance(video, UploadFile):
        upload = await receive_upload(container, caller_tenant, video, model=None, param="video")
        return upload.id
    if isinstance(video, dict) and len(video) == 1 and ("id" in video or "url" in video):
        ref = video.get("id", video.get("url"))
    elif isinstance(video, str):
        ref = video
    else:
        raise InvalidRequest('video must be {"id": …}, {"url": "<task id>"} or a file', param="video")
    if not isinstance(ref, str) or not ref:
        raise InvalidRequest("video id must be a non-empty string", param="video")
    if ref.startswith(("http://", "https://")):
        raise InvalidRequest(
            "video URLs are not fetched; pass the task id, or upload the file",
            param="video",
            code="unsupported_video_reference",
        )
    return ref


def poll_headers(task: Task, container: Container) -> dict[str, str]:
    if task.is_terminal:
        return {}
    return {"openai-poll-after-ms": str(container.settings.poll_after_ms)}


# --- routes ----------------------------------------------------------------------------------


@router.post("/videos", response_model=Video)
async def create_video(request: Request, caller: CallerDep, container: ContainerDep) -> Video:
    body = await read_body(request)
    _only(
        body,
        {
            "prompt",
            "model",
            "seconds",
            "size",
            "aspect_ratio",
            "input_reference",
            "images",
            "duration",
            "seed",
        },
    )
    urls, uploads = await _references(body, container.settings.max_image_bytes)
    seconds = _whole_seconds(body, "seconds")
    if seconds is None:
        seconds = _whole_seconds(body, "duration")
    command = GenerateCommand(
        model=_text(body, "model") or container.registry.openai_default_model,
        prompt=_text(body, "prompt", required=True) or "",
        images=urls,
        image_uploads=uploads,
        duration=seconds or DEFAULT_SECONDS,
        seed=_seed(body),
        **_size(body, default=DEFAULT_SIZE),
    )
    task = await create_once(
        request,
        caller,
        container,
        body,
        lambda: container.service.create_generate(caller.tenant_id, command, api_key_id=caller.id),
    )
    return to_video(task, container)


@router.get("/videos", response_model=VideoList)
async def list_videos(
    caller: CallerDep,
    container: ContainerDep,
    after: str | None = None,
    limit: Annotated[int, Query()] = 20,
    order: Annotated[str, Query()] = "desc",
) -> VideoList:
    if order not in ("asc", "desc"):
        raise InvalidRequest(f"order must be 'asc' or 'desc', got {order!r}", param="order")
    tasks, has_more = await container.service.list(
        caller.tenant_id, after=after, limit=limit, descending=order == "desc"
    )
    data = [to_video(t, container) for t in tasks]
    return VideoList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=has_more,
    )


@router.post("/videos/extensions", response_model=Video)
async def extend_video(request: Request, caller: CallerDep, container: ContainerDep) -> Video:
    """Append ``seconds`` of new content; the gateway form may also cut at ``start_time``."""
    body = await read_body(request)
    _only(
        body,
        {
            "prompt",
            "seconds",
            "duration",
            "video",
            "model",
            "start_time",
            "size",
            "aspect_ratio",
            "upscale",
            "images",
            "input_reference",
            "seed",
        },
    )
    task = await create_once(request, caller, container, body, lambda: _extend(body, caller, container))
    return to_video(task, container)


async def _extend(body: dict[str, Any], caller: ApiKey, container: Container) -> Task:
    source_id = await _source_id(body, caller.tenant_id, container)
    source = await container.service.get(caller.tenant_id, source_id, param="video")
    urls, uploads = await _references(body, container.settings.max_image_bytes)
    seconds = _whole_seconds(body, "seconds") or _whole_seconds(body, "duration")
    start_time = _start_time(body)
    upscale = body.get("upscale", False)
    if isinstance(upscale, str) and upscale.lower() in ("true", "false"):
        upscale = upscale.lower() == "true"
    if not isinstance(upscale, bool):
        raise InvalidRequest("upscale must be true or false", param="upscale")
    command = ExtendCommand(
        source_id=source.id,
        model=_text(body, "model") or container.service.model_for(source),
        prompt=_text(body, "prompt", required=True) or "",
        images=urls,
        image_uploads=uploads,
        duration=seconds or DEFAULT_SECONDS,
        start_time=start_time,
        upscale=upscale,
        seed=_seed(body),
        # OpenAI extensions keep the source's size unless the gateway form asks for one.
        **(
            _size(body, default=None)
            if "size" in body or "aspect_ratio" in body
            else {"dimensions": (source.width, source.height)}
        ),
    )
    return await container.service.create_extend(caller.tenant_id, command, api_key_id=caller.id)


def _start_time(body: dict[str, Any]) -> int | None:
    value = body.get("start_time")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise InvalidRequest("start_time must be a whole second of the source, e.g. 4", param="start_time")
    return int(value)


@router.post("/videos/edits", response_model=Video)
async def edit_video(request: Request, caller: CallerDep, container: ContainerDep) -> Video:
    body = await read_body(request)
    _only(body, {"prompt", "video", "model"})
    prompt = _text(body, "prompt", required=True) or ""

    async def edit() -> Task:
        source_id = await _source_id(body, caller.tenant_id, container)
        command = EditCommand(source_id=source_id, prompt=prompt, model=_text(body, "model"))
        return await container.service.create_edit(caller.tenant_id, command, api_key_id=caller.id)

    return to_video(await create_once(request, caller, container, body, edit), container)


@router.get("/videos/{video_id}", response_model=Video)
async def retrieve_video(
    video_id: str, caller: CallerDep, container: ContainerDep, response: Response
) -> Video:
    task = await container.service.get(caller.tenant_id, video_id, param="video_id", status_read=True)
    response.headers.update(poll_headers(task, container))
    return to_video(task, container)


@router.delete("/videos/{video_id}", response_model=VideoDeleteResponse)
async def delete_video(video_id: str, caller: CallerDep, container: ContainerDep) -> VideoDeleteResponse:
    task = await container.service.delete(caller.tenant_id, video_id)
    return VideoDeleteResponse(id=task.id, deleted=True)


@router.post("/videos/{video_id}/remix", response_model=Video)
async def remix_video(video_id: str, request: Request, caller: CallerDep, container: ContainerDep) -> Video:
    body = await read_body(request)
    _only(body, {"prompt"})
    prompt = _text(body, "prompt", required=True) or ""
    task = await create_once(
        request,
        caller,
        container,
        body,
        lambda: container.service.create_remix(caller.tenant_id, video_id, prompt, api_key_id=caller.id),
    )
    return to_video(task, container)


@router.get("/videos/{video_id}/events")
async def video_events(
    video_id: str, request: Request, caller: CallerDep, container: ContainerDep
) -> StreamingResponse:
    """Server-Sent Events: ``progress`` on every change, then one final status event."""
    await container.service.get(caller.tenant_id, video_id, param="video_id")

    async def stream() -> AsyncIterator[str]:
        last: tuple[str, int] | None = None
        while not await request.is_disconnected():
            task = await container.tasks.get(caller.tenant_id, video_id)
            if task is None:
                yield f'event: deleted\ndata: {{"id": "{video_id}"}}\n\n'
                return
            snapshot = (task.status.value, task.progress)
            if snapshot != last:
                name = task.status.value if task.is_terminal else "progress"
                yield f"event: {name}\ndata: {to_video(task, container).model_dump_json()}\n\n"
                last = snapshot
            if task.is_terminal:
                return
            await asyncio.sleep(SSE_INTERVAL_S)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
