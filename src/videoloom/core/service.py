"""TaskService: the one place where requests become tasks, whatever the dialect.

It validates what only the core can judge (models, sources, cut points), builds
the task, and enqueues it: inserting the row *is* enqueueing, one transaction,
so an accepted task can never be lost between two stores.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from videoloom.core.commands import EditCommand, ExtendCommand, GenerateCommand
from videoloom.core.errors import Conflict, Gone, InvalidRequest, MediaError, NotFound, RateLimited
from videoloom.core.geometry import SIZES, aspect_of, output_size, parse_aspect_ratio, parse_size
from videoloom.core.ids import new_task_id
from videoloom.core.models import ModelRegistry
from videoloom.core.tasks import Task, TaskKind, TaskStatus
from videoloom.net import AddressPolicy, validate_image_url

__all__ = ["DEFAULT_DURATION", "MAX_IMAGES", "TaskService", "UploadedVideo"]

DEFAULT_DURATION = 6
MAX_IMAGES = 4


class TaskStore(Protocol):
    async def insert(self, task: Task, *, enqueued_at: float) -> None: ...
    async def get(self, tenant_id: str, task_id: str) -> Task | None: ...
    async def list_page(
        self, tenant_id: str, *, after: str | None, limit: int, descending: bool
    ) -> tuple[list[Task], bool]: ...
    async def cancel(self, tenant_id: str, task_id: str, *, now: float) -> bool: ...
    async def count_active(self, tenant_id: str) -> int: ...
    async def count_queued(self) -> int: ...
    async def delete(self, tenant_id: str, task_id: str) -> bool: ...


class TaskFiles(Protocol):
    def delete_task(self, tenant_id: str, task_id: str) -> None: ...
    def put_bytes(self, tenant_id: str, task_id: str, name: str, content: bytes) -> str: ...


EditOperations = Callable[[str, str], list[str]]
"""(model name, prompt) → the edits its engine would apply; empty means none it understands."""


@dataclass(frozen=True, kw_only=True)
class UploadedVideo:
    """What ingesting an upload produced (already durable in the blob store)."""

    duration: float
    width: int
    height: int
    fps: float
    video_key: str
    thumbnail_key: str


Ingest = Callable[[Path, str, str], Awaitable[UploadedVideo]]
"""(uploaded file, tenant id, task id) → the stored, normalized video."""


class TaskService:
    def __init__(
        self,
        *,
        store: TaskStore,
        registry: ModelRegistry,
        address_policy: AddressPolicy,
        notify: Callable[[], None],
        ingest: Ingest,
        files: TaskFiles,
        edit_operations: EditOperations,
        retention_seconds: int,
        max_active_per_tenant: int = 0,
        max_queued: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._max_active = max_active_per_tenant
        self._max_queued = max_queued
        self._store = store
        self._files = files
        self._edit_operations = edit_operations
        self._registry = registry
        self._policy = address_policy
        self._notify = notify
        self._ingest = ingest
        self._retention = retention_seconds
        self._clock = clock

    # --- reads -------------------------------------------------------------------------

    async def get(
        self, tenant_id: str, task_id: str, *, param: str = "id", status_read: bool = False
    ) -> Task:
        """``status_read``: only the task's state is wanted (a poll), so the repository's
        short-lived status cache may answer."""
        task = await self._store.get(tenant_id, task_id, cached=status_read)
        if task is None:
            raise NotFound(f"no video with id {task_id!r}", param=param, code="video_not_found")
        return task

    async def get_downloadable(self, tenant_id: str, task_id: str) -> Task:
        task = await self.get(tenant_id, task_id)
        self.ensure_downloadable(task)
        return task

    def ensure_downloadable(self, task: Task) -> None:
        # Expiry first: an expired task's files may already be swept (video_key cleared).
        if task.status is TaskStatus.COMPLETED and (
            (task.expires_at is not None and task.expires_at < int(self._clock())) or not task.video_key
        ):
            raise Gone(f"video {task.id} expired at {task.expires_at}", code="video_expired")
        if task.status is not TaskStatus.COMPLETED:
            raise Conflict(f"video {task.id} is {task.status.value}, not completed", code="video_not_ready")

    # --- commands ----------------------------------------------------------------------

    def _common_params(self, command: GenerateCommand) -> dict[str, Any]:
        spec = self._registry.get(command.model)
        if not command.prompt or not command.prompt.strip():
            raise InvalidRequest("prompt must not be empty", param="prompt")
        if len(command.prompt) > 4000:
            raise InvalidRequest("prompt is longer than 4000 characters", param="prompt")
        if len(command.images) > MAX_IMAGES:
            raise InvalidRequest(f"at most {MAX_IMAGES} images are accepted", param="images")
        for index, url in enumerate(command.images):
            try:
                validate_image_url(url, policy=self._policy)
            except InvalidRequest as exc:
                raise InvalidRequest(exc.message, param=f"images[{index}]", code=exc.code) from exc
        duration = DEFAULT_DURATION if command.duration is None else command.duration
        limit = spec.max_duration
        if not 1 <= duration <= limit:
            raise InvalidRequest(f"duration must be between 1 and {limit} seconds", param="duration")
        size = parse_size(command.size)
        if command.aspect_ratio is not None:
            parse_aspect_ratio(command.aspect_ratio)
        seed = command.seed if command.seed is not None else secrets.randbelow(2**31)
        if command.dimensions is not None:
            width, height = command.dimensions
            if width % 2 or height % 2 or not (16 <= width <= 3840 and 16 <= height <= 3840):
                raise InvalidRequest(f"unsupported size {width}x{height}", param="size")
        if len(command.images) + len(command.image_uploads) > MAX_IMAGES:
            raise InvalidRequest(f"at most {MAX_IMAGES} reference images are accepted", param="images")
        return {
            "size": size,
            "aspect_ratio": command.aspect_ratio,
            "duration": duration,
            "images": list(command.images),
            "seed": seed,
        }

    def _new_task(
        self,
        *,
        tenant_id: str,
        kind: TaskKind,
        command: GenerateCommand,
        params: dict[str, Any],
        api_key_id: int | None,
        **fields: Any,
    ) -> Task:
        now = int(self._clock())
        prefix = self._registry.get(command.model).id_prefix
        return Task(
            id=new_task_id(prefix),
            tenant_id=tenant_id,
            kind=kind,
            model=command.model,
            prompt=command.prompt,
            params=params,
            created_at=now,
            status_update_time=now,
            api_key_id=api_key_id,
            **fields,
        )

    async def _admit(self, tenant_id: str) -> None:
        """Back-pressure before accepting work: the tenant's quota, then the global queue bound."""
        if self._max_active and await self._store.count_active(tenant_id) >= self._max_active:
            raise RateLimited(
                f"this tenant already has {self._max_active} videos queued or processing; "
                "wait for one to finish",
                retry_after=10,
                code="too_many_active_tasks",
            )
        if self._max_queued and await self._store.count_queued() >= self._max_queued:
            raise RateLimited("the server's queue is full; retry later", retry_after=30, code="queue_full")

    async def _enqueue(self, task: Task, image_uploads: tuple[bytes, ...] = ()) -> Task:
        await self._admit(task.tenant_id)
        if image_uploads:
            keys = [
                await asyncio.to_thread(
                    self._files.put_bytes, task.tenant_id, task.id, f"reference-{i}", data
                )
                for i, data in enumerate(image_uploads)
            ]
            task = task.evolve(params={**task.params, "internal_images": keys})
        await self._store.insert(task, enqueued_at=self._clock())
        self._notify()
        return task

    async def create_generate(
        self, tenant_id: str, command: GenerateCommand, *, api_key_id: int | None = None
    ) -> Task:
        """``api_key_id`` (here and in every create): the key the caller authenticated with,
        recorded on the task for usage accounting."""
        params = self._common_params(command)
        if command.dimensions is not None:
            params["width"], params["height"] = command.dimensions
        else:
            aspect = parse_aspect_ratio(command.aspect_ratio or "16:9")
            params["aspect_ratio"] = command.aspect_ratio or "16:9"
            params["width"], params["height"] = output_size(SIZES[params["size"]], aspect)
        params["fps"] = 24
        task = self._new_task(
            tenant_id=tenant_id,
            kind=TaskKind.GENERATE,
            command=command,
            params=params,
            api_key_id=api_key_id,
            duration=float(params["duration"]),
            width=params["width"],
            height=params["height"],
        )
        return await self._enqueue(task, command.image_uploads)

    async def create_extend(
        self, tenant_id: str, command: ExtendCommand, *, api_key_id: int | None = None
    ) -> Task:
        params = self._common_params(command)
        source = await self.get(tenant_id, command.source_id, param="video_id")
        if source.status is not TaskStatus.COMPLETED:
            raise Conflict(
                f"video {source.id} is {source.status.value}; only completed videos can be extended",
                param="video_id",
                code="video_not_ready",
            )
        self.ensure_downloadable(source)
        assert source.duration is not None and source.width and source.height
        if command.start_time is not None and not 0 <= command.start_time <= source.duration:
            raise InvalidRequest(
                f"start_time must be between 0 and the source's duration ({source.duration:.2f} s), "
                f"got {command.start_time}",
                param="start_time",
            )
        if command.dimensions is not None:
            params["width"], params["height"] = command.dimensions
        else:
            aspect = (
                parse_aspect_ratio(command.aspect_ratio)
                if command.aspect_ratio is not None
                else aspect_of(source.width, source.height)
            )
            params["width"], params["height"] = output_size(SIZES[params["size"]], aspect)
        params["upscale"] = command.upscale
        params["source_video_key"] = source.video_key
        params["source_fps"] = source.fps
        kept = source.duration if command.start_time is None else float(command.start_time)
        task = self._new_task(
            tenant_id=tenant_id,
            kind=TaskKind.EXTEND,
            command=command,
            params=params,
            api_key_id=api_key_id,
            parent_id=source.id,
            start_time=command.start_time,
            duration=kept + params["duration"],
            width=params["width"],
            height=params["height"],
            fps=source.fps,
        )
        return await self._enqueue(task, command.image_uploads)

    def model_for(self, source: Task) -> str:
        """The model to continue ``source`` with when the request names none."""
        return source.model if source.model in self._registry.names() else self._registry.default_model

    async def _completed_source(self, tenant_id: str, source_id: str, *, param: str) -> Task:
        source = await self.get(tenant_id, source_id, param=param)
        if source.status is not TaskStatus.COMPLETED:
            raise Conflict(
                f"video {source.id} is {source.status.value}; only completed videos can be used here",
                param=param,
                code="video_not_ready",
            )
        self.ensure_downloadable(source)
        return source

    async def create_edit(
        self, tenant_id: str, command: EditCommand, *, param: str = "video", api_key_id: int | None = None
    ) -> Task:
        if not command.prompt.strip():
            raise InvalidRequest("prompt must not be empty", param="prompt")
        source = await self._completed_source(tenant_id, command.source_id, param=param)
        model = command.model or self.model_for(source)
        spec = self._registry.get(model)
        operations = self._edit_operations(spec.name, command.prompt)
        if not operations:
            raise InvalidRequest(
                f"model {model} cannot do anything with this prompt as an edit; see docs/api-openai.md "
                "for the edits it understands (colour grades, speed, reverse, crop/zoom, flips, "
                "stabilise, fades)",
                param="prompt",
                code="edit_not_understood",
            )
        params = {
            "operations": operations,
            "source_video_key": source.video_key,
            "source_fps": source.fps,
            "width": source.width,
            "height": source.height,
            "seed": secrets.randbelow(2**31),
        }
        now = int(self._clock())
        task = Task(
            id=new_task_id(spec.id_prefix),
            tenant_id=tenant_id,
            kind=TaskKind.EDIT,
            model=model,
            prompt=command.prompt,
            params=params,
            created_at=now,
            status_update_time=now,
            parent_id=source.id,
            api_key_id=api_key_id,
            duration=source.duration,
            width=source.width,
            height=source.height,
            fps=source.fps,
        )
        return await self._enqueue(task)

    async def create_remix(
        self, tenant_id: str, source_id: str, prompt: str, *, api_key_id: int | None = None
    ) -> Task:
        """Render again with ``source``'s parameters and a new prompt."""
        if not prompt.strip():
            raise InvalidRequest("prompt must not be empty", param="prompt")
        source = await self._completed_source(tenant_id, source_id, param="video_id")
        mode = source.params.get("mode", source.kind.value)
        if mode not in (TaskKind.GENERATE.value, TaskKind.EXTEND.value, TaskKind.EDIT.value):
            raise InvalidRequest(
                f"video {source.id} is an upload: there is no generation to remix; extend or edit it",
                param="video_id",
                code="not_remixable",
            )
        model = self.model_for(source)
        params = {**source.params, "mode": mode}
        if mode == TaskKind.EDIT.value:
            params["operations"] = self._edit_operations(model, prompt)
            if not params["operations"]:
                raise InvalidRequest(
                    "the new prompt names no edit this engine understands",
                    param="prompt",
                    code="edit_not_understood",
                )
        now = int(self._clock())
        task = Task(
            id=new_task_id(self._registry.get(model).id_prefix),
            tenant_id=tenant_id,
            kind=TaskKind.REMIX,
            model=model,
            prompt=prompt,
            params=params,
            created_at=now,
            status_update_time=now,
            parent_id=source.id,
            api_key_id=api_key_id,
            start_time=source.start_time,
            duration=source.duration,
            width=source.width,
            height=source.height,
            fps=source.fps,
        )
        return await self._enqueue(task)

    async def list(
        self, tenant_id: str, *, after: str | None, limit: int, descending: bool
    ) -> tuple[list[Task], bool]:
        if not 1 <= limit <= 100:
            raise InvalidRequest("limit must be between 1 and 100", param="limit")
        if after is not None and await self._store.get(tenant_id, after) is None:
            raise InvalidRequest(f"no video with id {after!r} to page after", param="after")
        return await self._store.list_page(tenant_id, after=after, limit=limit, descending=descending)

    async def delete(self, tenant_id: str, task_id: str) -> Task:
        """Cancel it if it is still running, then remove the record and its files."""
        task = await self.get(tenant_id, task_id)
        if not task.is_terminal:
            await self._store.cancel(tenant_id, task_id, now=self._clock())
        await self._store.delete(tenant_id, task_id)
        self._files.delete_task(tenant_id, task_id)
        return task

    async def create_upload(
        self, tenant_id: str, path: Path, *, model: str, prompt: str = "", param: str = "file"
    ) -> Task:
        spec = self._registry.get(model)
        now = int(self._clock())
        task_id = new_task_id(spec.id_prefix)
        try:
            stored = await self._ingest(path, tenant_id, task_id)
        except MediaError as exc:
            raise InvalidRequest(
                f"the file is not a usable video (MP4, MOV or WebM): {exc.message}",
                param=param,
                code="invalid_video",
            ) from exc
        task = Task(
            id=task_id,
            tenant_id=tenant_id,
            kind=TaskKind.UPLOAD,
            model=model,
            prompt=prompt,
            params={},
            status=TaskStatus.COMPLETED,
            progress=100,
            created_at=now,
            status_update_time=now,
            completed_at=now,
            expires_at=now + self._retention,
            duration=stored.duration,
            width=stored.width,
            height=stored.height,
            fps=stored.fps,
            video_key=stored.video_key,
            thumbnail_key=stored.thumbnail_key,
        )
        await self._store.insert(task, enqueued_at=self._clock())
        return task
