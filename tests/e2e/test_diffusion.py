"""The judged diffusion path, end to end on CPU: `videoloom dev tiny-model` for each family, a
models file naming them, `videoloom serve`, an uploaded 1280×720 clip extended through
``POST /v1/videos/{id}/extend``; create from an image and from text; and `videoloom models
check` about a missing weights directory.

The tiny models make noise: the new part is not compared with anything, only counted.
"""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.support import ServerProcess, decode_all, make_clip, psnr, upload, wait_for_task

pytest.importorskip("diffusers", reason="the diffusion extra is not installed (make test installs it)")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("diffusion")
    models = root / "models.toml"
    srv = ServerProcess(
        root / "data", extra_env={"VIDEOLOOM_MODELS_FILE": str(models), "HF_HUB_OFFLINE": "1"}
    )
    makers = [  # both at once: each is mostly importing torch
        subprocess.Popen(
            [sys.executable, "-m", "videoloom", "dev", "tiny-model", "--family", family, str(root / family)],
            env=srv.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for family in ("ltx", "wan-vace")
    ]
    for maker in makers:
        out, _ = maker.communicate(timeout=120)
        assert maker.returncode == 0 and "noise, not pictures" in out, out
    # The CPU defaults (working size ≤ 320×192 for LTX, ≤ 160×96 for Wan VACE; 17 conditioning
    # frames) with 2 steps.
    models.write_text(
        "[models.ltx-tiny]\n"
        'engine = "diffusion"\nfamily = "ltx"\n'
        f'weights = "{root / "ltx"}"\ndevice = "cpu"\nsteps = 2\n\n'
        "[models.wan-tiny]\n"
        'engine = "diffusion"\nfamily = "wan-vace"\n'
        f'weights = "{root / "wan-vace"}"\ndevice = "cpu"\nsteps = 2\n\n'
        "[models.wan-gone]\n"
        'engine = "diffusion"\nfamily = "wan-vace"\n'
        f'weights = "{root / "not-downloaded"}"\n'
    )
    srv.keys = {"alice": srv.cli("keys", "create", "--name", "alice").stdout.strip()}  # type: ignore[attr-defined]
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def alice(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client(server.keys["alice"]) as client:  # type: ignore[attr-defined]
        yield client


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "source-4s.mp4", seconds=4)


@pytest.fixture(scope="module")
def source(alice: httpx.Client, clip: Path) -> dict[str, Any]:
    return upload(alice, clip)


@pytest.mark.parametrize("model", ["ltx-tiny", "wan-tiny"])
def test_extend_keeps_the_source_and_adds_the_new_seconds(
    alice: httpx.Client, source: dict[str, Any], clip: Path, model: str
) -> None:
    response = alice.post(
        f"/v1/videos/{source['id']}/extend",
        json={"model": model, "prompt": "the box keeps sliding", "start_time": 2, "duration": 1, "seed": 5},
    )
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["status"] == "processing" and created["model"] == model
    done = wait_for_task(alice, created["id"], timeout=300)
    assert done["status"] == "completed", done
    assert done["parent_id"] == source["id"] and done["start_time"] == 2
    family = "ltx" if model == "ltx-tiny" else "wan-vace"
    assert done["engine"]["family"] == family and done["engine"]["seed"] == 5, done["engine"]
    assert done["engine"]["conditioning_frames"] == 17 and done["engine"]["steps"] == 2

    video = httpx.get(done["video_url"], timeout=60, follow_redirects=True)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    frames, rate = decode_all(video.content)
    assert rate == 24
    assert len(frames) == 2 * 24 + 24, len(frames)  # kept 2 s + 1 new second
    assert frames[0].shape == (720, 1280, 3)
    source_frames, _ = decode_all(clip)
    worst = min(psnr(frames[i], source_frames[i]) for i in range(48))
    assert worst >= 35, f"kept part differs from the source: worst PSNR {worst:.1f} dB"
    new = frames[48:]
    assert all(f.shape == (720, 1280, 3) for f in new)
    assert float(np.std(new[0])) > 1, "the new part is blank"


def test_missing_weights_fail_the_task_with_a_clear_error(
    alice: httpx.Client, source: dict[str, Any]
) -> None:
    response = alice.post(
        f"/v1/videos/{source['id']}/extend",
        json={"model": "wan-gone", "prompt": "more", "start_time": 2, "duration": 1},
    )
    assert response.status_code == 200, response.text
    done = wait_for_task(alice, response.json()["id"])
    assert done["status"] == "failed", done
    assert done["error"]["code"] == "weights_missing"
    assert "not-downloaded does not exist" in done["error"]["message"]


def test_models_check_tells_the_truth_about_the_missing_weights(server: ServerProcess) -> None:
    checked = server.cli("models", "check", check=False)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    rows = {line.split()[0]: line for line in checked.stdout.splitlines() if line.strip()}
    assert "UNUSABLE" not in rows["ltx-tiny"] and "UNUSABLE" not in rows["wan-tiny"]
    assert "UNUSABLE" in rows["wan-gone"] and "not-downloaded does not exist" in rows["wan-gone"]


@pytest.mark.parametrize(("model", "with_image"), [("ltx-tiny", True), ("wan-tiny", False)])
def test_create_from_an_image_or_from_text(alice: httpx.Client, model: str, with_image: bool) -> None:
    body: dict[str, Any] = {"model": model, "prompt": "a red box", "duration": 1, "aspect_ratio": "9:16"}
    if with_image:
        picture = io.BytesIO()
        Image.new("RGB", (90, 160), (220, 30, 30)).save(picture, format="PNG")
        body["images"] = ["data:image/png;base64," + base64.b64encode(picture.getvalue()).decode()]
    response = alice.post("/v1/video/create", json=body)
    assert response.status_code == 200, response.text
    done = wait_for_task(alice, response.json()["id"], timeout=300)
    assert done["status"] == "completed", done
    frames, rate = decode_all(httpx.get(done["video_url"], timeout=60, follow_redirects=True).content)
    assert rate == 24 and len(frames) == 24
    assert frames[0].shape == (1280, 720, 3)
