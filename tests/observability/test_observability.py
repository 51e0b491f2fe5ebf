"""``/metrics`` (Prometheus text format), ``/readyz``, request ids and JSON logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import ServerProcess, wait_for_task

pytestmark = pytest.mark.slow


def scrape(base_url: str) -> dict[str, list[Any]]:
    """Samples by sample name (``videoloom_tasks_finished_total``, ``…_bucket``, …)."""
    response = httpx.get(f"{base_url}/metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def total(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    return sum(s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items()))


def test_readyz_and_healthz(server: ServerProcess) -> None:
    ready = httpx.get(f"{server.base_url}/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "blob_store", "tmp_dir", "worker"}
    assert set(body["checks"].values()) == {"ok"}
    assert httpx.get(f"{server.base_url}/healthz", timeout=30).status_code == 200


def test_metrics_parse_and_move_when_a_task_runs(server: ServerProcess, alice: httpx.Client) -> None:
    before = scrape(server.base_url)
    finished = "videoloom_tasks_finished_total"
    durations = "videoloom_task_duration_seconds_count"
    labels = {"model": "grok-video-3", "kind": "generate"}

    created = alice.post(
        "/v1/video/create",
        json={"model": "grok-video-3", "prompt": "a calm sea, slowly zoom in", "duration": 1},
    )
    assert created.status_code == 200, created.text
    assert wait_for_task(alice, created.json()["id"])["status"] == "completed"

    after = scrape(server.base_url)
    # At least this task (on the shared server another test's task may finish in between).
    for name in (finished, durations):
        grown = total(after, name, outcome="completed", **labels) - total(
            before, name, outcome="completed", **labels
        )
        assert grown >= 1, name
    assert total(after, "videoloom_render_seconds_count", **labels) >= 1
    assert total(after, "videoloom_render_seconds_sum", **labels) > 0
    assert total(after, "videoloom_task_queue_wait_seconds_count", **labels) >= 1

    # Read from the database at scrape time.
    assert total(after, "videoloom_tasks", status="completed", model="grok-video-3") >= 1
    assert "videoloom_queue_depth" in after and "videoloom_queue_oldest_age_seconds" in after

    # HTTP latency by route template, never by concrete path.
    routes = {s.labels["route"] for s in after["videoloom_http_request_duration_seconds_count"]}
    assert {"/v1/video/create", "/v1/video/query"} <= routes
    assert not any("grok:" in route for route in routes), routes
    created_count = total(
        after, "videoloom_http_requests_total", method="POST", route="/v1/video/create", status="200"
    )
    assert created_count >= 1
    assert "process_cpu_seconds_total" in after
    assert total(after, "videoloom_build_info") == 1


def test_unknown_paths_share_one_route_label(server: ServerProcess) -> None:
    for n in range(3):
        httpx.get(f"{server.base_url}/no/such/path/{n}", timeout=30)
    samples = scrape(server.base_url)
    routes = {s.labels["route"] for s in samples["videoloom_http_requests_total"]}
    assert "unmatched" in routes
    assert not any(route.startswith("/no/such") for route in routes)


def test_request_id_is_returned_and_kept_when_given(server: ServerProcess) -> None:
    made = httpx.get(f"{server.base_url}/healthz", timeout=30)
    assert len(made.headers["x-request-id"]) == 32
    kept = httpx.get(f"{server.base_url}/healthz", headers={"X-Request-ID": "trace-abc.123"}, timeout=30)
    assert kept.headers["x-request-id"] == "trace-abc.123"
    odd = httpx.get(f"{server.base_url}/healthz", headers={"X-Request-ID": "bad id\twith spaces"}, timeout=30)
    assert odd.headers["x-request-id"] != "bad id\twith spaces"


def test_json_logs_carry_request_and_task_ids(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", log_format="json")
    key = server.cli("keys", "create", "--name", "ops").stdout.strip()  # no first-start banner
    server.start()
    try:
        with server.client(key) as client:
            assert client.get("/v1/models", headers={"X-Request-ID": "req-json-1"}).status_code == 200
            created = client.post(
                "/v1/video/create", json={"model": "motion-1", "prompt": "fade in", "duration": 1}
            ).json()
            assert wait_for_task(client, created["id"])["status"] == "completed"
    finally:
        server.stop()

    lines = [line for line in server.log_path.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"ts", "level", "logger", "message"} <= set(e) for e in entries)

    access = [e for e in entries if e.get("request_id") == "req-json-1"]
    assert access and access[-1]["logger"] == "videoloom.access"
    assert access[-1]["route"] == "/v1/models" and access[-1]["status"] == 200
    assert isinstance(access[-1]["duration_ms"], float)

    task_lines = [e for e in entries if e.get("task_id") == created["id"]]
    assert any("completed" in e["message"] for e in task_lines), task_lines


def test_readyz_is_503_when_the_scratch_directory_cannot_be_written(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from videoloom.api.app import create_app
    from videoloom.config import Settings

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "tmp").write_text("a file where the render scratch directory should be")
    app = create_app(Settings(data_dir=data_dir, embedded_worker=False))
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["database"] == "ok" and body["checks"]["tmp_dir"] != "ok"
    assert "worker" not in body["checks"]
