"""Renders in child processes, so encoding never shares the API's interpreter lock.

A render thread in the server process takes the GIL for every numpy call, frame
conversion and engine step, and the event loop answering status polls waits for
it: two encodes cut the API's throughput by a third (docs/benchmarks.md §4). Here
each worker slot has a persistent child process (forked from a forkserver that
has the media stack imported, so a new child starts in milliseconds); the
worker's claim loop, leases, progress and database writes stay in the server
process, so the status cache is still emptied by the commits that change a task.

    server process (one thread per running task)        child process (one per slot)
      ("render", RenderRequest)  ───────────────────▶      job thread: engine + render()
      ◀── ("progress", f) · ("log", record) · ("call", n, name, args)
      ("reply", n, outcome)      ───────────────────▶      publish / checkpoint, run in the server
      ("cancel",)                ───────────────────▶      the job's ``cancelled`` event
      ◀── ("done", RenderResult) | ("failed", kind, code, message, param, traceback)

The child's main thread only reads the pipe: when the server dies (even by
``kill -9``) the read fails and the child exits at once, so no orphan keeps
encoding. A child that dies mid-render fails its task (``render_process_died``)
and is replaced for the next one. A cancelled render that does not stop within
``CANCEL_GRACE_S`` (a long engine step) is killed.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from videoloom.core.errors import EngineError, JobCancelled, VideoloomError
from videoloom.core.models import ModelSpec
from videoloom.engines.registry import EngineContext, create_engine
from videoloom.worker.render import RenderOutputs, RenderPlan, RenderResult, render

__all__ = ["RenderCallbacks", "RenderPool", "RenderRequest", "render_request"]

log = logging.getLogger("videoloom.worker")

CANCEL_GRACE_S = 10.0
"""How long a cancelled render may take to stop before its process is killed."""
POLL_S = 0.1
"""How often the server side looks at the cancel flag while a child renders."""
PRELOAD = ["videoloom.worker.render_process", "videoloom.engines.motion"]
"""Imported once in the forkserver, so each child starts with the media stack loaded."""


@dataclass(frozen=True, kw_only=True)
class RenderRequest:
    """Everything a render needs, picklable: the model, the plan, where outputs go."""

    task_id: str
    spec: ModelSpec
    plan: RenderPlan
    outputs: RenderOutputs
    channels: Mapping[str, Mapping[str, Any]]
    tmp_dir: Path
    resume: Mapping[str, Any] | None = None
    can_publish: bool = False


Publish = Callable[[Path, float], str]
Checkpoint = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True, kw_only=True)
class RenderCallbacks:
    """What a render reports to, and asks of, the worker running it (see ``EngineContext``)."""

    progress: Callable[[float], None]
    cancelled: threading.Event
    publish: Publish | None = None
    checkpoint: Checkpoint | None = None


def render_request(request: RenderRequest, callbacks: RenderCallbacks) -> RenderResult:
    """Build the model's engine and run the render (in whichever process this is)."""
    context = EngineContext(
        channels=request.channels,
        tmp_dir=request.tmp_dir,
        publish=callbacks.publish,
        checkpoint=callbacks.checkpoint,
        resume=request.resume,
    )
    engine = create_engine(request.spec, context)
    try:
        return render(
            request.plan,
            engine,
            outputs=request.outputs,
            progress=callbacks.progress,
            cancelled=callbacks.cancelled,
        )
    finally:
        engine.close()


# --- server side ----------------------------------------------------------------------


class RenderProcess:
    """One child process and its pipe; runs one render at a time."""

    def __init__(self, context: Any) -> None:
        self._conn, child_conn = context.Pipe(duplex=True)
        level = logging.getLogger("videoloom").getEffectiveLevel()
        self.process = context.Process(
            target=_child_main, args=(child_conn, level), name="videoloom-render", daemon=True
        )
        self.process.start()
        child_conn.close()  # the child holds its end; ours must not keep the pipe open
        self.broken = False

    def run(self, request: RenderRequest, callbacks: RenderCallbacks) -> RenderResult:
        """Render in the child; blocks this (worker) thread until it is done."""
        calls: dict[str, Callable[..., Any] | None] = {
            "publish": callbacks.publish,
            "checkpoint": callbacks.checkpoint,
        }
        cancelled = callbacks.cancelled
        try:
            self._conn.send(("render", request))
            cancel_deadline: float | None = None
            while True:
                if cancelled.is_set() and cancel_deadline is None:
                    self._conn.send(("cancel",))
                    cancel_deadline = time.monotonic() + CANCEL_GRACE_S
                if cancel_deadline is not None and time.monotonic() > cancel_deadline:
                    log.warning("render of %s did not stop when cancelled; killing it", request.task_id)
                    self.kill()
                    raise JobCancelled("the task was cancelled or its lease was lost")
                if not self._conn.poll(POLL_S):
                    continue
                message = self._conn.recv()
                kind = message[0]
                if kind == "progress":
                    callbacks.progress(message[1])
                elif kind == "log":
                    _replay_log(message[1])
                elif kind == "call":
                    self._conn.send(("reply", message[1], _answer_call(calls.get(message[2]), message[3])))
                elif kind == "done":
                    result: RenderResult = message[1]
                    return result
                elif kind == "failed":
                    raise _error_from_child(request.task_id, *message[1:])
        except (EOFError, OSError) as exc:
            self.broken = True
            self.process.join(timeout=1)
            code = self.process.exitcode
            why = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            raise EngineError(
                f"the render process died ({why}); the render was lost", code="render_process_died"
            ) from exc

    def kill(self) -> None:
        self.broken = True
        self.process.kill()
        self.process.join(timeout=5)

    def close(self) -> None:
        """Ask the child to exit (closing the pipe does it); kill it if it does not."""
        with contextlib.suppress(OSError):
            self._conn.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.kill()


class RenderPool:
    """``size`` persistent render processes, handed out one per running task."""

    def __init__(self, size: int) -> None:
        if "forkserver" in multiprocessing.get_all_start_methods():
            self._context = multiprocessing.get_context("forkserver")
            self._context.set_forkserver_preload(PRELOAD)
        else:  # no forkserver (Windows): each child imports the media stack itself
            self._context = multiprocessing.get_context("spawn")
        self._idle: list[RenderProcess] = []
        self._lock = threading.Lock()
        self._size = size
        self._closed = False

    def start(self) -> None:
        """Start the processes now (blocking: the first one starts the forkserver, ~1 s)."""
        for _ in range(self._size):
            process = RenderProcess(self._context)
            with self._lock:
                if self._closed:
                    process.close()
                    return
                self._idle.append(process)

    def run(self, request: RenderRequest, callbacks: RenderCallbacks) -> RenderResult:
        """Render on an idle process (a new one when none is); blocks until done."""
        with self._lock:
            if self._closed:
                raise JobCancelled("the worker is shutting down")
            process = self._idle.pop() if self._idle else None
        if process is None or not process.process.is_alive():
            if process is not None:
                process.close()
            process = RenderProcess(self._context)
        try:
            return process.run(request, callbacks)
        finally:
            with self._lock:
                keep = not process.broken and not self._closed and len(self._idle) < self._size
                if keep:
                    self._idle.append(process)
            if not keep:
                process.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for process in idle:
            process.close()


def _answer_call(function: Callable[..., Any] | None, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Run an engine's publish/checkpoint for the child; the outcome goes back over the pipe."""
    if function is None:
        return ("error", "other", "engine_error", "this server cannot do that for an engine")
    try:
        return ("ok", function(*args))
    except JobCancelled as exc:
        return ("error", "cancelled", exc.code, exc.message)
    except VideoloomError as exc:
        return ("error", "videoloom", exc.code, exc.message)
    except Exception as exc:  # the engine decides what a failed publish means
        return ("error", "other", "internal_error", f"{type(exc).__name__}: {exc}")


def _error_from_child(
    task_id: str, kind: str, code: str, message: str, param: str | None, trace: str | None
) -> VideoloomError:
    if kind == "cancelled":
        return JobCancelled(message)
    if kind == "videoloom":
        return VideoloomError(message, code=code, param=param)
    log.error("render of %s failed unexpectedly in its process:\n%s", task_id, trace)
    return VideoloomError(f"internal error: {message}", code="internal_error")


def _replay_log(fields: dict[str, Any]) -> None:
    record = logging.makeLogRecord(fields)
    logger = logging.getLogger(record.name)
    if logger.isEnabledFor(record.levelno):
        logger.handle(record)


# --- child side -----------------------------------------------------------------------


class _ChildLink:
    """The child's end of the pipe: sends from the job thread, replies matched to calls."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._send_lock = threading.Lock()
        self._replies: dict[int, tuple[threading.Event, list[Any]]] = {}
        self._next_call = 0

    def send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock:
            self.conn.send(message)

    def call(self, name: str, *args: Any) -> Any:
        """Run ``name`` in the server process and wait for its answer."""
        with self._send_lock:
            self._next_call += 1
            number = self._next_call
            waiter: tuple[threading.Event, list[Any]] = (threading.Event(), [])
            self._replies[number] = waiter
            self.conn.send(("call", number, name, args))
        waiter[0].wait()
        outcome = waiter[1][0]
        if outcome[0] == "ok":
            return outcome[1]
        _, kind, code, message = outcome
        if kind == "cancelled":
            raise JobCancelled(message)
        if kind == "videoloom":
            raise VideoloomError(message, code=code)
        raise RuntimeError(message)

    def reply(self, number: int, outcome: tuple[Any, ...]) -> None:
        event, slot = self._replies.pop(number)
        slot.append(outcome)
        event.set()


class _PipeLogHandler(logging.Handler):
    """Sends the child's log records to the server, which logs them with its own handlers."""

    def __init__(self, link: _ChildLink) -> None:
        super().__init__()
        self.link = link
        self.task_id: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = dict(record.__dict__)
            fields["msg"] = record.getMessage()
            fields["args"] = None
            if record.exc_info:
                fields["exc_text"] = logging.Formatter().formatException(record.exc_info)
            fields["exc_info"] = None
            if fields.get("task_id") is None:
                fields["task_id"] = self.task_id
            self.link.send(("log", fields))
        except Exception:
            self.handleError(record)


def _child_main(conn: Connection, log_level: int) -> None:
    """The child: read the pipe, run each render in a job thread, exit when the pipe closes."""
    # A stop signal for the whole group (systemd's stop, Ctrl-C in a terminal) is the server's
    # to handle: it cancels the render and hands the task back to the queue, then closes the
    # pipe. Dying here first would fail the task as render_process_died instead.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    link = _ChildLink(conn)
    handler = _PipeLogHandler(link)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(log_level)
    cancelled = threading.Event()
    job: threading.Thread | None = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            os._exit(0)  # the server is gone (or closed us): stop at once, mid-render or not
        kind = message[0]
        if kind == "render":
            if job is not None:
                job.join()
            cancelled = threading.Event()
            handler.task_id = message[1].task_id
            job = threading.Thread(
                target=_run_job, args=(link, message[1], cancelled), name="render", daemon=True
            )
            job.start()
        elif kind == "cancel":
            cancelled.set()
        elif kind == "reply":
            link.reply(message[1], message[2])


def _run_job(link: _ChildLink, request: RenderRequest, cancelled: threading.Event) -> None:
    sent = [-1]

    def progress(fraction: float) -> None:
        percent = int(fraction * 1000)  # tenths of a percent: enough for the server's whole percents
        if percent != sent[0]:
            sent[0] = percent
            link.send(("progress", fraction))

    def publish(path: Path, ttl_s: float) -> str:
        url: str = link.call("publish", path, ttl_s)
        return url

    def checkpoint(report: Mapping[str, Any]) -> None:
        link.call("checkpoint", dict(report))

    try:
        result = render_request(
            request,
            RenderCallbacks(
                progress=progress,
                cancelled=cancelled,
                publish=publish if request.can_publish else None,
                checkpoint=checkpoint,
            ),
        )
    except JobCancelled as exc:
        link.send(("failed", "cancelled", exc.code, exc.message, exc.param, None))
    except VideoloomError as exc:
        link.send(("failed", "videoloom", exc.code, exc.message, exc.param, None))
    except BaseException as exc:
        trace = traceback.format_exc()
        link.send(("failed", "other", "internal_error", f"{type(exc).__name__}: {exc}", None, trace))
    else:
        link.send(("done", result))
