"""Nothing is lost on a crash: kill -9 the server mid-extend, start it again, the task completes."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.support import ServerProcess, decode_all, upload, wait_for_task

pytestmark = pytest.mark.slow


def test_kill_9_during_an_extend_still_completes_after_restart(tmp_path: Path, clip_10s: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    key = server.cli("keys", "create", "--name", "crash").stdout.strip()
    server.start()
    try:
        with server.client(key) as client:
            source = upload(client, clip_10s)
            created = client.post(
                f"/v1/videos/{source['id']}/extend",
                json={
                    "model": "grok-video-3",
                    "prompt": "keep going",
                    "start_time": 4,
                    "duration": 8,
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
