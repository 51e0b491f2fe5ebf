"""Nothing is lost on a crash: kill -9 the server mid-extend, start it again, the task completes."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ServerProcess, decode_all, upload, wait_for_task

pytestmark = pytest.mark.slow


def extend_until_rendering(client: httpx.Client, clip: Path, *, seconds: int) -> dict[str, Any]:
    """Upload ``clip``, extend it at second 4 to 1080P, and return once the render is under way."""
    source = upload(client, clip)
    created: dict[str, Any] = client.post(
        f"/v1/videos/{source['id']}/extend",
        json={
            "model": "grok-video-3",
            "prompt": "keep going",
            "start_time": 4,
            "duration": seconds,
            "size": "1080P",
        },
    ).json()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = client.get("/v1/video/query", params={"id": created["id"]}).json()
        if state["state"] == "processing" and state["progress"] > 0:
            break
        time.sleep(0.05)
    assert state["state"] == "processing" and state["status"] != "completed", state
    return created


def test_kill_9_during_an_extend_still_completes_after_restart(tmp_path: Path, clip_10s: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    key = server.cli("keys", "create", "--name", "crash").stdout.strip()
    server.start()
    try:
        with server.client(key) as client:
            created = extend_until_rendering(client, clip_10s, seconds=8)
        server.stop(kill=True)
        # No half-written output sits where a download would find it.
        stored = [str(p) for p in (tmp_path / "data" / "blobs").rglob("*.mp4")]
        assert not [p for p in stored if created["id"].replace(":", "_") in p], stored

        server.start()
        with server.client(key) as client:
            done = wait_for_task(client, created["id"], timeout=240)
            assert done["status"] == "completed", done
            frames, _ = decode_all(httpx.get(done["video_url"], timeout=60, follow_redirects=True).content)
        assert abs(len(frames) - 12 * 24) <= 1
        assert frames[0].shape == (1080, 1920, 3)
    finally:
        server.stop()


def test_sigterm_to_the_whole_group_hands_the_render_back(tmp_path: Path, clip_10s: Path) -> None:
    """systemd's stop (SIGTERM to every process of the service) or Ctrl-C mid-extend: the render
    processes leave the stop to the server, which hands the task back to the queue rather than
    failing it; no render process outlives the server; after a restart the task completes."""
    server = ServerProcess(tmp_path / "data")
    key = server.cli("keys", "create", "--name", "stop").stdout.strip()
    server.start(own_group=True)
    assert server.proc is not None
    group = server.proc.pid
    try:
        with server.client(key) as client:
            created = extend_until_rendering(client, clip_10s, seconds=10)
        os.killpg(group, signal.SIGTERM)
        server.proc.wait(timeout=30)
        log = server.log_path.read_text()
        assert f"released {created['id']} back to the queue" in log, log[-3000:]
        assert "render_process_died" not in log
        deadline = time.monotonic() + 10
        while _group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _group_alive(group), "a render process outlived the server"

        server.start()
        with server.client(key) as client:
            done = wait_for_task(client, created["id"], timeout=240)
        assert done["status"] == "completed", done
    finally:
        server.stop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
