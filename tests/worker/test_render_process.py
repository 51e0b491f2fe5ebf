"""Renders in child processes (``worker/render_process.py``): results, progress, logs, errors,
cancellation, a child killed mid-render, and children that never outlive the server."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tests.support import clip_frame, decode_all, psnr
from videoloom.core.errors import EngineError, JobCancelled, VideoloomError
from videoloom.core.models import ModelSpec
from videoloom.worker.render import RenderOutputs, RenderPlan
from videoloom.worker.render_process import RenderCallbacks, RenderPool, RenderRequest

MOTION = ModelSpec(name="grok-video-3", engine="motion", id_prefix="grok")


def request(tmp: Path, *, seconds: float = 1, spec: ModelSpec = MOTION, **plan: Any) -> RenderRequest:
    name = f"out-{time.monotonic_ns()}"
    return RenderRequest(
        task_id="grok:test",
        spec=spec,
        plan=RenderPlan(
            mode=plan.pop("mode", "generate"),
            width=320,
            height=180,
            fps=Fraction(24),
            new_seconds=seconds,
            prompt="a red ball rolls across the floor",
            seed=7,
            **plan,
        ),
        outputs=RenderOutputs(
            video=tmp / f"{name}.mp4", thumbnail=tmp / f"{name}.jpg", spritesheet=tmp / f"{name}-s.jpg"
        ),
        channels={},
        tmp_dir=tmp,
    )


@pytest.fixture(scope="module")
def pool() -> Iterator[RenderPool]:
    # Children log at the level the server's "videoloom" logger had when they started.
    logger = logging.getLogger("videoloom")
    level, _ = logger.level, logger.setLevel(logging.INFO)
    pool = RenderPool(1)
    pool.start()
    logger.setLevel(level)
    yield pool
    pool.close()


def callbacks(**overrides: Any) -> RenderCallbacks:
    return RenderCallbacks(**{"progress": lambda fraction: None, "cancelled": threading.Event(), **overrides})


def test_renders_in_another_process_with_progress(pool: RenderPool, tmp_path: Path) -> None:
    seen: list[float] = []
    job = request(tmp_path, seconds=2)
    result = pool.run(job, callbacks(progress=seen.append))
    assert result.frame_count == 48 and (result.width, result.height) == (320, 180)
    frames, _ = decode_all(job.outputs.video)
    assert len(frames) == 48 and frames[0].shape == (180, 320, 3)
    assert job.outputs.thumbnail.stat().st_size > 0 and job.outputs.spritesheet.stat().st_size > 0
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 2


def test_same_frames_as_a_render_in_this_process(pool: RenderPool, tmp_path: Path) -> None:
    from videoloom.worker.render_process import render_request

    there, here = request(tmp_path), request(tmp_path)
    pool.run(there, callbacks())
    render_request(here, callbacks())
    a, _ = decode_all(there.outputs.video)
    b, _ = decode_all(here.outputs.video)
    assert len(a) == len(b) == 24
    # The same frames went to the encoder (x264 with threads is not bit-exact run to run).
    assert min(psnr(x, y) for x, y in zip(a, b, strict=True)) > 50


def test_an_extend_reads_its_source_in_the_child_and_its_logs_come_back(
    pool: RenderPool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.media.sources import encode_h264

    source = encode_h264(tmp_path / "src.mp4", [clip_frame(i, 320, 180) for i in range(72)], gop=24)
    job = request(tmp_path, mode="extend", source=source, start_time=2, seconds=1)
    with caplog.at_level(logging.INFO, logger="videoloom"):
        result = pool.run(job, callbacks())
    # The render ran in the child: its records came over the pipe, tagged with the task.
    (line,) = [r for r in caplog.records if r.getMessage().startswith("smart cut")]
    assert line.process != os.getpid() and line.task_id == "grok:test"  # type: ignore[attr-defined]
    frames, _ = decode_all(job.outputs.video)
    assert result.frame_count == len(frames) == 72
    original, _ = decode_all(source)
    assert min(psnr(frames[i], original[i]) for i in range(48)) > 35


def test_engine_errors_keep_their_code(pool: RenderPool, tmp_path: Path) -> None:
    broken = ModelSpec(name="broken", engine="motion", id_prefix="b", options={"no_such_option": 1})
    with pytest.raises(VideoloomError) as caught:
        pool.run(request(tmp_path, spec=broken), callbacks())
    assert caught.value.code == "engine_config" and "no_such_option" in caught.value.message
    # The process survived the error and renders the next task.
    assert pool.run(request(tmp_path), callbacks()).frame_count == 24


def test_cancel_stops_the_render_and_the_process_is_reused(pool: RenderPool, tmp_path: Path) -> None:
    cancelled = threading.Event()

    def progress(fraction: float) -> None:
        if fraction > 0.05:
            cancelled.set()

    started = time.monotonic()
    with pytest.raises(JobCancelled):
        pool.run(request(tmp_path, seconds=60), callbacks(progress=progress, cancelled=cancelled))
    assert time.monotonic() - started < 30  # 60 s of video is far more than that here
    assert pool.run(request(tmp_path), callbacks()).frame_count == 24


def test_a_child_killed_mid_render_fails_the_render_and_is_replaced(tmp_path: Path) -> None:
    pool = RenderPool(1)
    try:
        pool.start()
        (child,) = pool._idle
        killed = threading.Event()

        def progress(fraction: float) -> None:
            if not killed.is_set():
                killed.set()
                os.kill(child.process.pid, signal.SIGKILL)

        with pytest.raises(EngineError) as caught:
            pool.run(request(tmp_path, seconds=30), callbacks(progress=progress))
        assert caught.value.code == "render_process_died" and "signal 9" in caught.value.message
        assert pool.run(request(tmp_path), callbacks()).frame_count == 24
        assert pool._idle[0].process.pid != child.process.pid
    finally:
        pool.close()


def test_children_exit_when_the_server_is_killed(tmp_path: Path) -> None:
    """``kill -9`` of the server: its render process stops within seconds, mid-render."""
    script = textwrap.dedent(
        f"""
        import sys, threading
        from pathlib import Path
        from tests.worker.test_render_process import callbacks, request
        from videoloom.worker.render_process import RenderPool

        pool = RenderPool(1)
        pool.start()
        print(pool._idle[0].process.pid, flush=True)
        pool.run(request(Path({str(tmp_path)!r}), seconds=600), callbacks())
        """
    )
    server = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2]
    )
    try:
        child = int(server.stdout.readline())  # type: ignore[union-attr]
        time.sleep(1.0)  # rendering now
        assert _alive(child)
        server.kill()
        server.wait()
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child), "the render process outlived the server"
    finally:
        server.kill()
        server.wait()
        server.stdout.close()  # type: ignore[union-attr]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
