"""The render pipeline with the real CPU engine: smart-cut extends, their fallbacks, progress, cancel.

Sources are encoded with libx264's default preset (B-frames, as cameras and
other tools make them) and a short GOP, so the cut lands mid-GOP; results are
decoded frame by frame and compared with the source's own decode.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.media.sources import decode, encode_h264, has_b_frames, moov_before_mdat
from tests.support import clip_frame, psnr
from videoloom.engines.base import ExtendJob, ProgressCallback
from videoloom.engines.motion import MotionEngine
from videoloom.media import SmartCutWriter, read_colour
from videoloom.worker.render import JobCancelled, RenderOutputs, RenderPlan, RenderResult, render

W, H = 640, 360
FPS = Fraction(24)


def make_source(path: Path, *, seconds: int, gop: int, tagged_709: bool = True) -> Path:
    frames = [clip_frame(i, W, H) for i in range(seconds * 24)]
    return encode_h264(path, frames, gop=gop, tagged_709=tagged_709)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("render-sources")
    return {
        # Keyframes at 0, 40, 80, 120: an extend at second 4 (frame 96) copies 0-79.
        "gop40": make_source(folder / "gop40.mp4", seconds=6, gop=40),
        # Keyframes at 0, 47, 94: the cut at 96 is 2 frames past a keyframe.
        "gop47": make_source(folder / "gop47.mp4", seconds=5, gop=47),
        "untagged": make_source(folder / "untagged.mp4", seconds=6, gop=40, tagged_709=False),
        # libx264's default GOP (250) over 6 s: one keyframe, so nothing can be copied.
        "one_keyframe": make_source(folder / "one-keyframe.mp4", seconds=6, gop=250),
        "one_keyframe_untagged": make_source(
            folder / "one-keyframe-untagged.mp4", seconds=6, gop=250, tagged_709=False
        ),
    }


@pytest.fixture(scope="module")
def decoded(sources: dict[str, Path]) -> dict[str, list[np.ndarray]]:
    return {name: decode(path)[0] for name, path in sources.items()}


class RecordingEngine(MotionEngine):
    """The motion engine, remembering the context it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.contexts: list[tuple[np.ndarray, ...]] = []

    def extend(self, job: ExtendJob, progress: ProgressCallback) -> Iterator[np.ndarray]:
        self.contexts.append(tuple(job.context))
        return super().extend(job, progress)


def plan_for(source: Path, **overrides: Any) -> RenderPlan:
    values: dict[str, Any] = {
        "mode": "extend",
        "width": W,
        "height": H,
        "fps": FPS,
        "new_seconds": 2,
        "prompt": "the camera keeps moving",
        "seed": 1,
        "source": source,
        "start_time": 4,
        "preset": "veryfast",
        "crf": 18,
    }
    values.update(overrides)
    return RenderPlan(**values)


def run(
    plan: RenderPlan, tmp_path: Path, engine: MotionEngine | None = None
) -> tuple[RenderResult, RenderOutputs, list[float]]:
    outputs = RenderOutputs(
        video=tmp_path / "out.mp4", thumbnail=tmp_path / "thumb.jpg", spritesheet=tmp_path / "sprites.jpg"
    )
    seen: list[float] = []
    result = render(
        plan,
        engine or MotionEngine(),
        outputs=outputs,
        progress=seen.append,
        cancelled=threading.Event(),
    )
    return result, outputs, seen


def reencoded_from_source(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the decoded source frames the smart cut re-encodes (one entry per call)."""
    calls: list[int] = []
    original = SmartCutWriter.write_frame

    def counting(self: SmartCutWriter, frame: Any) -> None:
        calls.append(1)
        original(self, frame)

    monkeypatch.setattr(SmartCutWriter, "write_frame", counting)
    return calls


def check_new_part(frames: list[np.ndarray], keep: int, source: list[np.ndarray]) -> None:
    new = frames[keep:]
    assert psnr(new[0], source[keep - 1]) >= 22, "the new part does not start near the cut"
    changes = [
        float(np.mean(np.abs(new[i].astype(int) - new[i - 12].astype(int)))) for i in range(12, len(new), 12)
    ]
    assert min(changes) > 0.5, f"the new part is frozen: {changes}"


def test_extend_smart_cut_copies_up_to_the_keyframe_and_re_encodes_from_there(
    sources: dict[str, Path],
    decoded: dict[str, list[np.ndarray]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert has_b_frames(sources["gop40"])
    reencoded = reencoded_from_source(monkeypatch)
    engine = RecordingEngine()
    with caplog.at_level(logging.INFO, logger="videoloom.worker.render"):
        result, outputs, progress = run(plan_for(sources["gop40"]), tmp_path, engine)
    assert "smart cut: copying frames 0-79, re-encoding 80-95" in caplog.text

    source = decoded["gop40"]
    frames, rate, declared, errors = decode(outputs.video)
    assert not errors, errors
    assert len(frames) == declared == result.frame_count == 96 + 48
    assert rate == 24 and result.duration == 6
    assert moov_before_mdat(outputs.video)
    for i in range(80):
        assert np.array_equal(frames[i], source[i]), f"copied frame {i} differs from the source"
    for i in range(80, 96):
        assert psnr(frames[i], source[i]) >= 35, f"re-encoded frame {i}: {psnr(frames[i], source[i]):.1f} dB"
    check_new_part(frames, 96, source)

    # Only the 16 frames from the keyframe to the cut were decoded and re-encoded...
    assert len(reencoded) == 16
    # ...and the engine continued from the 3 frames before the cut, as decoded.
    (context,) = engine.contexts
    assert all(np.array_equal(c, s) for c, s in zip(context, source[93:96], strict=True))

    # The thumbnail is frame 24 (1 s), decoded from the copied packets.
    thumbnail = np.asarray(Image.open(outputs.thumbnail).convert("RGB"))
    assert psnr(thumbnail, source[24]) >= 30 > max(psnr(thumbnail, source[12]), psnr(thumbnail, source[36]))
    sheet = np.asarray(Image.open(outputs.spritesheet).convert("RGB"))
    assert sheet.shape == (5 * 90, 5 * 160, 3)
    assert progress == sorted(progress) and progress[-1] == 1.0 and len(progress) > 3


def test_context_before_the_keyframe_is_decoded_exactly(
    sources: dict[str, Path],
    decoded: dict[str, list[np.ndarray]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reencoded = reencoded_from_source(monkeypatch)
    engine = RecordingEngine()
    result, outputs, _ = run(plan_for(sources["gop47"]), tmp_path, engine)
    source = decoded["gop47"]
    assert len(reencoded) == 2  # frames 94 and 95
    (context,) = engine.contexts
    assert all(np.array_equal(c, s) for c, s in zip(context, source[93:96], strict=True))
    frames, rate, _, errors = decode(outputs.video)
    assert not errors and rate == 24 and len(frames) == result.frame_count == 144
    assert all(np.array_equal(frames[i], source[i]) for i in range(94))


def test_smart_cut_of_an_untagged_source_keeps_its_colours(
    sources: dict[str, Path], decoded: dict[str, list[np.ndarray]], tmp_path: Path
) -> None:
    """Untagged YUV reads as BT.601: the new frames must be made with the same matrix."""
    _, outputs, _ = run(plan_for(sources["untagged"], new_seconds=1), tmp_path)
    source = decoded["untagged"]
    frames, rate, _, errors = decode(outputs.video)
    assert not errors and rate == 24 and len(frames) == 120
    assert all(np.array_equal(frames[i], source[i]) for i in range(80))
    last, first_new = source[95].astype(float), frames[96].astype(float)
    assert np.abs(first_new.mean(axis=(0, 1)) - last.mean(axis=(0, 1))).max() < 1.5, (
        "colour shift at the join"
    )
    check_new_part(frames, 96, source)


def test_extend_to_the_end_of_the_source(
    sources: dict[str, Path],
    decoded: dict[str, list[np.ndarray]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reencoded = reencoded_from_source(monkeypatch)
    result, outputs, _ = run(plan_for(sources["gop40"], start_time=None, new_seconds=1), tmp_path)
    frames, rate, _, errors = decode(outputs.video)
    assert not errors and rate == 24 and len(frames) == result.frame_count == 144 + 24
    assert len(reencoded) == 144 - 120
    assert all(np.array_equal(frames[i], decoded["gop40"][i]) for i in range(120))


@pytest.mark.parametrize("name", ["one_keyframe", "one_keyframe_untagged"])
def test_source_with_one_keyframe_is_re_encoded_whole(
    sources: dict[str, Path],
    decoded: dict[str, list[np.ndarray]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    name: str,
) -> None:
    with caplog.at_level(logging.INFO, logger="videoloom.worker.render"):
        result, outputs, _ = run(plan_for(sources[name]), tmp_path)
    assert "full re-encode: no clean keyframe" in caplog.text
    source = decoded[name]
    frames, rate, _, errors = decode(outputs.video)
    assert not errors and rate == 24 and len(frames) == result.frame_count == 144
    worst = min(psnr(frames[i], source[i]) for i in range(96))
    assert worst >= 35, f"kept part: worst {worst:.1f} dB"
    # The picture is unchanged, so the output keeps the source's colour description.
    assert read_colour(outputs.video) == read_colour(sources[name])
    last, first_new = source[95].astype(float), frames[96].astype(float)
    assert np.abs(first_new.mean(axis=(0, 1)) - last.mean(axis=(0, 1))).max() < 1.5, (
        "colour shift at the join"
    )
    check_new_part(frames, 96, source)


@pytest.mark.parametrize(
    ("overrides", "reason", "shape"),
    [
        ({"width": 360, "height": 360}, "the source is 640x360, the output 360x360", (360, 360, 3)),
        ({"upscale": True}, "upscaling changes the kept part", (360, 640, 3)),
    ],
)
def test_changed_pictures_fall_back_to_a_full_re_encode(
    sources: dict[str, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    overrides: dict[str, Any],
    reason: str,
    shape: tuple[int, int, int],
) -> None:
    with caplog.at_level(logging.INFO, logger="videoloom.worker.render"):
        result, outputs, _ = run(plan_for(sources["gop40"], new_seconds=1, **overrides), tmp_path)
    assert reason in caplog.text and "smart cut:" not in caplog.text
    frames, rate, _, errors = decode(outputs.video)
    assert not errors and rate == 24 and len(frames) == result.frame_count == 120
    assert frames[0].shape == shape


@pytest.mark.parametrize("source_name", ["gop40", "one_keyframe"])
def test_cancel_stops_either_path(sources: dict[str, Path], tmp_path: Path, source_name: str) -> None:
    cancelled = threading.Event()

    def progress(fraction: float) -> None:
        if fraction > 0:
            cancelled.set()

    outputs = RenderOutputs(
        video=tmp_path / "o.mp4", thumbnail=tmp_path / "t.jpg", spritesheet=tmp_path / "s.jpg"
    )
    with pytest.raises(JobCancelled):
        render(
            plan_for(sources[source_name]),
            MotionEngine(),
            outputs=outputs,
            progress=progress,
            cancelled=cancelled,
        )
    assert not outputs.thumbnail.exists()


class SteppingEngine(MotionEngine):
    """Works in steps before yielding anything (as a diffusion engine does), and reports."""

    def __init__(self, cancel_at_step: int | None, cancelled: threading.Event) -> None:
        super().__init__()
        self.steps_run = 0
        self.cancel_at_step = cancel_at_step
        self.cancelled = cancelled
        self.seen: tuple[Path | None, int] | None = None

    def extend(self, job: ExtendJob, progress: ProgressCallback) -> Iterator[np.ndarray]:
        self.seen = (job.source, job.keep_frames)
        for step in range(10):
            if step == self.cancel_at_step:
                self.cancelled.set()  # as the worker's monitor does when the task is cancelled
            progress(step / 10)
            self.steps_run += 1
        job.report["steps"] = self.steps_run
        return super().extend(job, lambda _: None)


@pytest.mark.parametrize("source_name", ["gop40", "one_keyframe"])
def test_an_engine_stops_between_steps_and_sees_the_source(
    sources: dict[str, Path], tmp_path: Path, source_name: str
) -> None:
    outputs = RenderOutputs(
        video=tmp_path / "o.mp4", thumbnail=tmp_path / "t.jpg", spritesheet=tmp_path / "s.jpg"
    )
    cancelled = threading.Event()
    stepping = SteppingEngine(cancel_at_step=3, cancelled=cancelled)
    with pytest.raises(JobCancelled):
        render(
            plan_for(sources[source_name]),
            stepping,
            outputs=outputs,
            progress=lambda _: None,
            cancelled=cancelled,
        )
    assert stepping.steps_run == 3 and stepping.seen == (sources[source_name], 96)

    finished = SteppingEngine(cancel_at_step=None, cancelled=threading.Event())
    result, _, _ = run(plan_for(sources[source_name]), tmp_path, finished)
    assert result.report == {"steps": 10} and result.frame_count == 96 + 48
