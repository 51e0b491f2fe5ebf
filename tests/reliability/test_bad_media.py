"""Broken and odd media, uploaded two ways: every bad file is a fast, clear 400; odd but valid
files are accepted; the server stays healthy and keeps rendering afterwards.

The corpus is generated at test time (PyAV, Pillow, random bytes) and sent through
``POST /v1/videos/uploads`` (``param: file``) and the OpenAI SDK's
``videos.extend(video=<file>)`` (``POST /v1/videos/extensions``, ``param: video``).
"""

from __future__ import annotations

import io
import math
import random
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest

from tests.reliability.harness import count_frames, create_key, expected_frames, plain_server, png_bytes
from tests.support import ServerProcess, clip_frame, make_clip, wait_for_task

pytestmark = pytest.mark.slow

BAD_ANSWER_SECONDS = 20  # generous for a 2-core machine: "fast" means no render, no hang


# --- the corpus -----------------------------------------------------------------------------


def _encode_video(
    path: Path,
    *,
    codec: str,
    width: int,
    height: int,
    frames: int,
    fps: int = 24,
    container_format: str | None = None,
    options: dict[str, str] | None = None,
    pix_fmt: str = "yuv420p",
    solid: bool = False,
) -> Path:
    with av.open(str(path), mode="w", format=container_format, options=options or {}) as output:
        stream = output.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if codec == "libx264":
            stream.options = {"preset": "ultrafast"}
        if codec.startswith("libvpx"):
            stream.options = {"deadline": "realtime", "cpu-used": "8"}
        for index in range(frames):
            if solid:
                pixels = np.full((height, width, 3), (index * 40) % 256, dtype=np.uint8)
            else:
                pixels = clip_frame(index, width, height)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return path


def _encode_audio(path: Path, *, codec: str, container_format: str, rate: int) -> Path:
    with av.open(str(path), mode="w", format=container_format) as output:
        stream = output.add_stream(codec, rate=rate)
        stream.layout = "mono"
        samples_per_frame = 960 if codec == "libopus" else 1024
        for index in range(rate // samples_per_frame):
            t = (np.arange(samples_per_frame) + index * samples_per_frame) / rate
            tone = (0.3 * np.sin(2 * math.pi * 440 * t)).astype(np.float32).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(tone, format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = index * samples_per_frame
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return path


@dataclass(frozen=True)
class Sample:
    name: str
    make: Callable[[Path], Path]
    valid: bool
    """Odd but valid: must be accepted (and its frames kept)."""
    words: tuple[str, ...] = ()
    """For a bad one: words its error message must contain (case-insensitive)."""


def _bytes(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(root: Path) -> Path:
        path = root / name
        path.write_bytes(data)
        return path

    return make


def _truncated(root: Path) -> Path:
    whole = make_clip(root / "whole.mp4", seconds=2, width=320, height=180).read_bytes()
    path = root / "truncated.mp4"
    path.write_bytes(whole[: len(whole) // 2])  # +faststart: moov first, half the frames gone
    return path


def _moov_cut(root: Path) -> Path:
    # No faststart: the moov atom is written last; cutting the tail removes it entirely.
    whole = _encode_video(root / "moov-last.mp4", codec="libx264", width=320, height=180, frames=24)
    data = whole.read_bytes()
    moov = data.rfind(b"moov")
    assert moov > len(data) // 2, "expected the moov atom at the end"
    path = root / "moov-cut.mp4"
    path.write_bytes(data[: moov - 8])
    return path


def _huge(root: Path) -> Path:
    return _encode_video(root / "huge.mp4", codec="libx264", width=6000, height=6000, frames=2, solid=True)


def _vp9(root: Path) -> Path:
    return _encode_video(root / "vp9.webm", codec="libvpx-vp9", width=320, height=180, frames=24)


def _odd_size(root: Path) -> Path:
    return _encode_video(
        root / "odd.webm", codec="libvpx-vp9", width=321, height=181, frames=12, pix_fmt="yuv420p"
    )


def _mpeg4_mov(root: Path) -> Path:
    return _encode_video(root / "mpeg4.mov", codec="mpeg4", width=320, height=180, frames=24)


def _one_frame(root: Path) -> Path:
    return make_clip(root / "one-frame.mp4", seconds=1 / 24, width=320, height=180)


CORPUS = [
    Sample("zero-length", _bytes("empty.mp4", b""), valid=False, words=("empty",)),
    Sample("random-bytes", _bytes("noise.mp4", random.Random(7).randbytes(64 * 1024)), valid=False),
    Sample("text", _bytes("notes.txt", b"this is not a video\n" * 200), valid=False),
    Sample("png-renamed", _bytes("picture.mp4", png_bytes(320, 180)), valid=False),
    Sample("truncated", _truncated, valid=False),
    Sample("moov-cut", _moov_cut, valid=False),
    Sample(
        "audio-aac",
        lambda root: _encode_audio(root / "tone.m4a", codec="aac", container_format="mp4", rate=44100),
        valid=False,
    ),
    Sample(
        "audio-opus",
        lambda root: _encode_audio(root / "tone.webm", codec="libopus", container_format="webm", rate=48000),
        valid=False,
    ),
    Sample("huge-6000x6000", _huge, valid=False, words=("6000",)),
    Sample("vp9-webm", _vp9, valid=True),
    Sample("odd-size-vp9", _odd_size, valid=True),
    Sample("mpeg4-mov", _mpeg4_mov, valid=True),
    Sample("one-frame", _one_frame, valid=True),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad-media")
    return {sample.name: sample.make(root) for sample in CORPUS}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    server = plain_server(tmp_path_factory.mktemp("bad-media-server") / "data")
    key = create_key(server, "uploader")
    server.start()
    try:
        yield server, key
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert "Traceback" not in log, log[-4000:]


def _sdk(server: ServerProcess, key: str) -> Any:
    import openai

    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0, timeout=120)


def _check_bad(sample: Sample, status: int, error: dict[str, Any], param: str, elapsed: float) -> None:
    assert status == 400, (sample.name, status, error)
    assert error["param"] == param, (sample.name, error)
    assert error["code"] == "invalid_video", (sample.name, error)
    message = error["message"].lower()
    assert len(message) > 20, (sample.name, error)
    for word in sample.words:
        assert word.lower() in message, (sample.name, word, error)
    assert elapsed < BAD_ANSWER_SECONDS, (sample.name, elapsed)


def _check_accepted_video(client: httpx.Client, task: dict[str, Any]) -> None:
    done = wait_for_task(client, task["id"], timeout=120)
    assert done["status"] == "completed", done
    video = client.get(f"/v1/videos/{task['id']}/content")
    assert video.status_code == 200
    assert count_frames(video.content) == expected_frames(done), done


@pytest.mark.parametrize("sample", CORPUS, ids=lambda s: s.name)
def test_upload_route(served: tuple[ServerProcess, str], corpus: dict[str, Path], sample: Sample) -> None:
    server, key = served
    path = corpus[sample.name]
    with server.client(key) as client, open(path, "rb") as handle:
        started = time.monotonic()
        response = client.post("/v1/videos/uploads", files={"file": (path.name, handle, "video/mp4")})
        elapsed = time.monotonic() - started
        if sample.valid:
            assert response.status_code == 200, (sample.name, response.text)
            _check_accepted_video(client, response.json())
        else:
            _check_bad(sample, response.status_code, response.json()["error"], "file", elapsed)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("sample", CORPUS, ids=lambda s: s.name)
def test_openai_extend_with_a_file(
    served: tuple[ServerProcess, str], corpus: dict[str, Path], sample: Sample
) -> None:
    import openai

    server, key = served
    path = corpus[sample.name]
    sdk = _sdk(server, key)
    started = time.monotonic()
    with warnings.catch_warnings(), open(path, "rb") as handle:
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            video = sdk.videos.extend(video=handle, prompt="keep going", seconds="4")
        except openai.BadRequestError as exc:
            elapsed = time.monotonic() - started
            assert not sample.valid, (sample.name, exc.body)
            error = exc.body if isinstance(exc.body, dict) and "param" in exc.body else exc.body["error"]
            _check_bad(sample, 400, error, "video", elapsed)
            return
    assert sample.valid, f"{sample.name} was accepted: {video}"
    with server.client(key) as client:
        _check_accepted_video(client, {"id": video.id})


def test_bad_upload_messages_do_not_reveal_server_paths(
    served: tuple[ServerProcess, str], corpus: dict[str, Path]
) -> None:
    server, key = served
    leaks = []
    with server.client(key) as client:
        for sample in CORPUS:
            if sample.valid:
                continue
            path = corpus[sample.name]
            with open(path, "rb") as handle:
                response = client.post("/v1/videos/uploads", files={"file": (path.name, handle, "video/mp4")})
            message = response.json()["error"]["message"]
            if str(server.data_dir.parent) in message or "/tmp/" in message or "incoming-" in message:
                leaks.append(f"{sample.name}: {message}")
    assert not leaks, leaks


def test_the_server_is_healthy_and_still_renders(
    served: tuple[ServerProcess, str], corpus: dict[str, Path]
) -> None:
    server, key = served
    assert server.proc is not None and server.proc.poll() is None
    with server.client(key) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code in (200, 404), ready.text  # 404: no readiness route in this build
        with open(corpus["vp9-webm"], "rb") as handle:
            source = client.post("/v1/videos/uploads", files={"file": ("vp9.webm", handle, "video/webm")})
        assert source.status_code == 200, source.text
        extension = client.post(
            "/v1/videos/extensions",
            json={"video": {"id": source.json()["id"]}, "prompt": "pan left", "seconds": "1"},
        )
        assert extension.status_code == 200, extension.text
        _check_accepted_video(client, extension.json())
        content = client.get(f"/v1/videos/{extension.json()['id']}/content")
        with av.open(io.BytesIO(content.content)) as container:
            assert container.streams.video[0].codec_context.name == "h264"
