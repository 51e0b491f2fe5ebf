"""The official ``openai`` SDK, unchanged, against a running Videoloom server."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from tests.support import ServerProcess, decode_all, make_clip

# openai 3.51 marks every videos method deprecated (the hosted service shut down).
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def sdk(server: ServerProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[openai.OpenAI]:
    with sdk(server, server.keys["alice"]) as c:  # type: ignore[attr-defined]
        yield c


@pytest.fixture(scope="module")
def video(client: openai.OpenAI) -> openai.types.Video:
    done = client.videos.create_and_poll(
        prompt="a calm ocean at sunset, slow pan right",
        model="sora-2",
        seconds="4",
        size="1280x720",
        poll_interval_ms=200,
    )
    assert done.status == "completed", done
    return done


def frames_of(content: bytes) -> list[np.ndarray]:
    return decode_all(content)[0]


def test_create_and_poll_then_retrieve(client: openai.OpenAI, video: openai.types.Video) -> None:
    assert video.object == "video" and video.model == "sora-2" and video.progress == 100
    assert video.seconds == "4" and video.size == "1280x720"
    assert video.completed_at is not None and video.expires_at is not None and video.error is None
    again = client.videos.retrieve(video.id)
    assert again.id == video.id and again.status == "completed"


def test_download_all_three_variants(client: openai.OpenAI, video: openai.types.Video) -> None:
    frames = frames_of(client.videos.download_content(video.id).read())
    assert len(frames) == 96 and frames[0].shape == (720, 1280, 3)
    for variant in ("thumbnail", "spritesheet"):
        image = Image.open(io.BytesIO(client.videos.download_content(video.id, variant=variant).read()))
        image.verify()
        assert image.format == "JPEG"
    sheet = Image.open(io.BytesIO(client.videos.download_content(video.id, variant="spritesheet").read()))
    assert sheet.width == 5 * 160  # a 5-wide grid of 160 px tiles


def test_running_videos_tell_the_sdk_when_to_poll(server: ServerProcess) -> None:
    key = server.keys["alice"]  # type: ignore[attr-defined]
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as raw:
        created = raw.post("/v1/videos", data={"prompt": "x", "seconds": "12", "size": "1920x1080"}).json()
        assert created["status"] in ("queued", "in_progress")
        polled = raw.get(f"/v1/videos/{created['id']}")
        assert polled.headers["openai-poll-after-ms"] == "1000"
        raw.delete(f"/v1/videos/{created['id']}")


def test_list_walks_every_page(server: ServerProcess, tmp_path: Path) -> None:
    key = server.cli("keys", "create", "--name", "lister").stdout.strip()
    clip = make_clip(tmp_path / "tiny.mp4", seconds=1, width=160, height=96)
    ids = []
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as raw:
        for _ in range(5):
            with open(clip, "rb") as handle:
                ids.append(raw.post("/v1/videos/uploads", files={"file": handle}).json()["id"])
    with sdk(server, key) as c:
        newest_first = [v.id for v in c.videos.list(limit=2)]
        oldest_first = [v.id for v in c.videos.list(limit=2, order="asc")]
        page = c.videos.list(limit=2)
        assert page.has_more and len(page.data) == 2 and page.last_id == page.data[-1].id
    assert newest_first == ids[::-1]
    assert oldest_first == ids


def test_remix_keeps_the_parameters_and_links_back(client: openai.OpenAI, video: openai.types.Video) -> None:
    remix = client.videos.remix(video.id, prompt="a stormy ocean at night")
    assert remix.remixed_from_video_id == video.id
    done = client.videos.poll(remix.id, poll_interval_ms=200)
    assert done.status == "completed" and done.size == video.size and done.seconds == video.seconds
    before = frames_of(client.videos.download_content(video.id).read())[0]
    after = frames_of(client.videos.download_content(done.id).read())[0]
    assert float(np.mean(np.abs(before.astype(int) - after.astype(int)))) > 5  # a different scene


def test_extend_by_id_through_extra_body(client: openai.OpenAI, video: openai.types.Video) -> None:
    extended = client.videos.extend(
        video=openai.omit, prompt="keep going, zoom in", seconds="4", extra_body={"video": {"id": video.id}}
    )
    done = client.videos.poll(extended.id, poll_interval_ms=200)
    assert done.status == "completed", done.error
    assert done.seconds == "8"  # the stitched total
    frames = frames_of(client.videos.download_content(done.id).read())
    assert len(frames) == 192


def test_extend_by_upload(client: openai.OpenAI, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "mine.mp4", seconds=2, width=320, height=180)
    with open(clip, "rb") as handle:
        extended = client.videos.extend(video=handle, prompt="pan left", seconds="4")
    done = client.videos.poll(extended.id, poll_interval_ms=200)
    assert done.status == "completed" and done.seconds == "6" and done.size == "320x180"
    assert done.parent_id is not None  # type: ignore[attr-defined]


def test_edit_black_and_white(client: openai.OpenAI, video: openai.types.Video) -> None:
    edited = client.videos.edit(
        video=openai.omit, prompt="make it black and white", extra_body={"video": {"id": video.id}}
    )
    done = client.videos.poll(edited.id, poll_interval_ms=200)
    assert done.status == "completed", done.error
    frame = frames_of(client.videos.download_content(done.id).read())[10].astype(int)
    assert np.abs(frame[..., 0] - frame[..., 2]).mean() < 3  # grey: R ≈ B


def test_edit_prompt_it_cannot_do_is_a_clear_400(client: openai.OpenAI, video: openai.types.Video) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.videos.edit(video=openai.omit, prompt="add a cat", extra_body={"video": {"id": video.id}})
    assert info.value.body["param"] == "prompt"  # type: ignore[index]


def test_delete_cancels_and_removes(client: openai.OpenAI, server: ServerProcess) -> None:
    running = client.videos.create(prompt="long one", seconds="12", size="1920x1080")
    deleted = client.videos.delete(running.id)
    assert deleted.deleted and deleted.object == "video.deleted" and deleted.id == running.id
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(running.id)
    with pytest.raises(openai.NotFoundError):
        client.videos.delete(running.id)
    folder = running.id.replace(":", "_")
    assert not [p for p in server.stored_files() if folder in p]
    finished = client.videos.create_and_poll(prompt="short", seconds="1", poll_interval_ms=200)
    stored = [p for p in server.stored_files() if finished.id.replace(":", "_") in p]
    assert len(stored) == 3  # video, thumbnail, spritesheet
    client.videos.delete(finished.id)
    assert not [p for p in server.stored_files() if finished.id.replace(":", "_") in p]


def test_errors_map_to_sdk_exceptions(server: ServerProcess, client: openai.OpenAI) -> None:
    with sdk(server, "vl-wrong") as wrong, pytest.raises(openai.AuthenticationError):
        wrong.videos.list()
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve("sora:00000000-0000-4000-8000-000000000000")
    with pytest.raises(openai.BadRequestError) as info:
        client.videos.create(prompt="x", seconds="8.0")  # type: ignore[arg-type]
    assert "seconds" in info.value.message and info.value.body["param"] == "seconds"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as size:
        client.videos.create(prompt="x", size="640x480")  # type: ignore[arg-type]
    assert size.value.body["param"] == "size"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        client.videos.list(order="sideways")  # type: ignore[arg-type]


def test_other_tenants_cannot_see_or_delete(server: ServerProcess, video: openai.types.Video) -> None:
    with sdk(server, server.keys["bob"]) as bob:  # type: ignore[attr-defined]
        with pytest.raises(openai.NotFoundError):
            bob.videos.retrieve(video.id)
        with pytest.raises(openai.NotFoundError):
            bob.videos.delete(video.id)
        assert video.id not in [v.id for v in bob.videos.list()]


def test_uploaded_input_reference(client: openai.OpenAI) -> None:
    png = io.BytesIO()
    Image.new("RGB", (320, 180), (200, 30, 30)).save(png, format="PNG")
    created = client.videos.create(
        prompt="animate it",
        seconds="4",
        size="1280x720",
        input_reference=("red.png", png.getvalue(), "image/png"),
    )
    done = client.videos.poll(created.id, poll_interval_ms=200)
    assert done.status == "completed", done.error
    frame = frames_of(client.videos.download_content(done.id).read())[0]
    assert frame[..., 0].mean() > 150 and frame[..., 1].mean() < 80  # it shows the red image
    with pytest.raises(openai.BadRequestError) as info:
        client.videos.create(prompt="x", input_reference=("a.png", b"not an image", "image/png"))
    assert info.value.body["param"] == "input_reference"  # type: ignore[index]


def test_server_sent_events_stream_progress_to_the_end(server: ServerProcess, client: openai.OpenAI) -> None:
    created = client.videos.create(prompt="a forest at night", seconds="4", size="1280x720")
    events: list[tuple[str, dict[str, object]]] = []
    key = server.keys["alice"]  # type: ignore[attr-defined]
    with httpx.stream(
        "GET",
        f"{server.base_url}/v1/videos/{created.id}/events",
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: ") and name:
                events.append((name, json.loads(line.removeprefix("data: "))))
    assert events[-1][0] == "completed" and events[-1][1]["progress"] == 100
    progress = [int(e[1]["progress"]) for e in events]  # type: ignore[call-overload]
    assert progress == sorted(progress) and len(events) >= 2


def test_operators_can_switch_to_the_gateway_status_vocabulary(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", openai_status_vocabulary="gateway")
    key = server.cli("keys", "create", "--name", "gw").stdout.strip()
    server.start()
    try:
        with sdk(server, key) as c:
            created = c.videos.create(prompt="x", seconds="8", size="1920x1080")
            assert created.status == "processing"
            # poll() waits only on queued/in_progress: with this vocabulary it returns at once.
            assert c.videos.poll(created.id).status in ("processing", "completed")
    finally:
        server.stop()
