"""Scale-out on PostgreSQL + S3: two API-only nodes, two workers, one database, one bucket."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import (
    AWS_TEST_ENV,
    MotoServer,
    ServerProcess,
    create_postgres_database,
    decode_all,
    make_clip,
    upload,
    wait_for_task,
)

pytestmark = pytest.mark.slow


class Cluster:
    def __init__(self, tmp_path: Path, moto: MotoServer) -> None:
        settings = {
            "database_url": create_postgres_database(),
            **moto.settings(tmp_path.name),
            "lease_seconds": "3",
            "secret_key": "ab" * 32,  # shared, so signed links open on every node
        }
        self.nodes = [
            ServerProcess(
                tmp_path / f"node{i}",
                extra_env=AWS_TEST_ENV,
                moto=moto,
                embedded_worker="false",
                content_delivery=delivery,
                **settings,
            )
            for i, delivery in enumerate(("redirect", "stream"))
        ]
        self.worker_env = {**self.nodes[0].env, "VIDEOLOOM_DATA_DIR": str(tmp_path / "workers")}
        self.workers: list[subprocess.Popen[bytes]] = []

    def start(self) -> str:
        key = self.nodes[0].cli("keys", "create", "--name", "cluster").stdout.strip()
        for node in self.nodes:
            node.start()
        for _ in range(2):
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "videoloom", "worker", "--concurrency", "1"],
                    env=self.worker_env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        return key

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        for node in self.nodes:
            node.stop()


@pytest.fixture
def cluster(tmp_path: Path, moto: MotoServer) -> Iterator[tuple[Cluster, str]]:
    c = Cluster(tmp_path, moto)
    key = c.start()
    yield c, key
    c.stop()


def test_two_api_nodes_two_workers(cluster: tuple[Cluster, str], tmp_path: Path, moto: MotoServer) -> None:
    c, key = cluster
    a, b = (node.client(key) for node in c.nodes)
    source = upload(a, make_clip(tmp_path / "src.mp4", seconds=4, width=640, height=360))

    # An SSE stream on node A, for a task that node B accepts.
    watched = b.post(
        f"/v1/videos/{source['id']}/extend",
        json={"model": "grok-video-3", "prompt": "pan left", "duration": 3},
    ).json()["id"]
    events: list[dict[str, Any]] = []

    def listen() -> None:
        with httpx.stream(
            "GET",
            f"{c.nodes[0].base_url}/v1/videos/{watched}/events",
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line.removeprefix("data: ")))

    listener = threading.Thread(target=listen)
    listener.start()

    ids = [watched]
    for i in range(11):
        client = (a, b)[i % 2]
        response = client.post(
            f"/v1/videos/{source['id']}/extend",
            json={"model": "grok-video-3", "prompt": f"take {i}", "duration": 3, "start_time": 2},
        )
        assert response.status_code == 200, response.text
        ids.append(response.json()["id"])

    # kill -9 a worker while it holds a task (after it finished one): delayed, not lost.
    victim = c.workers[0]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        states = [a.get("/v1/video/query", params={"id": i}).json() for i in ids]
        mine = [r for r in states if f":{victim.pid}:" in (r["worker_id"] or "")]
        if any(r["state"] == "completed" for r in mine) and any(r["state"] == "processing" for r in mine):
            break
        time.sleep(0.05)
    else:
        pytest.fail("the first worker never held a task after finishing one")
    victim.kill()
    victim.wait()

    finished = [wait_for_task((a, b)[n % 2], task_id, timeout=240) for n, task_id in enumerate(ids)]
    assert all(f["status"] == "completed" for f in finished), [f["error"] for f in finished]
    workers = {f["worker_id"].split(":")[1] for f in finished}
    assert workers == {str(victim.pid), str(c.workers[1].pid)}, workers  # both took work
    assert any(f["attempts"] == 2 for f in finished), "no task was taken over after the kill"

    listener.join(timeout=60)
    progress = [e["progress"] for e in events]
    assert events and events[-1]["status"] == "completed" and progress == sorted(progress)

    # The files are in the bucket, and either node serves them with Range.
    stored = moto.keys(c.nodes[0].storage_prefix)
    for f in finished:
        assert any(f["id"].replace(":", "_") in k and k.endswith("video.mp4") for k in stored)
    path = f"/v1/videos/{ids[3]}/content"
    for client in (a, b):
        full = client.get(path, follow_redirects=True)
        assert full.status_code == 200
        part = client.get(path, headers={"Range": "bytes=10-99"}, follow_redirects=True)
        assert part.status_code == 206 and part.content == full.content[10:100]
    frames, _ = decode_all(full.content)
    assert len(frames) == 24 * 5  # 2 s kept + 3 s new
    signed_on_a = a.get("/v1/video/query", params={"id": ids[3]}).json()["video_url"]
    on_b = signed_on_a.replace(c.nodes[0].base_url, c.nodes[1].base_url)
    assert httpx.get(on_b, follow_redirects=True).content == full.content
    a.close()
    b.close()


def test_api_nodes_on_one_database_share_the_rate_limit(tmp_path: Path) -> None:
    """Behind a load balancer a key gets one limit, not one per node."""
    settings = {"database_url": create_postgres_database(), "rate_limit_per_minute": "4"}
    nodes = [ServerProcess(tmp_path / f"node{i}", embedded_worker="false", **settings) for i in range(2)]
    key = nodes[0].cli("keys", "create", "--name", "limited").stdout.strip()
    body = {"model": "grok-video-3", "prompt": "x", "duration": 1}
    try:
        for node in nodes:
            node.start()
        clients = [node.client(key) for node in nodes]
        answers = [clients[i % 2].post("/v1/video/create", json=body) for i in range(4)]
        assert [a.status_code for a in answers] == [200] * 4
        for client in clients:
            refused = client.post("/v1/video/create", json=body)
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"]["type"] == "rate_limit_error"
            assert 1 <= int(refused.headers["retry-after"]) <= 60
        for client in clients:
            client.close()
    finally:
        for node in nodes:
            node.stop()
