"""The motion engine's edits: the prompt vocabulary, each operation, stabilisation, refusal, laziness."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from fractions import Fraction
from itertools import pairwise

import cv2
import numpy as np
import pytest

from videoloom.core.errors import EngineError
from videoloom.engines import _edits
from videoloom.engines.base import EditJob
from videoloom.engines.motion import MotionEngine

W, H = 160, 96
FPS = Fraction(24)


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Natural-ish test picture: smooth colour noise, fine grain and a few anti-aliased discs."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random((height, width, 3)).astype(np.float32), (0, 0), 5)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    img = (noise * 200 + 25).astype(np.uint8)
    for _ in range(12):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(img, centre, int(rng.integers(height // 16, height // 6)), colour, -1, cv2.LINE_AA)
    return cv2.GaussianBlur(img, (0, 0), 1.0)


def clip(count: int = 24, seed: int = 0) -> list[np.ndarray]:
    """``count`` different frames: a texture panning 2 px per frame, so each frame is recognisable."""
    tex = texture(H, W + 2 * count, seed)
    return [np.ascontiguousarray(tex[:, 2 * k : 2 * k + W]) for k in range(count)]


def job(frames: Sequence[np.ndarray], prompt: str) -> EditJob:
    height, width = frames[0].shape[:2]
    return EditJob(
        width=width,
        height=height,
        fps=FPS,
        frame_count=len(frames),
        frames=lambda: iter(frames),
        prompt=prompt,
    )


def edit(frames: Sequence[np.ndarray], prompt: str) -> list[np.ndarray]:
    return list(MotionEngine().edit(job(frames, prompt), lambda _: None))


def shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """How far the content of ``b`` sits right/down of the content of ``a``, in pixels."""
    grey_a = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey_b = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float32)
    window = cv2.createHanningWindow((a.shape[1], a.shape[0]), cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(grey_a, grey_b, window)
    return dx, dy


def channel_means(frames: Sequence[np.ndarray]) -> np.ndarray:
    return np.mean([f.reshape(-1, 3).mean(axis=0) for f in frames], axis=0)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.PSNR(a, b))


# -- the vocabulary ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "operations"),
    [
        ("make it a cat", []),
        ("", []),
        ("zoom out and remove the car", []),
        ("Make it WARMER", ["grade:warm"]),
        ("golden hour look", ["grade:warm"]),
        ("cooler, with a blue tint", ["grade:cool"]),
        ("cold", ["grade:cool"]),
        ("black and white", ["grade:monochrome"]),
        ("Black & White please", ["grade:monochrome"]),
        ("greyscale", ["grade:monochrome"]),
        ("monochrome", ["grade:monochrome"]),
        ("vintage sepia", ["grade:sepia"]),
        ("brighter", ["grade:brighter"]),
        ("darken it", ["grade:darker"]),
        ("more contrast", ["grade:more_contrast"]),
        ("punchy", ["grade:more_contrast"]),
        ("less contrast", ["grade:less_contrast"]),
        ("a flat, faded look", ["grade:less_contrast"]),
        ("vivid", ["grade:saturate"]),
        ("more colour", ["grade:saturate"]),
        ("more color", ["grade:saturate"]),
        ("desaturate", ["grade:desaturate"]),
        ("less saturated, muted", ["grade:desaturate"]),
        ("2x faster", ["speed:2.0"]),
        ("3 times faster", ["speed:3.0"]),
        ("twice as fast", ["speed:2.0"]),
        ("speed up", ["speed:2.0"]),
        ("timelapse", ["speed:2.0"]),
        ("slow motion", ["speed:0.5"]),
        ("slow it down", ["speed:0.5"]),
        ("half speed", ["speed:0.5"]),
        ("0.5x", ["speed:0.5"]),
        ("4x slower", ["speed:0.5"]),  # never slower than half speed
        ("reverse", ["reverse"]),
        ("play it backwards", ["reverse"]),
        ("rewind", ["reverse"]),
        ("zoom in", ["zoom:1.25"]),
        ("crop in tighter", ["zoom:1.25"]),
        ("mirror", ["mirror"]),
        ("flip it horizontally", ["mirror"]),
        ("flip vertically", ["flip_vertical"]),
        ("upside-down", ["flip_vertical"]),
        ("stabilize", ["stabilize"]),
        ("stabilise the footage", ["stabilize"]),
        ("steady", ["stabilize"]),
        ("remove the camera shake", ["stabilize"]),
        ("fade in", ["fade_in"]),
        ("fade out", ["fade_out:black"]),
        ("fade to black", ["fade_out:black"]),
        # combinations run in the fixed order, whatever the order of the words
        ("make it warmer, 2x faster and stabilize", ["stabilize", "speed:2.0", "grade:warm"]),
        (
            "fade in, black and white, mirror, reverse, slow motion, steady",
            ["stabilize", "reverse", "speed:0.5", "mirror", "grade:monochrome", "fade_in"],
        ),
        ("brighter, more contrast, vivid, sepia, cooler", None),
        # the side mentioned last wins
        ("warmer... no, cooler", ["grade:cool"]),
        ("slow motion, then faster", ["speed:2.0"]),
        ("sepia, actually black and white", ["grade:monochrome"]),
    ],
)
def test_edit_operations(prompt: str, operations: list[str] | None) -> None:
    if operations is None:
        operations = [
            "grade:brighter",
            "grade:more_contrast",
            "grade:saturate",
            "grade:sepia",
            "grade:cool",
        ]
    assert MotionEngine().edit_operations(prompt) == operations


def test_output_frame_count_follows_speed() -> None:
    plan = _edits.parse_edits
    assert plan("2x faster").output_frames(48) == 24
    assert plan("2x faster").output_frames(47) == 24
    assert plan("3x faster").output_frames(48) == 16
    assert plan("slow motion").output_frames(48) == 96
    assert plan("warmer").output_frames(48) == 48


# -- colour ------------------------------------------------------------------------------------


def test_black_and_white_makes_grey() -> None:
    frames = clip()
    out = edit(frames, "black and white")
    assert len(out) == len(frames)
    for frame in out:
        assert frame.shape == (H, W, 3) and frame.dtype == np.uint8
        assert np.abs(frame[..., 0].astype(int) - frame[..., 1]).max() <= 1
        assert np.abs(frame[..., 1].astype(int) - frame[..., 2]).max() <= 1
    assert frames[0].std(axis=-1).mean() > 10  # the input really is colourful
    grey = cv2.cvtColor(frames[3], cv2.COLOR_RGB2GRAY)
    assert np.abs(out[3][..., 0].astype(int) - grey).max() <= 1


def test_warm_and_cool_move_the_red_blue_balance() -> None:
    frames = clip()
    r, _, b = channel_means(frames)
    wr, _, wb = channel_means(edit(frames, "warmer"))
    cr, _, cb = channel_means(edit(frames, "cooler"))
    assert wr / wb > 1.1 * (r / b)
    assert cr / cb < (r / b) / 1.1


def test_brighter_and_darker_move_the_mean() -> None:
    frames = clip()
    mean = np.mean(frames)
    assert np.mean(edit(frames, "brighter")) > mean + 10
    assert np.mean(edit(frames, "darker")) < mean - 10


def test_contrast_moves_the_spread() -> None:
    frames = clip()
    std = np.std(frames)
    assert np.std(edit(frames, "more contrast")) > 1.1 * std
    assert np.std(edit(frames, "less contrast")) < 0.8 * std


def test_saturation_and_sepia() -> None:
    frames = clip()

    def colourfulness(frames: Sequence[np.ndarray]) -> float:
        return float(np.mean([f.astype(float).std(axis=-1).mean() for f in frames]))

    assert colourfulness(edit(frames, "vivid")) > 1.15 * colourfulness(frames)
    assert colourfulness(edit(frames, "desaturate")) < 0.6 * colourfulness(frames)
    r, g, b = channel_means(edit(frames, "sepia"))
    assert r > g > b


def test_fades() -> None:
    frames = clip(72)
    faded = edit(frames, "fade in and fade out")
    assert len(faded) == 72
    assert faded[0].max() == 0 and faded[-1].max() == 0
    assert faded[36].tobytes() == frames[36].tobytes()  # the middle is untouched
    means = [float(f.mean()) for f in faded[:25]]
    assert means == sorted(means) and means[0] < means[12] < means[24]  # up from black over 1 s
    assert faded[24].tobytes() == frames[24].tobytes()
    white = edit(frames, "fade to white")
    assert white[-1].min() == 255


# -- time --------------------------------------------------------------------------------------


def test_faster_keeps_every_other_frame() -> None:
    frames = clip(48)
    out = edit(frames, "2x faster")
    assert len(out) == 24
    for k, frame in enumerate(out):
        assert frame.tobytes() == frames[2 * k].tobytes()


def test_slow_motion_doubles_the_frames() -> None:
    frames = clip(24)
    out = edit(frames, "slow motion")
    assert len(out) == 48
    for k in range(24):
        assert out[2 * k].tobytes() == frames[k].tobytes()
    # in-between frames sit between their neighbours
    blend = cv2.addWeighted(frames[5], 0.5, frames[6], 0.5, 0.0)
    assert np.abs(out[11].astype(int) - blend).max() <= 1
    assert out[-1].tobytes() == frames[-1].tobytes()


def test_reverse_plays_backwards() -> None:
    frames = clip(30)
    out = edit(frames, "reverse")
    assert len(out) == 30
    for got, want in zip(out, frames[::-1], strict=True):
        assert got.tobytes() == want.tobytes()


def test_reverse_and_faster_combine() -> None:
    frames = clip(30)
    out = edit(frames, "backwards, 2x faster")
    assert [f.tobytes() for f in out] == [f.tobytes() for f in frames[::-1][::2]]


def test_reverse_is_refused_past_its_memory_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    frames = clip(30)
    monkeypatch.setattr(_edits, "REVERSE_MAX_BYTES", 20 * W * H * 3)
    with pytest.raises(EngineError) as info:
        MotionEngine().edit(job(frames, "reverse"), lambda _: None)
    assert info.value.code == "edit_too_long"
    # a source that yields more than it declared is stopped while buffering, too
    lying = EditJob(width=W, height=H, fps=FPS, frame_count=10, frames=lambda: iter(frames), prompt="reverse")
    with pytest.raises(EngineError):
        list(MotionEngine().edit(lying, lambda _: None))


# -- geometry ----------------------------------------------------------------------------------


def test_mirror_and_flip() -> None:
    frames = clip(6)
    for got, want in zip(edit(frames, "mirror"), frames, strict=True):
        assert np.array_equal(got, np.fliplr(want))
    for got, want in zip(edit(frames, "upside down"), frames, strict=True):
        assert np.array_equal(got, np.flipud(want))


def test_zoom_in_enlarges_the_centre() -> None:
    frames = clip(4)
    out = edit(frames, "zoom in")
    cw, ch = round(W / 1.25), round(H / 1.25)
    x0, y0 = (W - cw) // 2, (H - ch) // 2
    for got, frame in zip(out, frames, strict=True):
        expected = cv2.resize(frame[y0 : y0 + ch, x0 : x0 + cw], (W, H), interpolation=cv2.INTER_LINEAR)
        assert psnr(got, expected) > 30
        assert psnr(got, frame) < 22  # and it really changed


# -- stabilisation -----------------------------------------------------------------------------


def shaky_clip(count: int = 48, jitter: int = 6, seed: int = 1) -> list[np.ndarray]:
    """A still textured picture seen by a camera shaking up to ``jitter`` px each way, seeded."""
    rng = np.random.default_rng(seed)
    pad = jitter + 2
    tex = texture(H + 2 * pad, W + 2 * pad, seed=seed + 10)
    offsets = rng.integers(-jitter, jitter + 1, size=(count, 2))
    return [np.ascontiguousarray(tex[pad + dy : pad + dy + H, pad + dx : pad + dx + W]) for dx, dy in offsets]


def mean_step(frames: Sequence[np.ndarray]) -> float:
    steps = [shift(a, b) for a, b in pairwise(frames)]
    return float(np.mean([abs(dx) + abs(dy) for dx, dy in steps]))


def test_stabilize_removes_the_shake() -> None:
    frames = shaky_clip()
    out = edit(frames, "stabilize")
    assert len(out) == len(frames)
    before, after = mean_step(frames), mean_step(out)
    assert before > 4.0
    assert after < 0.4 * before, (before, after)


def test_stabilize_leaves_a_steady_clip_alone() -> None:
    frame = texture(H, W, seed=4)
    out = edit([frame] * 12, "stabilize")
    assert all(np.array_equal(got, frame) for got in out)


def test_stabilize_keeps_a_deliberate_pan() -> None:
    frames = clip(48)  # a steady 2 px/frame pan: not shake
    out = edit(frames, "steady")
    steps = [shift(a, b)[0] for a, b in pairwise(out)]  # ends included
    assert np.allclose(steps, -2.0, atol=0.3), steps


# -- the engine contract -----------------------------------------------------------------------


def test_nothing_understood_is_refused() -> None:
    frames = clip(4)
    with pytest.raises(EngineError) as info:
        MotionEngine().edit(job(frames, "make it a cat"), lambda _: None)
    assert info.value.code == "edit_not_understood"
    assert "black and white" in info.value.message  # it lists what it does understand


@pytest.mark.parametrize(
    "change",
    [{"width": 0}, {"fps": Fraction(0)}, {"frame_count": 0}],
)
def test_bad_jobs_are_refused_eagerly(change: dict[str, object]) -> None:
    fields = {"width": W, "height": H, "fps": FPS, "frame_count": 4, "prompt": "warmer"}
    fields.update(change)
    with pytest.raises(EngineError):
        MotionEngine().edit(EditJob(frames=lambda: iter(clip(4)), **fields), lambda _: None)  # type: ignore[arg-type]


def test_wrong_frames_raise_engine_error() -> None:
    frames = [np.zeros((H, W), np.uint8)] * 3
    bad = EditJob(width=W, height=H, fps=FPS, frame_count=3, frames=lambda: iter(frames), prompt="warmer")
    with pytest.raises(EngineError):
        list(MotionEngine().edit(bad, lambda _: None))


@pytest.mark.parametrize("prompt", ["warmer", "stabilize, reverse, slow motion, fade out"])
def test_edit_is_lazy_and_reports_progress(prompt: str) -> None:
    frames = clip(24)
    opened: list[int] = []

    def source() -> Iterator[np.ndarray]:
        opened.append(1)
        return iter(frames)

    seen: list[float] = []
    the_job = EditJob(width=W, height=H, fps=FPS, frame_count=24, frames=source, prompt=prompt)
    stream = MotionEngine().edit(the_job, seen.append)
    assert opened == [] and seen == []  # nothing read or made yet
    first = next(stream)
    assert first.shape == (H, W, 3)
    rest = list(stream)
    assert len(rest) + 1 == _edits.parse_edits(prompt).output_frames(24)
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert all(b >= a for a, b in pairwise(seen))
    assert all(0.0 <= p <= 1.0 for p in seen)
    assert len(opened) == (2 if "stabilize" in prompt else 1)


def test_edits_are_deterministic_and_leave_the_source_alone() -> None:
    frames = shaky_clip(24)
    copies = [f.copy() for f in frames]
    prompt = "stabilize, zoom in, warmer, more contrast, fade in"
    a = edit(frames, prompt)
    b = edit(frames, prompt)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert all(np.array_equal(x, y) for x, y in zip(frames, copies, strict=True))
