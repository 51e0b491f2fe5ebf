"""Benchmark 4: status polls per second and latency at 100 concurrent clients, vs a bare endpoint.

``wrk -t1 -c100 --latency`` (Debian's wrk, on 127.0.0.1) against

* Videoloom's status call, ``GET /v1/video/query?id=…`` (a completed task: auth,
  the task read, two signed URLs, the response model), on ``videoloom serve``
  with its embedded worker (``worker_concurrency=2``, default encoder settings);
* the floor: a bare Starlette endpoint answering the very JSON Videoloom answers
  for that task, on the same uvicorn stack and options (``bench/servers.py``).

Each is measured idle, and again while the Videoloom server is encoding two
extends (15 s each of a 30 s 1280×720 source; more are queued behind them, so
two are encoding from the first loaded run to the last, checked at the end).
Under load both targets share the machine with the same two encodes, so the
"under load" ratio compares the two stacks in the same conditions. The targets
alternate, several short runs each, and the median run counts: this machine's
speed drifts too much for one run after the other.
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


EXTEND_SECONDS = 15
EXTENDS_QUEUED = 8
"""Extends submitted for the loaded runs: the worker renders two at a time, the rest wait, so two
are encoding from the first loaded run to the last (checked when the last run ends)."""


def start_extends(client: httpx.Client, source_id: str, *, seconds: int, count: int = 2) -> list[str]:
    ids = []
    for _ in range(count):
        response = client.post(
            f"/v1/videos/{source_id}/extend",
            json={
                "model": "grok-video-3",
                "prompt": "the camera keeps moving",
                "start_time": 10,
                "duration": seconds,
            },
        )
        response.raise_for_status()
        ids.append(str(response.json()["id"]))
    deadline = time.monotonic() + 60
    while sum(state(client, i) == "processing" for i in ids) < 2:
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


def interleaved(
    targets: dict[str, tuple[str, dict[str, str] | None]], *, rounds: int, seconds: int
) -> dict[str, dict[str, float]]:
    """``rounds`` alternating wrk runs per target; the median run of each (by req/s).

    This machine's speed drifts by tens of percent over seconds (a shared VM), so one run
    per target, one after the other, compared the drift as much as the servers.
    """
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, (url, headers) in targets.items():
            runs[name].append(wrk(url, seconds=seconds, headers=headers))
    return {name: sorted(found, key=lambda r: r["rps"])[len(found) // 2] for name, found in runs.items()}


def main() -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3, help="length of one wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating runs per target and condition")
    args = parser.parse_args()
    log(f"# API overhead: wrk -t1 -c100, {args.rounds} alternating runs of {args.seconds} s ({cpu_info()})")
    src = source(30)
    with Videoloom(worker_concurrency="2") as server, server.client() as client:
        source_id = upload(client, src)
        status_url = f"{server.base_url}/v1/video/query?id={source_id}"
        auth = {"Authorization": f"Bearer {server.key}"}
        # The floor answers the very JSON Videoloom answers for this task: same bytes on the wire.
        answer = client.get("/v1/video/query", params={"id": source_id}).json()
        with Bare(body=answer) as bare:
            targets = {"videoloom": (status_url, auth), "bare": (f"{bare.base_url}/status", None)}
            idle, loaded = measure(client, targets, source_id, args)
    return report(idle, loaded)


def measure(
    client: httpx.Client, targets: dict[str, tuple[str, dict[str, str] | None]], source_id: str, args: Any
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Idle runs, then runs while two extends encode: each the median of interleaved rounds."""
    for url, headers in targets.values():  # warm up: connections, caches, first-request paths
        wrk(url, seconds=1, headers=headers)
    idle = interleaved(targets, rounds=args.rounds, seconds=args.seconds)
    ids = start_extends(client, source_id, seconds=EXTEND_SECONDS, count=EXTENDS_QUEUED)
    loaded = interleaved(targets, rounds=args.rounds, seconds=args.seconds)
    states = [state(client, i) for i in ids]
    if states.count("processing") != 2:
        raise RuntimeError(f"fewer than two extends were encoding at the end ({states}): queue more")
    wait_done(client, ids)
    return idle, loaded


def report(idle: dict[str, dict[str, float]], loaded: dict[str, dict[str, float]]) -> list[str]:
    show("bare Starlette, idle", idle["bare"])
    show("videoloom status, idle", idle["videoloom"])
    show("bare Starlette, 2 extends encoding", loaded["bare"])
    show("videoloom status, 2 extends encoding", loaded["videoloom"])
    return [
        bench_line(
            "api_status_vs_bare_under_load", loaded["videoloom"]["rps"] / loaded["bare"]["rps"], ">=0.7"
        ),
        bench_line("api_status_vs_bare_idle", idle["videoloom"]["rps"] / idle["bare"]["rps"], "info"),
        bench_line("api_status_under_load_rps", loaded["videoloom"]["rps"], "info"),
        bench_line("api_status_under_load_p50_ms", loaded["videoloom"]["p50"], "info"),
        bench_line("api_status_under_load_p99_ms", loaded["videoloom"]["p99"], "info"),
    ]


if __name__ == "__main__":
    main()
