"""The motion engine: continuity, motion direction, camera words, images, determinism, laziness."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from fractions import Fraction

import cv2
import numpy as np
import pytest
from PIL import Image

from videoloom.core.errors import EngineError
from videoloom.engines._prompt import parse_directions
from videoloom.engines.base import ExtendJob, GenerateJob
from videoloom.engines.motion import MotionEngine

W, H = 320, 180
FPS = Fraction(24)


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Natural-ish test picture: smooth colour noise plus a few anti-aliased discs."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random((height, width, 3)).astype(np.float32), (0, 0), 9)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    img = (noise * 255).astype(np.uint8)
    for _ in range(10):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(img, centre, int(rng.integers(height // 16, height // 6)), colour, -1, cv2.LINE_AA)
    return cv2.GaussianBlur(img, (0, 0), 1.5)


def moving_context(dx: int = 4, frames: int = 3) -> list[np.ndarray]:
    """``frames`` crops of one texture, the content moving ``dx`` px right per frame.

    Frame ``frames`` (one past the end) is the true continuation, for comparison.
    """
    tex = texture(H, W + 64)
    return [np.ascontiguousarray(tex[:, 32 - dx * k : 32 - dx * k + W]) for k in range(frames + 1)]


def static_context() -> list[np.ndarray]:
    frame = texture(H, W, seed=3)
    return [frame.copy() for _ in range(3)]


def extend(
    context: Sequence[np.ndarray],
    prompt: str = "",
    num_frames: int = 24,
    engine: MotionEngine | None = None,
    **extra: object,
) -> list[np.ndarray]:
    job = ExtendJob(
        width=W, height=H, fps=FPS, num_frames=num_frames, prompt=prompt, context=context, **extra
    )
    return list((engine or MotionEngine()).extend(job, lambda _: None))


def generate(prompt: str, num_frames: int = 24, **extra: object) -> list[np.ndarray]:
    job = GenerateJob(width=W, height=H, fps=FPS, num_frames=num_frames, prompt=prompt, **extra)
    return list(MotionEngine().generate(job, lambda _: None))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.PSNR(a, b))


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """How far the content of ``b`` sits right/down of the content of ``a``, in pixels."""
    grey_a = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey_b = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float32)
    window = cv2.createHanningWindow((a.shape[1], a.shape[0]), cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(grey_a, grey_b, window)
    return dx, dy


def zoom(a: np.ndarray, b: np.ndarray) -> float:
    """The magnification that best turns ``a`` into ``b`` (> 1: ``b`` is ``a`` zoomed in)."""

    def crop(img: np.ndarray, s: float) -> np.ndarray:
        h, w = img.shape[:2]
        cw, ch = w / s, h / s
        matrix = np.array([[s, 0, -(w - cw) / 2 * s], [0, s, -(h - ch) / 2 * s]])
        return cv2.warpAffine(img, matrix, (w, h), flags=cv2.INTER_LINEAR)

    margin = 24  # compare the middle only: zooming out uncovers borders
    candidates = np.round(np.arange(0.7, 1.5, 0.01), 2)
    errors = []
    for s in candidates:
        if s >= 1:
            err = mse(crop(a, s)[margin:-margin, margin:-margin], b[margin:-margin, margin:-margin])
        else:
            err = mse(a[margin:-margin, margin:-margin], crop(b, 1 / s)[margin:-margin, margin:-margin])
        errors.append(err)
    return float(candidates[int(np.argmin(errors))])


# -- the engine object -------------------------------------------------------------------------


def test_engine_identity_and_options() -> None:
    engine = MotionEngine(flow_scale=0.5, damping=0.9)
    assert engine.name == "motion"
    assert engine.native_short_side == 720
    assert (engine.flow_scale, engine.damping) == (0.5, 0.9)
    engine.close()


def test_unknown_option_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        MotionEngine(model_path="/weights.bin")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        MotionEngine(damping="high")  # type: ignore[arg-type]


@pytest.mark.parametrize("options", [{"flow_scale": 0.0}, {"flow_scale": 2}, {"damping": 1.0}])
def test_out_of_range_option_is_a_value_error(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        MotionEngine(**options)


# -- extend: motion and continuity -------------------------------------------------------------


def test_extend_continues_the_motion_of_the_context() -> None:
    *context, truth = moving_context(dx=4)
    frames = extend(context, num_frames=12)
    assert len(frames) == 12
    # the first new frame is a small, smooth step on from the last real one...
    assert psnr(frames[0], context[-1]) >= 25.0
    # ...and very close to what really came next (4 px on, here; extrapolated 0.97 × 4 px)
    assert psnr(frames[0], truth) >= 32.0
    steps = [shift(a, b) for a, b in zip([context[-1], *frames[:5]], frames[:6], strict=True)]
    for dx, dy in steps:
        assert 3.0 <= dx <= 4.5, steps  # rightwards, about 4 px, damped
        assert abs(dy) < 0.5, steps
    assert steps[-1][0] < steps[0][0] + 0.05  # damping: never speeding up
    # the motion keeps carrying the picture: last frame far from the first
    assert np.abs(frames[-1].astype(int) - frames[0].astype(int)).mean() > 5


def test_extend_moves_the_other_way_for_leftward_context() -> None:
    context = moving_context(dx=-4)[:-1]
    frames = extend(context, num_frames=4)
    dx, _ = shift(context[-1], frames[1])
    assert -9.0 < dx < -5.0  # two damped steps of -4 px


def smooth_frame(shift: float) -> np.ndarray:
    """A smooth, low-texture picture (slow sinusoids), its content moved ``shift`` px left."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    x = x + shift
    r = 128 + 90 * np.sin(x / 19.0) * np.cos(y / 27.0)
    g = 128 + 90 * np.sin(x / 12.0 + y / 36.0)
    b = 128 + 90 * np.cos((x - y) / 21.0)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


def test_extend_measures_smooth_low_texture_motion_fully() -> None:
    context = [smooth_frame(2.0 * k) for k in range(3)]
    frames = extend(context, num_frames=3)
    ideal = smooth_frame(2.0 * (2 + 0.97))  # 0.97 × 2 px further left
    assert psnr(frames[0], ideal) > 40  # the full motion, not an under-estimate of it
    dx, dy = shift(context[-1], frames[0])
    assert dx < -1.2
    assert abs(dy) < 0.3


def test_damping_option_slows_the_motion() -> None:
    context = moving_context(dx=4)[:-1]
    fast = extend(context, num_frames=20, engine=MotionEngine(damping=0.97))
    slow = extend(context, num_frames=20, engine=MotionEngine(damping=0.6))
    assert shift(context[-1], fast[-1])[0] > 2 * shift(context[-1], slow[-1])[0]


def test_freeze_stops_the_motion() -> None:
    context = moving_context(dx=4)[:-1]
    frames = extend(context, "freeze", num_frames=20)
    assert abs(shift(frames[-2], frames[-1])[0]) < 0.1


def test_single_context_frame_is_enough_and_not_frozen() -> None:
    frame = static_context()[0]
    frames = extend([frame], num_frames=48)
    assert psnr(frames[0], frame) >= 35.0
    # the default gentle push-in: the picture grows a little over two seconds
    assert 1.01 <= zoom(frame, frames[-1]) <= 1.06
    assert np.abs(frames[-1].astype(int) - frames[0].astype(int)).mean() > 1


# -- extend: camera words ----------------------------------------------------------------------


def test_zoom_in_and_zoom_out() -> None:
    context = static_context()
    zoomed_in = extend(context, "slowly zoom in on the scene", num_frames=48)
    zoomed_out = extend(context, "Pull back to reveal everything", num_frames=48)
    assert psnr(zoomed_in[0], context[-1]) >= 35.0  # eased in: starts from where the video was
    assert zoom(context[-1], zoomed_in[-1]) >= 1.03
    assert zoom(context[-1], zoomed_out[-1]) <= 0.95
    # and the move grows steadily
    assert zoom(context[-1], zoomed_in[24]) < zoom(context[-1], zoomed_in[-1])


def test_pan_left_and_right_move_opposite_ways() -> None:
    context = static_context()
    left = extend(context, "pan left", num_frames=24)
    right = extend(context, "the camera pans to the right", num_frames=24)
    left_dx, left_dy = shift(context[-1], left[-1])
    right_dx, _ = shift(context[-1], right[-1])
    assert left_dx > 3.0  # camera turns left: the picture slides right
    assert right_dx < -3.0
    assert abs(left_dy) < 0.5


def test_tilt_up_slides_the_picture_down() -> None:
    context = static_context()
    dx, dy = shift(context[-1], extend(context, "tilt up", num_frames=24)[-1])
    assert dy > 2.0
    assert abs(dx) < 0.5


def test_camera_and_flow_combine() -> None:
    context = moving_context(dx=4)[:-1]
    frames = extend(context, "pan right", num_frames=24)
    plain = extend(context, num_frames=24)
    # the pan right drags the picture left, against the rightward motion
    assert shift(context[-1], frames[-1])[0] < shift(context[-1], plain[-1])[0] - 3.0


def test_fade_to_black_and_to_white() -> None:
    context = static_context()
    black = extend(context, "Fade to black.", num_frames=48)
    assert black[-1].mean() < 0.1 * black[0].mean()
    assert black[0].mean() > 0.9 * context[-1].mean()
    white = extend(context, "then fade to white", num_frames=48)
    assert white[-1].mean() > 245


# -- extend: reference images ------------------------------------------------------------------


def test_extend_drifts_towards_the_reference_image() -> None:
    context = moving_context()[:-1]
    reference = texture(H, W, seed=42)
    frames = extend(context, num_frames=24, reference_images=[Image.fromarray(reference)])
    assert psnr(frames[0], context[-1]) >= 25.0
    assert mse(frames[-1], reference) < 0.5 * mse(frames[0], reference)


def test_extend_visits_several_reference_images_in_order() -> None:
    context = static_context()
    first, second = texture(H, W, seed=7), texture(H, W, seed=8)
    # a different aspect ratio and size: resized and centre-cropped to the frame
    big_second = cv2.resize(second, (W * 2, H * 2))
    padded = np.zeros((H * 2 + 200, W * 2, 3), np.uint8)
    padded[100:-100] = big_second
    images = [Image.fromarray(first), Image.fromarray(padded)]
    frames = extend(context, num_frames=48, reference_images=images)
    middle, last = frames[23], frames[-1]
    assert mse(middle, first) < mse(middle, second)
    assert mse(last, second) < mse(last, first)


# -- determinism and laziness ------------------------------------------------------------------


def test_extend_is_deterministic() -> None:
    context = moving_context()[:-1]
    a = extend(context, "zoom in, fade out", num_frames=10, seed=5)
    b = extend(context, "zoom in, fade out", num_frames=10, seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_generate_is_deterministic_and_follows_prompt_and_seed() -> None:
    a = generate("a red sunset over the ocean", num_frames=4, seed=1)
    b = generate("a red sunset over the ocean", num_frames=4, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    other_prompt = generate("a blue night in the forest", num_frames=4, seed=1)
    other_seed = generate("a red sunset over the ocean", num_frames=4, seed=2)
    assert mse(a[0], other_prompt[0]) > 100
    assert not np.array_equal(a[0], other_seed[0])


def test_frames_are_made_lazily_with_progress() -> None:
    calls: list[float] = []
    job = ExtendJob(width=W, height=H, fps=FPS, num_frames=6, prompt="", context=moving_context()[:-1])
    frames = MotionEngine().extend(job, calls.append)
    assert inspect.isgenerator(frames)
    assert calls == []  # nothing computed yet
    first = next(frames)
    assert first.shape == (H, W, 3)
    assert 0 < len(calls) < 6
    rest = list(frames)
    assert len(rest) == 5
    assert calls == sorted(calls)
    assert calls[-1] == 1.0


def test_yielded_frames_are_independent_arrays() -> None:
    frames = extend(moving_context()[:-1], num_frames=3)
    frames[0][:] = 0
    assert frames[1].any() and frames[2].any()


# -- generate ----------------------------------------------------------------------------------


def test_generate_text_only_moves_with_progress() -> None:
    calls: list[float] = []
    job = GenerateJob(width=W, height=H, fps=FPS, num_frames=48, prompt="a calm lake at dawn")
    gen = MotionEngine().generate(job, calls.append)
    assert inspect.isgenerator(gen)
    frames = list(gen)
    assert len(frames) == 48
    for frame in frames:
        assert frame.shape == (H, W, 3)
        assert frame.dtype == np.uint8
    assert np.abs(frames[-1].astype(int) - frames[0].astype(int)).mean() > 1.0
    assert psnr(frames[0], frames[1]) > 30  # smooth, not flickering
    assert frames[0].std() > 5  # a picture, not a flat colour
    assert calls == sorted(calls)
    assert calls[-1] == 1.0


def test_generate_palette_follows_colour_words() -> None:
    red = generate("something red", num_frames=1)[0].astype(float)
    blue = generate("something blue", num_frames=1)[0].astype(float)
    assert red[..., 0].mean() - red[..., 2].mean() > blue[..., 0].mean() - blue[..., 2].mean() + 20


@pytest.mark.parametrize("size", [(320, 180), (181, 320), (97, 61)])
def test_generate_any_frame_size(size: tuple[int, int]) -> None:
    width, height = size
    job = GenerateJob(width=width, height=height, fps=Fraction(30000, 1001), num_frames=3, prompt="x")
    frames = list(MotionEngine().generate(job, lambda _: None))
    assert [f.shape for f in frames] == [(height, width, 3)] * 3


def test_generate_text_only_obeys_camera_words() -> None:
    still = generate("night sky, freeze", num_frames=24)
    panned = generate("night sky, freeze, pan right", num_frames=24)
    assert zoom(still[0], still[-1]) == 1.0 or np.array_equal(still[0], still[-1])
    assert shift(panned[0], panned[-1])[0] < -3.0
    faded = generate("night sky, fade in", num_frames=48)
    assert faded[0].max() < 10 and faded[-1].mean() > faded[0].mean() + 5


def test_generate_animates_reference_images() -> None:
    first, second = texture(H, W, seed=11), texture(300, 500, seed=12)
    fitted_second = cv2.resize(second, (W, 192), interpolation=cv2.INTER_AREA)[6:-6]  # cover-fit
    frames = generate("", num_frames=48, reference_images=[Image.fromarray(first), Image.fromarray(second)])
    assert len(frames) == 48
    assert psnr(frames[0], first) > 18  # the first image, slightly zoomed
    assert mse(frames[0], first) < mse(frames[0], fitted_second)
    assert mse(frames[-1], fitted_second) < mse(frames[-1], first)
    assert psnr(frames[10], frames[11]) > 30  # slow movement
    assert not np.array_equal(frames[10], frames[11])


def test_generate_image_with_zoom_word() -> None:
    image = texture(H, W, seed=13)
    frames = generate("zoom in", num_frames=48, reference_images=[Image.fromarray(image)])
    assert zoom(frames[0], frames[-1]) >= 1.03


# -- invalid jobs ------------------------------------------------------------------------------


def test_invalid_jobs_raise_engine_error() -> None:
    engine = MotionEngine()
    context = moving_context()[:-1]
    with pytest.raises(EngineError, match="num_frames"):
        engine.extend(
            ExtendJob(width=W, height=H, fps=FPS, num_frames=0, prompt="", context=context),
            lambda _: None,
        )
    with pytest.raises(EngineError, match="context"):
        engine.extend(
            ExtendJob(width=W, height=H, fps=FPS, num_frames=3, prompt="", context=()),
            lambda _: None,
        )
    with pytest.raises(EngineError, match="context frame 1"):
        engine.extend(
            ExtendJob(
                width=W,
                height=H,
                fps=FPS,
                num_frames=3,
                prompt="",
                context=[context[0], context[1][:, :-1]],
            ),
            lambda _: None,
        )
    with pytest.raises(EngineError, match="uint8"):
        engine.extend(
            ExtendJob(
                width=W,
                height=H,
                fps=FPS,
                num_frames=3,
                prompt="",
                context=[context[0].astype(np.float32)],
            ),
            lambda _: None,
        )
    with pytest.raises(EngineError, match="num_frames"):
        engine.generate(GenerateJob(width=W, height=H, fps=FPS, num_frames=-1, prompt=""), print)


# -- the prompt vocabulary ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("Zoom in on the face", {"zoom": 1}),
        ("slow push-in", {"zoom": 1}),
        ("move closer", {"zoom": 1}),
        ("ZOOMING OUT slowly", {"zoom": -1, "speed": 0.5}),
        ("pull back", {"zoom": -1}),
        ("zoom in, then zoom out", {"zoom": -1}),
        ("pan left", {"pan": -1}),
        ("panning to the right, fast", {"pan": 1, "speed": 2.0}),
        ("pan left, then pan right", {"pan": 1}),
        ("tilt down and tilt up", {"tilt": 1}),
        ("tilt up", {"tilt": 1}),
        ("tilts down", {"tilt": -1}),
        ("slow motion", {"slow": True}),
        ("slow-mo", {"slow": True}),
        ("the action slows down", {"slow": True}),
        ("freeze frame", {"freeze": True}),
        ("fade out", {"fade_out": "black"}),
        ("fades to black", {"fade_out": "black"}),
        ("fade into white", {"fade_out": "white"}),
        ("fade in from the dark", {"fade_in": True, "fade_out": None}),
        ("a panorama of a zoo in the closet", {"zoom": 0, "pan": 0}),
        ("", {"zoom": 0, "pan": 0, "tilt": 0, "fade_out": None, "slow": False}),
    ],
)
def test_prompt_vocabulary(prompt: str, expected: dict[str, object]) -> None:
    directions = parse_directions(prompt)
    for key, value in expected.items():
        assert getattr(directions, key) == value, (prompt, key)
