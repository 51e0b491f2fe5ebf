"""The judged path: upload a 10 s 1280×720 clip, extend it at second 4, decode the result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.support import ServerProcess, decode_all, psnr, upload, wait_for_task

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def source(alice: httpx.Client, clip_10s: Path) -> dict[str, Any]:
    return upload(alice, clip_10s)


@pytest.fixture(scope="module")
def source_frames(clip_10s: Path) -> list[np.ndarray]:
    return decode_all(clip_10s)[0]


def test_upload_is_a_completed_task_with_a_seed_style_id(alice: httpx.Client, source: dict[str, Any]) -> None:
    assert source["id"].startswith("grok:")
    assert source["status"] == "completed"
    body = alice.get("/v1/video/query", params={"id": source["id"]}).json()
    assert body["kind"] == "upload"
    assert (body["width"], body["height"]) == (1280, 720)
    assert body["duration"] == pytest.approx(10, abs=0.05)
    assert body["video_url"].startswith("http://127.0.0.1:")


def test_extend_at_second_4_keeps_the_source_and_continues_it(
    server: ServerProcess,
    alice: httpx.Client,
    source: dict[str, Any],
    source_frames: list[np.ndarray],
) -> None:
    response = alice.post(
        f"/v1/videos/{source['id']}/extend",
        json={"model": "grok-video-3", "prompt": "the camera keeps moving", "start_time": 4},
    )
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["status"] == "processing"
    assert created["id"] != source["id"] and created["id"].startswith("grok:")
    assert isinstance(created["status_update_time"], int)

    done = wait_for_task(alice, created["id"])
    assert done["status"] == "completed", done
    assert done["parent_id"] == source["id"] and done["start_time"] == 4
    assert done["status_update_time"] >= created["status_update_time"]

    # The signed URL works without the Authorization header, as in a <video src>.
    video = httpx.get(done["video_url"], timeout=60, follow_redirects=True)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    frames, rate = decode_all(video.content)
    assert rate == 24
    assert abs(len(frames) - 240) <= 1, len(frames)
    assert frames[0].shape == (720, 1280, 3)

    kept = 4 * 24
    worst = min(psnr(frames[i], source_frames[i]) for i in range(kept))
    assert worst >= 35, f"kept part differs from the source: worst PSNR {worst:.1f} dB"

    new = frames[kept:]
    assert psnr(new[0], source_frames[kept - 1]) >= 22, "the new part does not start near the cut"
    assert psnr(new[0], source_frames[200]) < psnr(new[0], source_frames[kept - 1])
    changes = [
        float(np.mean(np.abs(new[i].astype(int) - new[i - 12].astype(int)))) for i in range(12, len(new), 12)
    ]
    assert min(changes) > 0.5, f"the new part is frozen: {changes}"


def test_extend_1080p_upscale_gives_1920x1080(alice: httpx.Client, source: dict[str, Any]) -> None:
    response = alice.post(
        f"/v1/videos/{source['id']}/extend",
        json={
            "model": "grok-video-3",
            "prompt": "zoom in",
            "start_time": 8,
            "size": "1080p",
            "upscale": True,
            "duration": 2,
        },
    )
    assert response.status_code == 200, response.text
    done = wait_for_task(alice, response.json()["id"])
    assert done["status"] == "completed", done
    frames, _ = decode_all(httpx.get(done["video_url"], timeout=60, follow_redirects=True).content)
    assert frames[0].shape == (1080, 1920, 3)
    assert abs(len(frames) - 240) <= 1


def test_unified_extend_with_new_aspect_ratio(alice: httpx.Client, source: dict[str, Any]) -> None:
    response = alice.post(
        "/v1/video/extend",
        json={
            "task_id": source["id"],
            "model": "motion-1",
            "prompt": "pan left",
            "aspect_ratio": "1:1",
            "start_time": 2,
            "duration": 2,
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"].startswith("motion:")
    done = wait_for_task(alice, response.json()["id"])
    assert done["status"] == "completed", done
    frames, _ = decode_all(httpx.get(done["video_url"], timeout=60, follow_redirects=True).content)
    assert frames[0].shape == (720, 720, 3)
    assert abs(len(frames) - 96) <= 1


def test_extend_of_an_extend_chains_lineage(alice: httpx.Client, source: dict[str, Any]) -> None:
    first = alice.post(
        f"/v1/videos/{source['id']}/extend",
        json={"model": "grok-video-3", "prompt": "go on", "start_time": 1, "duration": 1},
    )
    first_done = wait_for_task(alice, first.json()["id"])
    second = alice.post(
        f"/v1/videos/{first_done['id']}/extend",
        json={"model": "grok-video-3", "prompt": "and on", "duration": 1},
    )
    assert second.status_code == 200, second.text
    done = wait_for_task(alice, second.json()["id"])
    assert done["status"] == "completed" and done["parent_id"] == first_done["id"]
    assert done["start_time"] is None  # appended at the source's end
    frames, _ = decode_all(httpx.get(done["video_url"], timeout=60, follow_redirects=True).content)
    assert abs(len(frames) - 72) <= 1


def test_create_generates_a_video(alice: httpx.Client) -> None:
    response = alice.post(
        "/v1/video/create",
        json={
            "model": "grok-video-3",
            "prompt": "a red sunset over the ocean",
            "duration": 2,
            "aspect_ratio": "9:16",
        },
    )
    assert response.status_code == 200, response.text
    done = wait_for_task(alice, response.json()["id"])
    assert done["status"] == "completed", done
    frames, rate = decode_all(httpx.get(done["video_url"], timeout=60, follow_redirects=True).content)
    assert rate == 24 and len(frames) == 48
    assert frames[0].shape == (1280, 720, 3)
    assert float(np.mean(np.abs(frames[0].astype(int) - frames[-1].astype(int)))) > 0.5


def test_content_supports_range_requests_and_thumbnails(alice: httpx.Client, source: dict[str, Any]) -> None:
    path = f"/v1/videos/{source['id']}/content"
    full = alice.get(path)
    assert full.status_code == 200 and full.headers["accept-ranges"] == "bytes"
    partial = alice.get(path, headers={"Range": "bytes=100-199"})
    assert partial.status_code == 206
    assert partial.content == full.content[100:200]
    assert partial.headers["content-range"] == f"bytes 100-199/{len(full.content)}"
    thumb = alice.get(path, params={"variant": "thumbnail"})
    assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"


def test_download_1_answers_an_attachment_from_this_server(
    alice: httpx.Client, source: dict[str, Any]
) -> None:
    """``download=1`` is saved, not opened: never a redirect to the bucket's inline answer."""
    url = httpx.URL(alice.get("/v1/video/query", params={"id": source["id"]}).json()["video_url"])
    plain = httpx.get(url, follow_redirects=False)
    saved = httpx.get(url.copy_merge_params({"download": "1"}), follow_redirects=False, timeout=60)
    assert saved.status_code == 200, saved.text
    name = source["id"].replace(":", "_")
    assert saved.headers["content-disposition"] == f'attachment; filename="{name}.mp4"'
    whole = plain if plain.status_code == 200 else httpx.get(plain.headers["location"], timeout=60)
    assert saved.content == whole.content
    if plain.status_code == 200:  # local disk: shown inline unless asked to save
        assert plain.headers["content-disposition"].startswith("inline")


def test_signed_url_is_bound_to_its_video_and_expiry(alice: httpx.Client, source: dict[str, Any]) -> None:
    url = httpx.URL(alice.get("/v1/video/query", params={"id": source["id"]}).json()["video_url"])
    tampered = url.copy_merge_params({"expires": str(int(url.params["expires"]) + 1)})
    response = httpx.get(tampered)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    thumb = httpx.get(url.copy_merge_params({"variant": "thumbnail"}))
    assert thumb.status_code == 401  # a video signature does not open the thumbnail


def test_an_extend_keeps_the_sound_of_the_kept_part(alice: httpx.Client, tmp_path: Path) -> None:
    """A WebM with Opus sound: stored as H.264 + AAC; extended at second 2, the output has the
    first 2 s of that sound (then silence under the new part), in an MP4 browsers play."""
    from tests.media.sources import SOUND_RATE, decode_audio, dominant_hz, encode_with_sound
    from tests.support import clip_frame

    clip = encode_with_sound(
        tmp_path / "talk.webm",
        [clip_frame(i, 320, 180) for i in range(72)],
        tone_hz=660,
        container="webm",
        video_codec="libvpx-vp9",
        audio_codec="libopus",
    )
    source = upload(alice, clip)
    done = wait_for_task(
        alice,
        alice.post(
            f"/v1/videos/{source['id']}/extend",
            json={"model": "grok-video-3", "prompt": "on", "start_time": 2, "duration": 1},
        ).json()["id"],
    )
    assert done["status"] == "completed", done
    video = httpx.get(done["video_url"], timeout=60, follow_redirects=True).content
    (tmp_path / "out.mp4").write_bytes(video)
    frames, _ = decode_all(video)
    assert len(frames) == 72
    sound = decode_audio(tmp_path / "out.mp4")
    assert sound is not None, "the sound was dropped"
    samples, start, codec = sound
    assert codec == "aac" and abs(start) <= 0.03
    assert 2.0 - 0.03 <= samples.shape[1] / SOUND_RATE <= 2.0 + 0.03
    assert dominant_hz(samples[:, SOUND_RATE // 2 : SOUND_RATE * 3 // 2]) == pytest.approx(660, abs=2)
