"""Idempotency keys, rate limits, quotas, the queue bound, body limits, admin keys, retention."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.support import ServerProcess, make_clip, upload, wait_for_task


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("lim") / "s.mp4", seconds=1, width=160, height=96)


@pytest.fixture
def limited(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[ServerProcess, str]]:
    server = ServerProcess(tmp_path / "data", **request.param)
    key = server.cli("keys", "create", "--name", "k").stdout.strip()
    server.start()
    yield server, key
    server.stop()


def test_idempotency_key_returns_the_same_task(alice: httpx.Client, small_clip: Path) -> None:
    body = {"model": "grok-video-3", "prompt": "same", "duration": 1}
    first = alice.post("/v1/video/create", json=body, headers={"Idempotency-Key": "k-1"})
    again = alice.post("/v1/video/create", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    other = alice.post(
        "/v1/video/create", json={**body, "prompt": "different"}, headers={"Idempotency-Key": "k-1"}
    )
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    without = alice.post("/v1/video/create", json=body)
    assert without.json()["id"] != first.json()["id"]
    # Multipart bodies (random boundaries, files) match by content, not by bytes.
    ids = set()
    for _ in range(2):
        with open(small_clip, "rb") as handle:
            response = alice.post(
                "/v1/videos/uploads", files={"file": handle}, headers={"Idempotency-Key": "up-1"}
            )
        ids.add(response.json()["id"])
    assert len(ids) == 1
    forms = {
        alice.post(
            "/v1/videos", data={"prompt": "p", "seconds": "1"}, headers={"Idempotency-Key": "oa"}
        ).json()["id"]
        for _ in range(2)
    }
    assert len(forms) == 1
    # A failed request does not burn the key.
    bad = alice.post("/v1/video/create", json={**body, "duration": 99}, headers={"Idempotency-Key": "k-2"})
    assert bad.status_code == 400
    good = alice.post("/v1/video/create", json=body, headers={"Idempotency-Key": "k-2"})
    assert good.status_code == 200
    wait_for_task(alice, first.json()["id"])


@pytest.mark.parametrize("limited", [{"rate_limit_per_minute": "3"}], indirect=True)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_rate_limit_answers_429_with_retry_after(limited: tuple[ServerProcess, str]) -> None:
    server, key = limited
    with server.client(key) as client:
        for _ in range(3):
            assert (
                client.post(
                    "/v1/video/create", json={"model": "motion-1", "prompt": "x", "duration": 1}
                ).status_code
                == 200
            )
        refused = client.post("/v1/video/create", json={"model": "motion-1", "prompt": "x", "duration": 1})
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["type"] == "rate_limit_error"
        assert client.get("/v1/models").status_code == 200  # reads are not rate limited
    sdk = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.RateLimitError):
        sdk.videos.create(prompt="x", seconds="1")


@pytest.mark.parametrize("limited", [{"max_active_tasks_per_tenant": "1"}], indirect=True)
def test_per_tenant_quota(limited: tuple[ServerProcess, str]) -> None:
    server, key = limited
    with server.client(key) as client:
        long = client.post(
            "/v1/video/create", json={"model": "motion-1", "prompt": "x", "duration": 15, "size": "1080P"}
        )
        assert long.status_code == 200
        refused = client.post("/v1/video/create", json={"model": "motion-1", "prompt": "x", "duration": 1})
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_active_tasks"
        assert "retry-after" in refused.headers


@pytest.mark.parametrize(
    "limited",
    [{"max_queued_tasks": "1", "embedded_worker": "false", "max_request_bytes": "2048"}],
    indirect=True,
)
def test_queue_bound_and_body_size(limited: tuple[ServerProcess, str]) -> None:
    server, key = limited
    with server.client(key) as client:
        assert client.post("/v1/video/create", json={"model": "motion-1", "prompt": "x"}).status_code == 200
        full = client.post("/v1/video/create", json={"model": "motion-1", "prompt": "y"})
        assert full.status_code == 429 and full.json()["error"]["code"] == "queue_full"
        huge = client.post("/v1/video/create", json={"model": "motion-1", "prompt": "z" * 5000})
        assert huge.status_code == 413 and huge.json()["error"]["code"] == "payload_too_large"


def test_admin_routes_need_an_admin_key(server: ServerProcess, alice: httpx.Client) -> None:
    denied = alice.get("/v1/admin/keys")
    assert denied.status_code == 403 and denied.json()["error"]["type"] == "permission_error"
    admin_key = server.cli("keys", "create", "--name", "root", "--admin").stdout.strip()
    with server.client(admin_key) as admin:
        created = admin.post("/v1/admin/keys", json={"name": "made-by-admin", "tenant_id": "t9"})
        assert created.status_code == 200 and created.json()["key"].startswith("vl-")
        names = [k["name"] for k in admin.get("/v1/admin/keys").json()["data"]]
        assert "made-by-admin" in names and "alice" in names
        assert all("key" not in k for k in admin.get("/v1/admin/keys").json()["data"])
        new_key = created.json()["key"]
        assert (
            httpx.get(
                f"{server.base_url}/v1/models", headers={"Authorization": f"Bearer {new_key}"}
            ).status_code
            == 200
        )
        assert admin.delete("/v1/admin/keys/made-by-admin").status_code == 200
        assert (
            httpx.get(
                f"{server.base_url}/v1/models", headers={"Authorization": f"Bearer {new_key}"}
            ).status_code
            == 401
        )


@pytest.mark.parametrize(
    "limited",
    [{"retention_hours": "0.0003", "retention_sweep_seconds": "0.3", "max_upload_dimension": "200"}],
    indirect=True,
)
def test_expired_results_are_swept_and_answer_410(
    limited: tuple[ServerProcess, str], small_clip: Path, tmp_path: Path
) -> None:
    server, key = limited
    with server.client(key) as client:
        video = upload(client, small_clip)
        folder = video["id"].replace(":", "_")
        time.sleep(2.5)  # 0.0003 h ≈ 1.1 s, then a sweep
        gone = client.get(f"/v1/videos/{video['id']}/content")
        assert gone.status_code == 410 and gone.json()["error"]["code"] == "video_expired"
        state = client.get("/v1/video/query", params={"id": video["id"]}).json()
        assert state["video_url"] is None
        extend = client.post(f"/v1/videos/{video['id']}/extend", json={"model": "motion-1", "prompt": "x"})
        assert extend.status_code == 410
        assert not [p for p in (server.data_dir / "blobs").rglob("*") if folder in str(p) and p.is_file()]
        big = make_clip(tmp_path / "big.mp4", seconds=1, width=320, height=180)
        with open(big, "rb") as handle:
            refused = client.post("/v1/videos/uploads", files={"file": handle})
        assert refused.status_code == 400 and "320x180" in refused.json()["error"]["message"]
