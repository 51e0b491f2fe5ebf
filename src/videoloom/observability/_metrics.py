"""Prometheus metrics of one server, in a registry of its own.

Two kinds of numbers:

* **observed** as things happen: HTTP latency per route template (the
  ``RequestContext`` middleware), and per finished task its run time, queue
  wait and render time (the worker's ``on_task_end`` hook);
* **read from the database at scrape time** (``refresh``): tasks by status and
  model, queue depth and age, webhook deliveries by status. These survive
  restarts and count every worker sharing the database, which in-process
  counters could not.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from videoloom import __version__
from videoloom.core.tasks import Task
from videoloom.storage.probes import StoreSnapshot

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

# No ``*_created`` series beside every counter and histogram: they double the output and
# Prometheus itself does not use them. (A process-wide switch of prometheus_client.)
disable_created_metrics()

_TASK_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """Every metric Videoloom exports; see ``docs/observability.md`` for the list."""

    def __init__(self) -> None:
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        Gauge("videoloom_build_info", "Videoloom version.", ["version"], registry=r).labels(__version__).set(
            1
        )

        self.http_requests = Counter(
            "videoloom_http_requests",
            "HTTP requests answered, by route template and status code.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "videoloom_http_request_duration_seconds",
            "Time to answer an HTTP request (to the end of the body), by route template.",
            ["method", "route"],
            buckets=_HTTP_BUCKETS,
            registry=r,
        )

        self.tasks_finished = Counter(
            "videoloom_tasks_finished",
            "Tasks a worker of this process finished: completed, failed, lost (lease lost or "
            "cancelled) or released (handed back on shutdown).",
            ["model", "kind", "outcome"],
            registry=r,
        )
        self.task_duration = Histogram(
            "videoloom_task_duration_seconds",
            "Wall time from a worker's claim to the task's end (images, render, storing).",
            ["model", "kind", "outcome"],
            buckets=_TASK_BUCKETS,
            registry=r,
        )
        self.render_seconds = Histogram(
            "videoloom_render_seconds",
            "Engine and encoder time of one render (decode, generate, encode), in the render thread.",
            ["model", "kind"],
            buckets=_TASK_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "videoloom_task_queue_wait_seconds",
            "Time from a task's creation to its claim by a worker (whole-second resolution).",
            ["model", "kind"],
            buckets=_TASK_BUCKETS,
            registry=r,
        )

        self.tasks = Gauge(
            "videoloom_tasks",
            "Tasks in the database by status and model, read at scrape time.",
            ["status", "model"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "videoloom_queue_depth", "Queued tasks waiting for a worker, read at scrape time.", registry=r
        )
        self.queue_oldest_age = Gauge(
            "videoloom_queue_oldest_age_seconds",
            "How long the oldest queued task has waited (0 when the queue is empty).",
            registry=r,
        )
        self.webhook_deliveries = Gauge(
            "videoloom_webhook_deliveries",
            "Webhook deliveries in the outbox by status, read at scrape time.",
            ["status"],
            registry=r,
        )
        self.scrape_errors = Counter(
            "videoloom_metrics_scrape_errors",
            "Scrapes whose database read failed (the gauges then keep their previous values).",
            registry=r,
        )

    # --- observed ------------------------------------------------------------------------

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        # Labelled children are looked up once per (method, route, status): ``labels()`` costs
        # more than the observation, and this runs on every request. Routes are templates, so
        # the set stays small.
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.http_requests.labels(method, route, str(status)),
                self.http_latency.labels(method, route),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def task_finished(self, task: Task, outcome: str, seconds: float, render_seconds: float | None) -> None:
        """The worker's ``on_task_end`` hook: ``task`` as claimed, ``seconds`` since the claim."""
        kind = task.kind.value
        if task.attempts == 1 and task.started_at is not None:  # a re-claim would count the wait twice
            self.queue_wait.labels(task.model, kind).observe(max(0, task.started_at - task.created_at))
        self.tasks_finished.labels(task.model, kind, outcome).inc()
        self.task_duration.labels(task.model, kind, outcome).observe(seconds)
        if render_seconds is not None:
            self.render_seconds.labels(task.model, kind).observe(render_seconds)

    # --- read at scrape time -------------------------------------------------------------

    def apply(self, snap: StoreSnapshot) -> None:
        self.tasks.clear()
        for (status, model), count in sorted(snap.tasks.items()):
            self.tasks.labels(status, model).set(count)
        self.queue_depth.set(snap.queued)
        self.queue_oldest_age.set(snap.oldest_queued_age)
        self.webhook_deliveries.clear()
        for status, count in sorted(snap.webhook_deliveries.items()):
            self.webhook_deliveries.labels(status).set(count)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
