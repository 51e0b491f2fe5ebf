"""The status fast path answers exactly what the FastAPI routes answer, and only what it should.

One app, one database: each poll is made twice, once as served (through
``StatusFastPath``) and once with the fast path switched off, so the FastAPI
route answers; the two must agree field for field.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support import make_clip
from videoloom.api.app import VideoloomAPI, create_app
from videoloom.api.status_fast_path import StatusFastPath
from videoloom.config import Settings


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, dict[str, str]]]:
    settings = Settings(data_dir=tmp_path / "data", embedded_worker=False)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        _, key = await app.state.container.keys.create(name="a", tenant_id="tenant-a")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://videoloom.test") as client:
            yield app, client, {"Authorization": f"Bearer {key}"}


async def upload_clip(
    client: httpx.AsyncClient, auth: dict[str, str], tmp_path: Path, *, seconds: int
) -> str:
    """A completed task: an uploaded 320×180 clip."""
    clip = make_clip(tmp_path / "clip.mp4", seconds=seconds, width=320, height=180)
    with clip.open("rb") as handle:
        upload = await client.post(
            "/v1/videos/uploads", files={"file": ("c.mp4", handle, "video/mp4")}, headers=auth
        )
    return str(upload.json()["id"])


async def both_ways(app: FastAPI, client: httpx.AsyncClient, url: str, **kwargs: Any) -> list[httpx.Response]:
    assert isinstance(app, VideoloomAPI) and isinstance(app.status_fast_path, StatusFastPath)
    fast = await client.get(url, **kwargs)
    saved, app.status_fast_path = app.status_fast_path, None
    try:
        slow = await client.get(url, **kwargs)
    finally:
        app.status_fast_path = saved
    return [fast, slow]


async def test_answers_match_the_routes(
    served: tuple[FastAPI, httpx.AsyncClient, dict[str, str]], tmp_path: Path
) -> None:
    app, client, auth = served
    completed = await upload_clip(client, auth, tmp_path, seconds=2)
    queued = (
        await client.post("/v1/videos", json={"prompt": "a red kite", "seconds": "4"}, headers=auth)
    ).json()["id"]

    for url in (
        f"/v1/video/query?id={completed}",
        f"/v1/video/query?id={queued}",
        f"/v1/videos/{completed}",
        f"/v1/videos/{queued}",
    ):
        fast, slow = await both_ways(app, client, url, headers=auth)
        assert fast.status_code == slow.status_code == 200, url
        assert fast.json() == slow.json(), url
        assert fast.headers.get("openai-poll-after-ms") == slow.headers.get("openai-poll-after-ms")
        assert fast.headers["content-type"].startswith("application/json")
        assert fast.headers["x-request-id"]
    assert (await client.get(f"/v1/videos/{queued}", headers=auth)).headers["openai-poll-after-ms"]
    traced = await client.get(f"/v1/videos/{queued}", headers={**auth, "X-Request-ID": "proxy-id-42"})
    assert traced.headers["x-request-id"] == "proxy-id-42"  # a proxy's id is kept, as by RequestContext
    ids = {(await client.get(f"/v1/videos/{queued}", headers=auth)).headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3
    query = (await client.get(f"/v1/video/query?id={completed}", headers=auth)).json()
    assert query["video_url"].startswith(f"http://videoloom.test/v1/videos/{completed}/content?expires=")
    assert (await client.get(query["video_url"])).status_code == 200  # the signed URL works


async def test_everything_else_goes_to_the_routes(
    served: tuple[FastAPI, httpx.AsyncClient, dict[str, str]],
) -> None:
    app, client, auth = served
    other_key = (await app.state.container.keys.create(name="b", tenant_id="tenant-b"))[1]
    mine = (
        await client.post("/v1/videos", json={"prompt": "a red kite", "seconds": "4"}, headers=auth)
    ).json()["id"]
    cases = [
        (f"/v1/videos/{mine}", {}, 401),
        (f"/v1/videos/{mine}", {"Authorization": "Bearer nope"}, 401),
        (f"/v1/videos/{mine}", {"Authorization": "Basic abc"}, 401),
        (f"/v1/videos/{mine}", {"Authorization": f"Bearer {other_key}"}, 404),  # another tenant's
        ("/v1/video/query", auth, 400),
        ("/v1/video/query?id=grok:00000000-0000-4000-8000-000000000000", auth, 404),
        ("/v1/videos/not-an-id", auth, 404),
    ]
    for url, headers, status in cases:
        fast, slow = await both_ways(app, client, url, headers=headers)
        assert fast.status_code == slow.status_code == status, (url, fast.text, slow.text)
        assert fast.json() == slow.json() and set(fast.json()["error"]) == {
            "message",
            "type",
            "param",
            "code",
        }


async def test_polls_are_counted_under_their_route(
    served: tuple[FastAPI, httpx.AsyncClient, dict[str, str]],
) -> None:
    _, client, auth = served
    task = (
        await client.post("/v1/videos", json={"prompt": "a red kite", "seconds": "4"}, headers=auth)
    ).json()["id"]
    for _ in range(3):
        await client.get(f"/v1/videos/{task}", headers=auth)
    metrics = (await client.get("/metrics")).text
    line = next(
        line
        for line in metrics.splitlines()
        if line.startswith("videoloom_http_requests_total{")
        and 'route="/v1/videos/{video_id}"' in line
        and 'method="GET"' in line
        and 'status="200"' in line
    )
    assert float(line.rsplit(" ", 1)[1]) == 3


async def test_reused_answers_follow_every_change_at_once(
    served: tuple[FastAPI, httpx.AsyncClient, dict[str, str]],
) -> None:
    """Polls within a second reuse one answer, yet a commit (progress, cancel) shows on the next poll."""
    app, client, auth = served
    container = app.state.container
    task = (
        await client.post("/v1/videos", json={"prompt": "a red kite", "seconds": "4"}, headers=auth)
    ).json()["id"]
    first = await client.get(f"/v1/video/query?id={task}", headers=auth)
    again = await client.get(f"/v1/video/query?id={task}", headers=auth)
    assert first.content == again.content and first.json()["progress"] == 0
    claimed = await container.tasks.claim(worker_id="w", models=None, now=0.0, lease_seconds=60)
    assert claimed is not None and claimed.id == task
    assert await container.tasks.set_progress(task, "w", 42)
    for url in (f"/v1/video/query?id={task}", f"/v1/videos/{task}"):
        fast, slow = await both_ways(app, client, url, headers=auth)
        assert fast.json()["progress"] == slow.json()["progress"] == 42, url
    assert (await client.delete(f"/v1/videos/{task}", headers=auth)).status_code in (200, 409)
    fast, slow = await both_ways(app, client, f"/v1/videos/{task}", headers=auth)
    assert fast.status_code == slow.status_code and fast.json() == slow.json()


async def test_reused_answers_carry_each_hosts_urls(
    served: tuple[FastAPI, httpx.AsyncClient, dict[str, str]], tmp_path: Path
) -> None:
    _, client, auth = served
    url = f"/v1/video/query?id={await upload_clip(client, auth, tmp_path, seconds=1)}"
    for host in ("videoloom.test", "other.test", "videoloom.test"):
        answer = (await client.get(url, headers={**auth, "Host": host})).json()
        assert answer["video_url"].startswith(f"http://{host}/v1/videos/"), answer["video_url"]
