"""Many clients polling status while the worker renders: every answer must be a 200.

``run_pollers`` starts ``concurrency`` asyncio pollers that alternate
``GET /v1/video/query?id=…`` and ``GET /v1/videos/{id}`` over the given ids for ``duration``
seconds, while a feeder keeps ``extends_in_flight`` extends running. Latency is measured per
request (client side, so it includes this process's own scheduling) and reported as
percentiles; callers assert on errors only — speed belongs in the benchmarks.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class PollStats:
    duration: float = 0.0
    concurrency: int = 0
    pause: tuple[float, float] = (0.0, 0.0)
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    by_route: Counter[str] = field(default_factory=Counter)
    extends_submitted: list[str] = field(default_factory=list)
    extends_finished: dict[str, str] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return len(self.latencies) + sum(self.errors.values())

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def summary(self) -> str:
        ms = 1000
        rate = self.requests / self.duration if self.duration else 0.0
        return (
            f"{self.concurrency} pollers (pause {self.pause[0]:g}-{self.pause[1]:g} s) for "
            f"{self.duration:.1f} s: {self.requests} requests "
            f"({rate:.0f}/s; {dict(self.by_route)}), errors: {sum(self.errors.values())} "
            f"{dict(self.errors) or ''}\n"
            f"latency p50 {self.percentile(50) * ms:.1f} ms, p90 {self.percentile(90) * ms:.1f} ms, "
            f"p99 {self.percentile(99) * ms:.1f} ms, max {max(self.latencies, default=0) * ms:.1f} ms\n"
            f"extends submitted while polling: {len(self.extends_submitted)}, "
            f"finished: {Counter(self.extends_finished.values())}"
        )


def _record_error(stats: PollStats, kind: str, detail: str) -> None:
    stats.errors[kind] += 1
    if len(stats.error_samples) < 20:
        stats.error_samples.append(detail)


async def _poller(
    client: httpx.AsyncClient,
    ids: list[str],
    deadline: float,
    stats: PollStats,
    seed: int,
    pause: tuple[float, float],
) -> None:
    rng = random.Random(seed)
    await asyncio.sleep(rng.uniform(0, pause[1]))  # do not start in lock step
    for turn in range(1_000_000):  # bounded: the deadline ends it long before
        if turn and pause[1] > 0:
            await asyncio.sleep(rng.uniform(*pause))
        if time.monotonic() >= deadline:
            return
        pool = ids + stats.extends_submitted
        task_id = rng.choice(pool)
        route = "query" if turn % 2 == 0 else "retrieve"
        started = time.perf_counter()
        try:
            if route == "query":
                response = await client.get("/v1/video/query", params={"id": task_id})
            else:
                response = await client.get(f"/v1/videos/{task_id}")
            elapsed = time.perf_counter() - started
        except httpx.HTTPError as exc:
            _record_error(stats, type(exc).__name__, f"{route} {task_id}: {exc!r}")
            continue
        if response.status_code != 200:
            _record_error(stats, f"HTTP {response.status_code}", f"{route} {task_id}: {response.text[:200]}")
            continue
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            _record_error(stats, "bad JSON", f"{route} {task_id}: {response.text[:200]}")
            continue
        if body.get("id") != task_id:
            _record_error(stats, "wrong id", f"{route} {task_id}: {body.get('id')}")
            continue
        stats.latencies.append(elapsed)
        stats.by_route[route] += 1


async def _feeder(
    client: httpx.AsyncClient, source_id: str, deadline: float, stats: PollStats, in_flight: int
) -> None:
    """Keep ``in_flight`` extends running until the deadline."""
    running: set[str] = set()
    for _ in range(10_000):
        if time.monotonic() >= deadline:
            return
        while len(running) < in_flight:
            response = await client.post(
                f"/v1/videos/{source_id}/extend",
                json={"model": "grok-video-3", "prompt": "zoom in slowly", "duration": 6},
            )
            if response.status_code != 200:
                _record_error(stats, f"extend HTTP {response.status_code}", response.text[:200])
                await asyncio.sleep(0.5)
                break
            task_id = response.json()["id"]
            running.add(task_id)
            stats.extends_submitted.append(task_id)
        await asyncio.sleep(0.25)
        for task_id in list(running):
            response = await client.get("/v1/video/query", params={"id": task_id})
            if response.status_code == 200 and response.json()["status"] in ("completed", "failed"):
                running.discard(task_id)
                stats.extends_finished[task_id] = response.json()["status"]


async def run_pollers(
    base_url: str,
    key: str,
    ids: list[str],
    *,
    source_id: str,
    concurrency: int = 100,
    duration: float = 10.0,
    extends_in_flight: int = 2,
    pause: tuple[float, float] = (0.2, 0.6),
) -> PollStats:
    """``pause``: each poller waits a random time in this range between its polls, as real
    pollers do (the SDK waits ``openai-poll-after-ms``, 1 s by default); ``(0, 0)`` is a
    closed loop, whose latency is just concurrency / throughput on this 2-core machine."""
    if not base_url.startswith(("http://127.", "http://[::1]", "http://localhost")):
        raise ValueError(f"pollers talk to loopback only, not {base_url}")
    stats = PollStats(concurrency=concurrency, pause=pause)
    headers = {"Authorization": f"Bearer {key}"}
    # One client (one connection) per poller, as 100 separate users would have: a single pool
    # of 100 connections costs httpx more CPU than the server spends answering. Idle
    # connections are dropped after 2 s, before uvicorn's 5 s keep-alive timeout closes them
    # under a request (that race is the client's, not the server's, to avoid).
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=2.0)
    tls = ssl.create_default_context()  # built once: each client would load the CA store again
    clients = [
        httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30, verify=tls)
        for _ in range(concurrency)
    ]
    try:
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as feeder_client:
            started = time.monotonic()
            deadline = started + duration
            await asyncio.gather(
                _feeder(feeder_client, source_id, deadline, stats, extends_in_flight),
                *(_poller(client, ids, deadline, stats, seed, pause) for seed, client in enumerate(clients)),
            )
            stats.duration = time.monotonic() - started
    finally:
        for client in clients:
            await client.aclose()
    return stats
