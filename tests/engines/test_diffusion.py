"""The diffusion engine on tiny random-weight pipelines (CPU, offline).

The pipelines are written with ``save_pretrained`` (engines/_tiny.py, as ``videoloom dev
tiny-model`` does) and loaded back through the engine's own ``from_pretrained`` path. They
make noise, so these tests check the engine's contract — frame counts, sizes, the pipeline
rules, seeds, progress, cancellation, errors — not the pictures.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.support import make_clip
from videoloom.core.errors import EngineError, JobCancelled
from videoloom.core.models import ModelSpec
from videoloom.engines.base import ExtendJob, GenerateJob
from videoloom.engines.registry import check_engine, create_engine

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("diffusers", reason="the diffusion extra is not installed (make test installs it)")

from videoloom.engines import diffusion
from videoloom.engines._tiny import write_tiny_model
from videoloom.engines.diffusion import DiffusionEngine, WorkSize, round_down_frames, round_up_frames

FAST: dict[str, dict[str, Any]] = {
    "ltx": {"steps": 2, "max_work_pixels": 96 * 64, "conditioning_frames": 9},
    "wan-vace": {"steps": 2, "max_work_pixels": 96 * 64, "conditioning_frames": 5},
}
"""Small enough that a Wan VACE call takes a few seconds on two cores (its VAE dominates: per frame)."""


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {family: write_tiny_model(family, root / family) for family in ("ltx", "wan-vace")}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", seconds=2, width=320, height=180)


def engine(weights: dict[str, Path], family: str, **options: Any) -> DiffusionEngine:
    return DiffusionEngine(
        f"{family}-tiny", family=family, weights=str(weights[family]), **{**FAST[family], **options}
    )


def extend_job(clip: Path, *, num_frames: int = 12, seed: int = 7, **extra: Any) -> ExtendJob:
    return ExtendJob(
        width=320,
        height=180,
        fps=Fraction(24),
        num_frames=num_frames,
        prompt="the box keeps sliding",
        seed=seed,
        source=clip,
        keep_frames=24,
        **extra,
    )


def run(frames: Iterator[np.ndarray]) -> list[np.ndarray]:
    return list(frames)


# --- pure rules ----------------------------------------------------------------------------------


def test_frame_count_rules() -> None:
    assert [round_up_frames(n, 8) for n in (1, 2, 9, 10, 48, 57)] == [1, 9, 9, 17, 49, 57]
    assert [round_up_frames(n, 4) for n in (5, 6, 21, 22)] == [5, 9, 21, 25]
    assert [round_down_frames(n, 8) for n in (1, 8, 9, 16, 17, 20)] == [1, 1, 9, 9, 17, 17]


def test_work_size_scales_down_then_pads_to_the_multiple() -> None:
    native = WorkSize.for_job(1280, 720, max_pixels=None, multiple=32)
    assert (native.width, native.height, native.padded_width, native.padded_height) == (1280, 720, 1280, 736)
    small = WorkSize.for_job(1280, 720, max_pixels=320 * 192, multiple=16)
    assert small.width * small.height <= 320 * 192 + 400
    assert small.padded_width % 16 == 0 and small.padded_height % 16 == 0
    frame = np.random.default_rng(0).integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    work = native.to_work(frame)
    assert work.shape == (736, 1280, 3)
    assert np.array_equal(native.to_job(work, 1280, 720), frame)  # padding only: exact round trip


def test_bad_options_are_engine_config_errors() -> None:
    with pytest.raises(EngineError, match="family") as caught:
        DiffusionEngine("m", family="sdxl", weights="/x")
    assert caught.value.code == "engine_config"
    with pytest.raises(EngineError, match="device"):
        DiffusionEngine("m", family="ltx", weights="/x", device="gpu0")
    with pytest.raises(EngineError, match=r"unknown_key|Extra inputs"):
        DiffusionEngine("m", family="ltx", weights="/x", unknown_key=1)
    with pytest.raises(EngineError, match="window_frames"):
        DiffusionEngine("m", family="ltx", weights="/x", conditioning_frames=17, window_frames=20)


def test_registry_builds_it_without_loading_anything() -> None:
    spec = ModelSpec(
        name="ltx-x", engine="diffusion", id_prefix="ltx", options={"family": "ltx", "weights": "/x"}
    )
    built = create_engine(spec)
    assert built.name == "diffusion" and built.native_short_side == 512
    assert built.edit_operations("make it warmer") == []  # the API answers 400 edit_not_understood


# --- the pipelines -----------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["ltx", "wan-vace"])
def test_extend_yields_the_new_frames_at_the_job_size(
    weights: dict[str, Path], clip: Path, family: str
) -> None:
    job = extend_job(clip, num_frames=14)  # neither 8k+1 nor 4k+1 once the kept frames are added
    seen: list[float] = []
    frames = run(engine(weights, family).extend(job, seen.append))
    assert len(frames) == 14
    assert all(f.shape == (180, 320, 3) and f.dtype == np.uint8 for f in frames)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    assert job.report["family"] == family and job.report["steps"] == 2
    assert job.report["conditioning_frames"] == FAST[family]["conditioning_frames"]
    assert job.report["windows"] == 1


def test_the_pipeline_is_loaded_once_per_process(weights: dict[str, Path], clip: Path) -> None:
    run(engine(weights, "ltx").extend(extend_job(clip), lambda f: None))
    loads = diffusion.loaded_pipeline_count()
    for _ in range(2):  # a new engine per task, as the worker makes them
        run(engine(weights, "ltx").extend(extend_job(clip), lambda f: None))
    assert diffusion.loaded_pipeline_count() == loads


@pytest.mark.parametrize("family", ["ltx", "wan-vace"])
def test_same_seed_same_frames(weights: dict[str, Path], clip: Path, family: str) -> None:
    first = run(engine(weights, family).extend(extend_job(clip, num_frames=4, seed=11), lambda f: None))
    again = run(engine(weights, family).extend(extend_job(clip, num_frames=4, seed=11), lambda f: None))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    if family == "ltx":  # (Wan: its VAE makes each call cost seconds here)
        other = run(engine(weights, family).extend(extend_job(clip, num_frames=4, seed=12), lambda f: None))
        assert any(not np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_long_segments_are_made_in_windows(weights: dict[str, Path], clip: Path) -> None:
    job = extend_job(clip, num_frames=30)
    frames = run(engine(weights, "ltx", window_frames=25).extend(job, lambda f: None))
    assert len(frames) == 30
    assert job.report["windows"] == 2  # 16 new frames per window after 9 conditioning frames


@pytest.mark.parametrize("family", ["ltx", "wan-vace"])
def test_generate_from_text_and_from_an_image(weights: dict[str, Path], family: str) -> None:
    text = GenerateJob(width=256, height=256, fps=Fraction(24), num_frames=6, prompt="a lake", seed=1)
    assert len(run(engine(weights, family).generate(text, lambda f: None))) == 6
    picture = Image.new("RGB", (300, 200), (200, 30, 30))
    image = GenerateJob(
        width=256, height=144, fps=Fraction(24), num_frames=5, prompt="", seed=1, reference_images=(picture,)
    )
    frames = run(engine(weights, family).generate(image, lambda f: None))
    assert len(frames) == 5 and frames[0].shape == (144, 256, 3)


def test_cancellation_stops_between_steps(weights: dict[str, Path], clip: Path) -> None:
    calls: list[float] = []

    def progress(fraction: float) -> None:
        calls.append(fraction)
        raise JobCancelled("cancelled by the test")

    with pytest.raises(JobCancelled):
        run(engine(weights, "ltx", steps=4).extend(extend_job(clip), progress))
    assert len(calls) == 1  # the first step's callback raised; steps 2-4 never ran


def test_missing_weights_is_a_clear_error(tmp_path: Path, clip: Path) -> None:
    missing = DiffusionEngine("ltx-gone", family="ltx", weights=str(tmp_path / "nowhere"), **FAST["ltx"])
    with pytest.raises(EngineError, match=r"ltx-gone: weights directory .*nowhere does not exist") as caught:
        run(missing.extend(extend_job(clip), lambda f: None))
    assert caught.value.code == "weights_missing"
    (tmp_path / "empty").mkdir()
    empty = DiffusionEngine("ltx-empty", family="ltx", weights=str(tmp_path / "empty"), **FAST["ltx"])
    with pytest.raises(EngineError, match=r"no model_index\.json") as caught:
        run(empty.extend(extend_job(clip), lambda f: None))
    assert caught.value.code == "weights_missing"


def test_weights_of_another_family_are_a_clear_error(weights: dict[str, Path], tmp_path: Path) -> None:
    wrong = DiffusionEngine("wan-on-ltx", family="wan-vace", weights=str(weights["ltx"]), **FAST["wan-vace"])
    job = GenerateJob(width=64, height=64, fps=Fraction(24), num_frames=5, prompt="x")
    with pytest.raises(EngineError, match=r"model_index\.json names LTXConditionPipeline") as caught:
        run(wrong.generate(job, lambda f: None))
    assert caught.value.code == "weights_invalid"
    spec = ModelSpec(
        name="m",
        engine="diffusion",
        id_prefix="m",
        options={"family": "wan-vace", "weights": str(weights["ltx"])},
    )
    assert "holds a LTXConditionPipeline pipeline, not wan-vace" in str(check_engine(spec))


def test_cuda_without_cuda_is_a_clear_error(weights: dict[str, Path], clip: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this host has CUDA")
    gpu = engine(weights, "ltx", device="cuda")
    with pytest.raises(EngineError, match="CUDA is not available") as caught:
        run(gpu.extend(extend_job(clip), lambda f: None))
    assert caught.value.code == "device_unavailable"


# --- models check and dev tiny-model -----------------------------------------------------------


def test_check_engine_tells_the_truth(weights: dict[str, Path], tmp_path: Path) -> None:
    def spec(**options: Any) -> ModelSpec:
        return ModelSpec(name="m", engine="diffusion", id_prefix="m", options=options)

    assert check_engine(spec(family="ltx", weights=str(weights["ltx"]))) is None
    assert "does not exist" in str(check_engine(spec(family="ltx", weights=str(tmp_path / "gone"))))
    assert check_engine(ModelSpec(name="motion-1", engine="motion", id_prefix="motion")) is None


def test_models_check_and_tiny_model_commands(tmp_path: Path, weights: dict[str, Path]) -> None:
    from videoloom.cli.main import main

    runner = CliRunner()
    made = runner.invoke(main, ["dev", "tiny-model", "--family", "ltx", str(tmp_path / "ltx")])
    assert made.exit_code == 0, made.output
    assert (tmp_path / "ltx" / "model_index.json").is_file()
    models = tmp_path / "models.toml"
    models.write_text(
        f'[models.ltx-tiny]\nengine = "diffusion"\nfamily = "ltx"\nweights = "{tmp_path / "ltx"}"\n\n'
        f'[models.wan-gone]\nengine = "diffusion"\nfamily = "wan-vace"\nweights = "{tmp_path / "gone"}"\n\n'
        '[models.motion-1]\nengine = "motion"\n'
    )
    result = runner.invoke(main, ["models", "check", "--models-file", str(models)])
    assert result.exit_code == 1, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines() if line.split()}
    assert "usable" in rows["ltx-tiny"] and "UNUSABLE" not in rows["ltx-tiny"]
    assert "UNUSABLE" in rows["wan-gone"] and "does not exist" in rows["wan-gone"]
    assert "usable" in rows["motion-1"]
    models.write_text(models.read_text().replace(str(tmp_path / "gone"), str(weights["wan-vace"])))
    result = runner.invoke(main, ["models", "check", "--models-file", str(models)])
    assert result.exit_code == 0, result.output


def test_gpu_out_of_memory_is_a_clear_error(
    weights: dict[str, Path], clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    def exhausted(**kwargs: Any) -> Any:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(diffusion, "_pipeline", lambda name, options: exhausted)
    with pytest.raises(EngineError, match=r"ran out of memory.*offload") as caught:
        run(engine(weights, "ltx").extend(extend_job(clip), lambda f: None))
    assert caught.value.code == "out_of_memory"


def test_building_the_engine_imports_neither_torch_nor_diffusers() -> None:
    """The API builds engines to answer edit_operations: a server without the extra must work."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from videoloom.core.models import ModelSpec\n"
        "from videoloom.engines.registry import create_engine\n"
        "options = {'family': 'ltx', 'weights': '/x'}\n"
        "spec = ModelSpec(name='m', engine='diffusion', id_prefix='m', options=options)\n"
        "create_engine(spec).edit_operations('warmer')\n"
        "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules, 'imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_extend_from_second_zero_conditions_on_the_context(weights: dict[str, Path]) -> None:
    first = np.full((180, 320, 3), 90, np.uint8)
    job = ExtendJob(
        width=320, height=180, fps=Fraction(24), num_frames=5, prompt="go", context=(first,), keep_frames=0
    )
    frames = run(engine(weights, "ltx").extend(job, lambda f: None))
    assert len(frames) == 5 and job.report["conditioning_frames"] == 1
