"""Benchmark 4: status polls per second and latency at 100 concurrent clients, vs a bare endpoint.

``wrk -t1 -c100 -d8s --latency`` (Debian's wrk, on 127.0.0.1) against

* Videoloom's status call, ``GET /v1/video/query?id=…`` (auth, a database
  read, the response model), on ``videoloom serve`` with its embedded worker
  (``worker_concurrency=2``, default encoder settings);
* the floor: a bare Starlette endpoint returning a JSON body of the same shape,
  on the same uvicorn stack and options (``bench/servers.py``).

Each is measured idle, and again while the Videoloom server is encoding two
extends (15 s each of a 30 s 1280×720 source, checked to be still running when
wrk ends). Under load both targets share the machine with the same two encodes,
so the "under load" ratio compares the two stacks in the same conditions.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import httpx

from bench.common import bench_line, cpu_info, log, source
from bench.servers import Bare, Videoloom, wrk


def upload(client: httpx.Client, path: Any) -> str:
    with open(path, "rb") as handle:
        response = client.post("/v1/videos/uploads", files={"file": (path.name, handle, "video/mp4")})
    response.raise_for_status()
    return str(response.json()["id"])


def start_extends(client: httpx.Client, source_id: str, count: int = 2) -> list[str]:
    ids = []
    for _ in range(count):
        response = client.post(
            f"/v1/videos/{source_id}/extend",
            json={
                "model": "grok-video-3",
                "prompt": "the camera keeps moving",
                "start_time": 10,
                "duration": 15,
            },
        )
        response.raise_for_status()
        ids.append(str(response.json()["id"]))
    deadline = time.monotonic() + 60
    while any(state(client, i) != "processing" for i in ids):
        if time.monotonic() > deadline:
            raise RuntimeError("the extends did not start")
        time.sleep(0.05)
    time.sleep(1.0)  # past the source decode / engine warm-up: encoding now
    return ids


def state(client: httpx.Client, task_id: str) -> str:
    return str(client.get("/v1/video/query", params={"id": task_id}).json()["state"])


def wait_done(client: httpx.Client, ids: list[str]) -> None:
    deadline = time.monotonic() + 600
    while any(state(client, i) not in ("completed", "failed") for i in ids):
        if time.monotonic() > deadline:
            raise RuntimeError("the extends did not finish")
        time.sleep(0.5)


def show(label: str, result: dict[str, float]) -> None:
    rps, p50, p99 = result["rps"], result["p50"], result["p99"]
    log(f"  {label:<38} {rps:>9.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:7.2f} ms")


def main() -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    log(f"# API overhead: wrk -t1 -c100 -d{args.seconds}s ({cpu_info()})")
    src = source(30)
    with Videoloom(worker_concurrency="2") as server, Bare() as bare, server.client() as client:
        source_id = upload(client, src)
        status_url = f"{server.base_url}/v1/video/query?id={source_id}"
        auth = {"Authorization": f"Bearer {server.key}"}
        bare_url = f"{bare.base_url}/status"
        # Warm both up (connections, caches, the first-request paths).
        wrk(status_url, seconds=1, headers=auth)
        wrk(bare_url, seconds=1)

        results: dict[str, dict[str, float]] = {}
        results["bare_idle"] = wrk(bare_url, seconds=args.seconds)
        results["videoloom_idle"] = wrk(status_url, seconds=args.seconds, headers=auth)
        for name, url, headers in (
            ("videoloom_load", status_url, auth),
            ("bare_load", bare_url, None),
        ):
            ids = start_extends(client, source_id)
            results[name] = wrk(url, seconds=args.seconds, headers=headers)
            states = [state(client, i) for i in ids]
            if states != ["processing", "processing"]:
                raise RuntimeError(f"an extend finished during the measurement ({states}): make them longer")
            wait_done(client, ids)

    show("bare Starlette, idle", results["bare_idle"])
    show("videoloom status, idle", results["videoloom_idle"])
    show("bare Starlette, 2 extends encoding", results["bare_load"])
    show("videoloom status, 2 extends encoding", results["videoloom_load"])
    lines = [
        bench_line(
            "api_status_vs_bare_under_load",
            results["videoloom_load"]["rps"] / results["bare_load"]["rps"],
            ">=0.7",
        ),
        bench_line(
            "api_status_vs_bare_idle", results["videoloom_idle"]["rps"] / results["bare_idle"]["rps"], "info"
        ),
        bench_line("api_status_under_load_rps", results["videoloom_load"]["rps"], "info"),
        bench_line("api_status_under_load_p50_ms", results["videoloom_load"]["p50"], "info"),
        bench_line("api_status_under_load_p99_ms", results["videoloom_load"]["p99"], "info"),
    ]
    return lines


if __name__ == "__main__":
    main()
