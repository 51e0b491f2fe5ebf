"""The gateway dialect: the seed's Video Extend API and its unified ``/v1/video/*`` routes.

Thin by design: wire shape → core command, core task → wire shape.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile

from videoloom.api.content import content_url, public_base
from videoloom.api.creating import create_once
from videoloom.api.deps import CallerDep, ContainerDep
from videoloom.api.gateway_types import (
    GatewayError,
    GatewayStatus,
    UnifiedVideoCreateParams,
    UnifiedVideoExtendParams,
    VideoExtendParams,
    VideoQueryResponse,
    VideoTaskResponse,
)
from videoloom.api.uploads import receive_upload
from videoloom.container import Container
from videoloom.core.commands import ExtendCommand, GenerateCommand
from videoloom.core.tasks import Task, TaskStatus

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["gateway"])

_STATUS: dict[TaskStatus, GatewayStatus] = {
    TaskStatus.QUEUED: "processing",
    TaskStatus.PROCESSING: "processing",
    TaskStatus.COMPLETED: "completed",
    TaskStatus.FAILED: "failed",
    TaskStatus.CANCELLED: "failed",
}


def _task_fields(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "status": _STATUS[task.status],
        "status_update_time": task.status_update_time,
        "model": task.model,
        "progress": task.progress,
        "created_at": task.created_at,
    }


def _task_response(task: Task) -> VideoTaskResponse:
    return VideoTaskResponse(**_task_fields(task))


def _extend_command(source_id: str, body: VideoExtendParams) -> ExtendCommand:
    return ExtendCommand(
        source_id=source_id,
        model=body.model,
        prompt=body.prompt,
        images=tuple(body.images or ()),
        size=body.size or "720P",
        aspect_ratio=body.aspect_ratio,
        duration=body.duration,
        seed=body.seed,
        start_time=body.start_time,
        upscale=body.upscale,
    )


@router.post("/videos/{video_id}/extend", response_model=VideoTaskResponse)
async def extend_video(
    video_id: str, body: VideoExtendParams, request: Request, caller: CallerDep, container: ContainerDep
) -> VideoTaskResponse:
    """Extend a finished video from ``start_time``; answers the new task."""
    task = await create_once(
        request,
        caller,
        container,
        body.model_dump(),
        lambda: container.service.create_extend(
            caller.tenant_id, _extend_command(video_id, body), api_key_id=caller.id
        ),
    )
    return _task_response(task)


@router.post("/video/extend", response_model=VideoTaskResponse)
async def extend_video_unified(
    body: UnifiedVideoExtendParams, request: Request, caller: CallerDep, container: ContainerDep
) -> VideoTaskResponse:
    task = await create_once(
        request,
        caller,
        container,
        body.model_dump(),
        lambda: container.service.create_extend(
            caller.tenant_id, _extend_command(body.task_id, body), api_key_id=caller.id
        ),
    )
    return _task_response(task)


@router.post("/video/create", response_model=VideoTaskResponse)
async def create_video_unified(
    body: UnifiedVideoCreateParams, request: Request, caller: CallerDep, container: ContainerDep
) -> VideoTaskResponse:
    command = GenerateCommand(
        model=body.model,
        prompt=body.prompt,
        images=tuple(body.images or ()),
        size=body.size or "720P",
        aspect_ratio=body.aspect_ratio,
        duration=body.duration,
        seed=body.seed,
    )
    task = await create_once(
        request,
        caller,
        container,
        body.model_dump(),
        lambda: container.service.create_generate(caller.tenant_id, command, api_key_id=caller.id),
    )
    return _task_response(task)


@router.get("/video/query", response_model=VideoQueryResponse)
async def query_video(
    request: Request,
    caller: CallerDep,
    container: ContainerDep,
    id: Annotated[str, Query(description="Task id, e.g. grok:48a67431-…")],
) -> VideoQueryResponse:
    task = await container.service.get(caller.tenant_id, id, status_read=True)
    return query_answer(public_base(request, container), container, task)


def query_answer(base: str, container: Container, task: Task) -> VideoQueryResponse:
    """The query route's answer, its URLs under ``base`` (also served by ``api.status_fast_path``).

    A function of the task, ``base`` and the current second only (the fast path reuses an
    answer within the same second for the same task object)."""
    now = int(time.time())
    done = task.status is TaskStatus.COMPLETED and (task.expires_at is None or task.expires_at >= now)
    # Built from a stored task, field by field: construct without re-validating (a third of a
    # status poll's time). tests/api/test_status_fast_path.py checks the answers against the
    # FastAPI route, which validates them through its response_model.
    return VideoQueryResponse.model_construct(
        **_task_fields(task),
        kind=task.kind.value,
        state=task.status.value,
        prompt=task.prompt,
        video_url=content_url(base, container, task, "video") if done else None,
        thumbnail_url=content_url(base, container, task, "thumbnail") if done else None,
        completed_at=task.completed_at,
        expires_at=task.expires_at,
        parent_id=task.parent_id,
        start_time=task.start_time,
        duration=task.duration,
        width=task.width,
        height=task.height,
        fps=task.fps,
        size=task.params.get("size"),
        aspect_ratio=task.params.get("aspect_ratio"),
        upscale=task.params.get("upscale"),
        error=GatewayError.model_construct(code=task.error.code, message=task.error.message)
        if task.error
        else None,
        worker_id=task.worker_id,
        started_at=task.started_at,
        attempts=task.attempts,
        engine=task.engine_report,
    )


@router.post("/videos/uploads", response_model=VideoTaskResponse, status_code=200)
async def upload_video(
    request: Request,
    caller: CallerDep,
    container: ContainerDep,
    file: Annotated[UploadFile, File(description="MP4, MOV or WebM video")],
    model: Annotated[str | None, Form()] = None,
) -> VideoTaskResponse:
    """Bring your own video: stored as a completed task that every route accepts."""
    task = await create_once(
        request,
        caller,
        container,
        {"file": file, "model": model},
        lambda: receive_upload(container, caller.tenant_id, file, model=model),
    )
    return _task_response(task)
