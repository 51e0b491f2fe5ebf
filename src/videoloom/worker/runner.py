"""The worker loop: claim a task from the table, keep its lease alive, render, store, complete.

    claim ──▶ fetch reference images ──▶ render (thread) ──▶ store blobs ──▶ complete
      │              │ FetchError              │ error           (durable first)
      │              └──────────▶ fail ◀───────┘
      └─ heartbeat every lease/3; a lost lease stops the render and discards its output

Shutdown hands running tasks back to the queue; a killed process is covered by
lease expiry: another claim picks the task up again (at most ``max_attempts``).
An engine's checkpoint (``EngineContext.checkpoint``, e.g. the upstream request a
relay submitted) is written to the task's ``engine_report`` at once and handed
back to the engine of the next claim (``EngineContext.resume``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from videoloom.core.errors import FetchError, JobCancelled, VideoloomError
from videoloom.core.models import ModelRegistry
from videoloom.core.signing import relay_input_path
from videoloom.core.tasks import Task, TaskError, TaskStatus
from videoloom.net import SafeFetcher, decode_image, load_reference_image
from videoloom.observability import bind_task_id
from videoloom.queue import LocalWakeUp
from videoloom.storage.blobs import RELAY_INPUT_NAME, BlobStore, blob_key
from videoloom.storage.repository import TaskRepository
from videoloom.storage.usage import usage_row
from videoloom.worker.render import RenderOutputs, RenderPlan, RenderResult
from videoloom.worker.render_process import RenderCallbacks, RenderPool, RenderRequest, render_request

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["Worker", "WorkerConfig"]

log = logging.getLogger("videoloom.worker")

PROGRESS_INTERVAL_S = 0.5


class WorkerConfig:
    def __init__(
        self,
        *,
        concurrency: int,
        lease_seconds: float,
        max_attempts: int,
        poll_interval: float,
        retention_seconds: int,
        tmp_dir: Path,
        max_image_bytes: int,
        preset: str,
        crf: int,
        models: list[str] | None = None,
        render_isolation: str = "process",
    ) -> None:
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.retention_seconds = retention_seconds
        self.tmp_dir = tmp_dir
        self.max_image_bytes = max_image_bytes
        self.preset = preset
        self.crf = crf
        self.models = models
        self.render_isolation = render_isolation
        """'process': renders run in child processes (``render_process``); 'thread': here."""


class Worker:
    def __init__(
        self,
        *,
        config: WorkerConfig,
        repository: TaskRepository,
        blobs: BlobStore,
        registry: ModelRegistry,
        fetcher: SafeFetcher,
        wakeup: LocalWakeUp,
        on_finished: Callable[[], None] = lambda: None,
        on_task_end: Callable[[Task, str, float, float | None], None] | None = None,
        public_url: str | None = None,
        secret: bytes | None = None,
    ) -> None:
        self.config = config
        self._public_url = public_url
        """Where upstreams reach this server's content routes (``VIDEOLOOM_PUBLIC_BASE_URL``)."""
        self._secret = secret
        """Signs the URLs engines publish (the content routes' key)."""
        self._on_finished = on_finished
        """Called when a task reaches completed or failed (wakes the webhook dispatcher)."""
        self._on_task_end = on_task_end
        """Metrics hook: (task as claimed, outcome, seconds since the claim, render seconds or None)."""
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._repo = repository
        self._blobs = blobs
        self._registry = registry
        self._fetcher = fetcher
        self._wakeup = wakeup
        self._executor = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="render")
        self._pool = RenderPool(config.concurrency) if config.render_isolation == "process" else None
        self._running: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="videoloom-worker")
        if self._pool is not None:
            # In the background: claiming needs no render process, and the first render
            # waits for the one it gets rather than for all of them.
            self._executor.submit(self._pool.start)

    @property
    def running(self) -> bool:
        """The claim loop is alive (``/readyz``)."""
        return self._loop_task is not None and not self._loop_task.done()

    async def stop(self) -> None:
        """Stop claiming, then hand running tasks back to the queue."""
        self._stopping = True
        self._wakeup.notify()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for task in list(self._running.values()):
            task.cancel()
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)
        if self._pool is not None:
            self._pool.close()
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def _loop(self) -> None:
        slots = asyncio.Semaphore(self.config.concurrency)
        while not self._stopping:
            await slots.acquire()
            self._wakeup.clear()
            try:
                now = time.time()
                for task_id in await self._repo.fail_exhausted(
                    now=now, max_attempts=self.config.max_attempts
                ):
                    log.warning("task %s failed: worker lost too many times", task_id)
                task = await self._repo.claim(
                    worker_id=self.id,
                    models=self.config.models,
                    now=now,
                    lease_seconds=self.config.lease_seconds,
                )
            except Exception:
                log.exception("claiming a task failed; retrying after the poll interval")
                task = None
            if task is None:
                slots.release()
                await self._wakeup.wait(self.config.poll_interval)
                continue
            log.info("claimed %s (%s, attempt %d)", task.id, task.kind.value, task.attempts)
            running = asyncio.create_task(self._execute(task), name=f"task-{task.id}")
            self._running[task.id] = running

            def _done(_: asyncio.Task[None], task_id: str = task.id) -> None:
                self._running.pop(task_id, None)
                slots.release()

            running.add_done_callback(_done)

    # --- one task --------------------------------------------------------------------

    async def _execute(self, task: Task) -> None:
        bind_task_id(task.id)  # this asyncio task's log lines carry the task id
        cancelled = threading.Event()
        state = {"progress": 0.0}
        started, outcome = time.monotonic(), "completed"
        monitor = asyncio.create_task(self._monitor(task, state, cancelled))
        try:
            await self._run(task, state, cancelled)
        except asyncio.CancelledError:
            outcome = "released"
            cancelled.set()
            await self._repo.release(task.id, self.id, now=time.time())
            log.info("released %s back to the queue (shutdown)", task.id)
            raise
        except JobCancelled:
            outcome = "lost"
            log.info("stopped %s: lease lost or cancelled", task.id)
        except VideoloomError as exc:
            outcome = "failed"
            await self._fail(task, exc.code, exc.message)
        except Exception as exc:
            outcome = "failed"
            log.exception("task %s failed unexpectedly", task.id)
            await self._fail(task, "internal_error", f"internal error: {type(exc).__name__}: {exc}")
        finally:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
            if state.get("published") and outcome in ("completed", "failed"):
                await self._unpublish(task)
            if self._on_task_end is not None:
                try:
                    self._on_task_end(task, outcome, time.monotonic() - started, state.get("render_seconds"))
                except Exception:
                    log.exception("the task-end hook failed for %s", task.id)

    async def _unpublish(self, task: Task) -> None:
        """The upstream has answered: the clip published for it is no longer served. (Not after a
        lost lease or a shutdown: the task's next run may still need it.)"""
        try:
            await asyncio.to_thread(self._blobs.delete, blob_key(task.tenant_id, task.id, RELAY_INPUT_NAME))
        except Exception:
            log.exception("deleting the published input of %s failed; it goes with the task", task.id)

    async def _fail(self, task: Task, code: str, message: str) -> None:
        log.warning("task %s failed: %s: %s", task.id, code, message)
        now = time.time()
        usage = self._usage(task, status=TaskStatus.FAILED, seconds=0.0, channel=None, now=now)
        if await self._repo.fail(
            task.id, worker_id=self.id, now=now, error=TaskError(code=code, message=message), usage_row=usage
        ):
            self._on_finished()

    def _usage(
        self,
        task: Task,
        *,
        status: TaskStatus,
        seconds: float,
        channel: str | None,
        now: float,
        size: tuple[int, int] | None = None,
    ) -> dict[str, Any]:
        """The task's usage row: seconds generated (0 when it failed), its key, engine and channel."""
        engine = next((m.engine for m in self._registry if m.name == task.model), None)
        width, height = size or (task.params.get("width"), task.params.get("height"))
        return usage_row(
            task_id=task.id,
            tenant_id=task.tenant_id,
            api_key_id=task.api_key_id,
            model=task.model,
            engine=engine,
            channel=channel,
            status=status.value,
            seconds=seconds,
            width=width,
            height=height,
            now=now,
        )

    async def _monitor(self, task: Task, state: dict[str, float], cancelled: threading.Event) -> None:
        """Write progress as it moves and renew the lease; a lost lease stops the render."""
        last_beat = time.monotonic()
        written = 0
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL_S)
            try:
                percent = min(99, int(state["progress"] * 100))
                if percent != written:
                    if not await self._repo.set_progress(task.id, self.id, percent):
                        cancelled.set()
                        return
                    written = percent
                if time.monotonic() - last_beat >= self.config.lease_seconds / 3:
                    if not await self._repo.heartbeat(
                        task.id, self.id, lease_until=time.time() + self.config.lease_seconds
                    ):
                        cancelled.set()
                        return
                    last_beat = time.monotonic()
            except Exception:
                log.exception("heartbeat for %s failed; will retry", task.id)

    async def _load_images(self, task: Task) -> list[Image.Image]:
        images = []
        for key in task.params.get("internal_images", []):
            # Uploaded with the request and stored under the task's own prefix.
            content = await asyncio.to_thread(self._blobs.read_bytes, key)
            images.append(await asyncio.to_thread(decode_image, content))
        for index, url in enumerate(task.params.get("images", [])):
            try:
                images.append(
                    await load_reference_image(url, self._fetcher, max_bytes=self.config.max_image_bytes)
                )
            except FetchError as exc:
                raise FetchError(f"images[{index}]: {exc.message}", code="image_fetch_failed") from exc
        return images

    def _source_key(self, task: Task) -> str | None:
        """The stored source video an extend or edit reads, checked to exist."""
        if task.params.get("mode", task.kind.value) not in ("extend", "edit"):
            return None
        key: str = task.params["source_video_key"]
        if not key or not self._blobs.exists(key):
            raise VideoloomError("the source video's file is missing (deleted?)", code="source_missing")
        return key

    def _plan(self, task: Task, images: list[Image.Image]) -> RenderPlan:
        """The render, with ``source`` left empty: the thread fills in a local copy."""
        params = task.params
        mode = params.get("mode", task.kind.value)
        source = None
        fps = Fraction(params.get("fps", 24)).limit_denominator(1001)
        if mode in ("extend", "edit"):
            fps = Fraction(params["source_fps"]).limit_denominator(1001)
        return RenderPlan(
            mode=mode,
            width=params["width"],
            height=params["height"],
            fps=fps,
            new_seconds=params.get("duration", 0),
            prompt=task.prompt,
            seed=params["seed"],
            upscale=bool(params.get("upscale")),
            reference_images=images,
            source=source,
            start_time=task.start_time,
            preset=self.config.preset,
            crf=self.config.crf,
        )

    def _publisher(self, task: Task, state: dict[str, float]) -> Callable[[Path, float], str] | None:
        """``publish(path, ttl_s)`` for the engine: a copy of ``path`` among the task's files
        and a signed URL to it on this server; None without a public URL. The copy is
        deleted when the task completes or fails (``_unpublish``)."""
        if not self._public_url or self._secret is None:
            return None
        base, secret = self._public_url, self._secret

        def publish(path: Path, ttl_s: float) -> str:
            # put_bytes, not put_file: the engine keeps its file (another channel may want it).
            self._blobs.put_bytes(task.tenant_id, task.id, RELAY_INPUT_NAME, path.read_bytes())
            state["published"] = 1.0
            return base + relay_input_path(secret, task.id, int(time.time() + ttl_s))

        return publish

    def _checkpointer(
        self, task: Task, loop: asyncio.AbstractEventLoop, cancelled: threading.Event
    ) -> Callable[[Mapping[str, Any]], None]:
        """``checkpoint(report)`` for the engine's thread: the task's ``engine_report``, written
        before it returns."""

        def checkpoint(report: Mapping[str, Any]) -> None:
            future = asyncio.run_coroutine_threadsafe(
                self._repo.set_engine_report(task.id, self.id, report), loop
            )
            # Waited for in slices: on shutdown the loop stops serving this thread; the
            # cancel flag set then must end the wait rather than a long timeout.
            while not future.done():
                concurrent.futures.wait([future], timeout=0.25)
                if not future.done() and cancelled.is_set():
                    future.cancel()
                    raise JobCancelled("the task was cancelled or its lease was lost")
            try:
                held = future.result()
            except Exception:
                # The upstream job runs (and bills) already: failing the task now would
                # waste it. Only a crash before the result would resubmit.
                log.exception("recording the checkpoint of %s failed; going on without it", task.id)
                return
            if not held:
                cancelled.set()
                raise JobCancelled("the task is no longer this worker's")

        return checkpoint

    async def _run(self, task: Task, state: dict[str, float], cancelled: threading.Event) -> None:
        spec = self._registry.get(task.model)
        source_key = await asyncio.to_thread(self._source_key, task)
        plan = self._plan(task, await self._load_images(task))
        self.config.tmp_dir.mkdir(parents=True, exist_ok=True)
        stem = self.config.tmp_dir / f"{task.id.replace(':', '_')}-{uuid.uuid4().hex[:8]}"
        outputs = RenderOutputs(
            video=stem.with_suffix(".mp4"),
            thumbnail=stem.with_suffix(".jpg"),
            spritesheet=stem.with_name(stem.name + "-sprites.jpg"),
        )

        def progress(fraction: float) -> None:
            state["progress"] = max(state["progress"], fraction)

        publisher = self._publisher(task, state)

        request = RenderRequest(
            task_id=task.id,
            spec=spec,
            plan=plan,
            outputs=outputs,
            channels=self._registry.channels,
            tmp_dir=self.config.tmp_dir,
            resume=task.engine_report or None,  # only an earlier run of this task wrote it
            can_publish=publisher is not None,
        )
        callbacks = RenderCallbacks(
            progress=progress,
            cancelled=cancelled,
            publish=publisher,
            checkpoint=self._checkpointer(task, asyncio.get_running_loop(), cancelled),
        )

        def work() -> RenderResult:
            with contextlib.ExitStack() as stack:
                job = request
                if source_key is not None:  # a bucket's object is copied down for PyAV to seek in
                    local = stack.enter_context(self._blobs.local_copy(source_key, self.config.tmp_dir))
                    job = dataclasses.replace(request, plan=dataclasses.replace(plan, source=local))
                if self._pool is not None:
                    return self._pool.run(job, callbacks)
                return render_request(job, callbacks)

        keys = {
            "video_key": blob_key(task.tenant_id, task.id, "video.mp4"),
            "thumbnail_key": blob_key(task.tenant_id, task.id, "thumbnail.jpg"),
        }
        try:
            loop = asyncio.get_running_loop()
            rendering = time.monotonic()
            result = await loop.run_in_executor(self._executor, work)
            state["render_seconds"] = time.monotonic() - rendering
            if cancelled.is_set():
                raise JobCancelled("lease lost while rendering")
            # Durable first, then the status: a completed task always has its files.
            await asyncio.to_thread(self._blobs.put_file, keys["thumbnail_key"], outputs.thumbnail)
            await asyncio.to_thread(
                self._blobs.put_file,
                blob_key(task.tenant_id, task.id, "spritesheet.jpg"),
                outputs.spritesheet,
            )
            await asyncio.to_thread(self._blobs.put_file, keys["video_key"], outputs.video)
        finally:
            for path in (outputs.video, outputs.thumbnail, outputs.spritesheet):
                path.unlink(missing_ok=True)
        now = time.time()
        if plan.mode == "edit":
            generated = result.duration  # an edit renders the whole video anew
        else:  # the new part only: an extend's kept part was generated before
            generated = float(max(1, round(plan.new_seconds * plan.fps)) / plan.fps)
        channel = result.report.get("channel")
        usage = self._usage(
            task,
            status=TaskStatus.COMPLETED,
            seconds=generated,
            channel=channel if isinstance(channel, str) else None,
            now=now,
            size=(result.width, result.height),
        )
        done = await self._repo.complete(
            task.id,
            self.id,
            now=now,
            expires_at=int(now) + self.config.retention_seconds,
            output={
                "duration": result.duration,
                "width": result.width,
                "height": result.height,
                "fps": float(result.fps),
                **keys,
                **({"engine": result.report} if result.report else {}),
            },
            usage_row=usage,
        )
        if done:
            log.info("completed %s (%.2f s of video)", task.id, result.duration)
            self._on_finished()
            return
        current = await self._repo.get_any_tenant(task.id)
        if current is None or current.status is TaskStatus.CANCELLED:
            # Deleted or cancelled while rendering: its files must not outlive it.
            await asyncio.to_thread(self._blobs.delete_task, task.tenant_id, task.id)
        log.warning("finished %s but no longer held it; output discarded", task.id)
