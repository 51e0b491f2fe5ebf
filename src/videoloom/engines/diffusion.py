"""The diffusion engine: open video models (LTX-Video, Wan 2.1 VACE) through 🤗 diffusers.

Configured per model in the models file (docs/engines.md, docs/configuration.md)::

    [models.ltx]
    engine = "diffusion"
    family = "ltx"                       # or "wan-vace"
    weights = "/srv/models/LTX-Video"    # a diffusers directory or a hub id
    device = "cuda"
    steps = 30

**extend** conditions on the last ``conditioning_frames`` frames of the kept part (read from
the source file, not just the last frame), so motion carries over the cut:

* LTX-Video: ``LTXConditionPipeline`` with ``LTXVideoCondition(video=kept, frame_index=0)``;
  the conditioning clip is cut to 8k+1 frames, the output starts with it and is dropped.
* Wan VACE: ``WanVACEPipeline`` with the kept frames followed by grey placeholders and a mask
  (black = keep, white = generate); the request's images become ``reference_images``.

**generate** uses the same pipelines: LTX with the first image as a frame-0 condition (or
none: text to video), Wan VACE with no video (an all-white mask) and the images as references.

The pipelines' rules stay inside the engine: frames are scaled to a working size (at most
``max_work_pixels``; small by default on CPU, the job's size on GPUs) and padded to the
family's multiple (32 for LTX, 16 for Wan); frame counts are rounded up to 8k+1 / 4k+1 and
cut afterwards; segments longer than ``window_frames`` are made window by window, each
window conditioned on the end of the previous one. Output frames are cropped and scaled
back to the job's size.

One pipeline is resident per worker process (``_RESIDENT``): loaded on first use, kept for
the next task, replaced when a task needs other weights; calls are serialised (a diffusers
pipeline is not thread-safe). Progress comes from ``callback_on_step_end``; the render's
progress callback raises ``JobCancelled`` there, which stops the pipeline between steps.
Missing weights, an unavailable device, a missing extra or GPU out-of-memory are
``EngineError``s with their own codes, so the task fails with a clear message.

torch and diffusers are imported only when a pipeline is loaded: building the engine (the
API does, to answer ``edit_operations``) needs neither.
"""

from __future__ import annotations

import gc
import logging
import math
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from videoloom.core.errors import EngineError
from videoloom.engines.base import EditJob, ExtendJob, GenerateJob, ProgressCallback
from videoloom.media import fit_frame, iter_frames

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["DiffusionEngine", "DiffusionOptions", "check_diffusion", "loaded_pipeline_count"]

log = logging.getLogger("videoloom.engines.diffusion")

CPU_WORK_PIXELS = {"ltx": 320 * 192, "wan-vace": 160 * 96}
"""Default working-size limit on CPU (where only tiny test models are practical): the Wan VAE
alone takes ~6 min per 720p extend on 2 cores, and still ~3 min for a 6 s extend at 320×192."""


@dataclass(frozen=True)
class _FamilyRules:
    pipeline: str
    """The diffusers class the weights are loaded with."""
    multiple: int
    """Width and height must be multiples of this."""
    frame_step: int
    """num_frames must be frame_step·k + 1."""
    guidance_scale: float
    native_short_side: int
    window_frames: int
    """Default frames per pipeline call (conditioning included)."""


FAMILIES: dict[str, _FamilyRules] = {
    "ltx": _FamilyRules(
        pipeline="LTXConditionPipeline",
        multiple=32,
        frame_step=8,
        guidance_scale=3.0,
        native_short_side=512,
        window_frames=161,
    ),
    "wan-vace": _FamilyRules(
        pipeline="WanVACEPipeline",
        multiple=16,
        frame_step=4,
        guidance_scale=5.0,
        native_short_side=480,
        window_frames=81,
    ),
}

_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")
_DTYPES = ("auto", "float32", "float16", "bfloat16")


class DiffusionOptions(BaseModel):
    """A diffusion model's options, as written in its ``[models.<name>]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: Literal["ltx", "wan-vace"]
    weights: str = Field(min_length=1)
    """A local diffusers directory (with ``model_index.json``) or a hub id (``Lightricks/LTX-Video``)."""
    device: str = "cpu"
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    """``auto``: float32 on CPU, bfloat16 elsewhere. The Wan VAE always runs in float32."""
    steps: int = Field(default=30, ge=1, le=500)
    guidance_scale: float | None = Field(default=None, ge=0)
    """Classifier-free guidance; default: the family's (LTX 3.0, Wan 5.0)."""
    negative_prompt: str = ""
    offload: bool = False
    """Model CPU offload (``enable_model_cpu_offload``): less GPU memory, slower."""
    vae_tiling: bool = False
    """Decode in tiles (``vae.enable_tiling()``): less memory at large sizes."""
    max_work_pixels: int | None = Field(default=None, ge=1024)
    """Largest working size (width × height) the pipeline runs at; output is scaled up to the job's
    size. Default on CPU: LTX 61 440 (320×192), Wan 15 360 (160×96); no limit on GPUs."""
    conditioning_frames: int = Field(default=17, ge=1, le=257)
    """How many of the last kept frames condition an extend (LTX uses the largest 8k+1 ≤ this)."""
    window_frames: int | None = Field(default=None, ge=9, le=1025)
    """Frames per pipeline call, conditioning included; longer segments take several windows.
    Default: LTX 161, Wan 81."""
    native_short_side: int | None = Field(default=None, ge=64, le=2160)
    """What ``upscale: true`` renders at before enhancing; default: LTX 512, Wan 480."""
    pipeline_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra keyword arguments for the pipeline call (e.g. ``decode_timestep`` for LTX 0.9.1+)."""

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError(f"device must be cpu, cuda, cuda:N or mps, got {value!r}")
        return value

    @model_validator(mode="after")
    def _window(self) -> DiffusionOptions:
        rules = FAMILIES[self.family]
        if (
            self.window_frames is not None
            and self.window_frames < self.conditioning_frames + rules.frame_step
        ):
            raise ValueError(
                f"window_frames ({self.window_frames}) must leave room for new frames after "
                f"conditioning_frames ({self.conditioning_frames})"
            )
        return self

    @property
    def rules(self) -> _FamilyRules:
        return FAMILIES[self.family]

    @property
    def work_pixels(self) -> int | None:
        if self.max_work_pixels is not None:
            return self.max_work_pixels
        return CPU_WORK_PIXELS[self.family] if self.device == "cpu" else None

    @property
    def window(self) -> int:
        return self.window_frames or max(self.rules.window_frames, self.conditioning_frames + 32)


def parse_options(name: str, options: dict[str, Any]) -> DiffusionOptions:
    try:
        return DiffusionOptions(**options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'options'}: {error['msg']}" for error in exc.errors()
        )
        raise EngineError(f"model {name}: bad diffusion options: {problems}", code="engine_config") from exc


# --- sizes and frame counts ------------------------------------------------------------------


def round_up_frames(count: int, step: int) -> int:
    """The smallest step·k + 1 ≥ count."""
    return max(0, math.ceil((count - 1) / step)) * step + 1


def round_down_frames(count: int, step: int) -> int:
    """The largest step·k + 1 ≤ count (at least 1)."""
    return max(0, (count - 1) // step) * step + 1


@dataclass(frozen=True)
class WorkSize:
    """Frames are scaled to ``width``×``height``, then padded to ``padded_width``×``padded_height``."""

    width: int
    height: int
    padded_width: int
    padded_height: int

    @classmethod
    def for_job(cls, width: int, height: int, *, max_pixels: int | None, multiple: int) -> WorkSize:
        scale = 1.0 if not max_pixels else min(1.0, math.sqrt(max_pixels / (width * height)))
        w = max(multiple, round(width * scale))
        h = max(multiple, round(height * scale))
        return cls(w, h, math.ceil(w / multiple) * multiple, math.ceil(h / multiple) * multiple)

    def to_work(self, frame: np.ndarray) -> np.ndarray:
        """An RGB frame (any size, already of the job's aspect) → the padded working frame."""
        if frame.shape[:2] != (self.height, self.width):
            frame = cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_AREA)
        bottom, right = self.padded_height - self.height, self.padded_width - self.width
        if bottom or right:
            frame = cv2.copyMakeBorder(frame, 0, bottom, 0, right, cv2.BORDER_REPLICATE)
        return np.ascontiguousarray(frame)

    def to_job(self, frame: np.ndarray, width: int, height: int) -> np.ndarray:
        """A padded working frame → the job's size (padding cropped off)."""
        frame = frame[: self.height, : self.width]
        if (self.width, self.height) != (width, height):
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_CUBIC)
        return np.ascontiguousarray(frame)


# --- the resident pipeline ---------------------------------------------------------------------

_LOAD_LOCK = threading.Lock()
_RUN_LOCK = threading.Lock()
_RESIDENT: tuple[tuple[Any, ...], Any] | None = None
_LOADS = 0


def loaded_pipeline_count() -> int:
    """How many times this process has loaded a pipeline (tests: loaded once, then reused)."""
    return _LOADS


def _import_torch() -> Any:
    try:
        import diffusers  # noqa: F401
        import torch
    except ImportError as exc:
        raise EngineError(
            "the diffusion engine needs the diffusion extra: install torch, then "
            f"pip install 'videoloom[diffusion]' ({exc})",
            code="engine_unavailable",
        ) from exc
    return torch


def _is_local(weights: str) -> bool:
    return weights.startswith(("/", ".", "~")) or Path(weights).expanduser().exists()


def _device_problem(torch: Any, device: str) -> str | None:
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            return f"device {device} requested but CUDA is not available (torch {torch.__version__})"
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            return f"device {device} requested but only {torch.cuda.device_count()} CUDA device(s) exist"
    if device == "mps" and not torch.backends.mps.is_available():
        return "device mps requested but MPS is not available"
    return None


def _weights_problem(weights: str) -> str | None:
    if not _is_local(weights):
        return None  # a hub id: only from_pretrained can tell
    path = Path(weights).expanduser()
    if not path.is_dir():
        return f"weights directory {path} does not exist"
    if not (path / "model_index.json").is_file():
        return f"weights directory {path} has no model_index.json (not a diffusers pipeline)"
    return None


def _pipeline_class_hint(directory: str) -> str:
    """`` (model_index.json names X)``, to tell a wrong ``family`` from broken files."""
    import json

    try:
        named = json.loads((Path(directory) / "model_index.json").read_text()).get("_class_name")
    except (OSError, ValueError, AttributeError):
        return ""
    return f" (its model_index.json names {named})" if named else ""


def _dtype(torch: Any, options: DiffusionOptions) -> Any:
    name = options.dtype
    if name == "auto":
        name = "float32" if options.device == "cpu" else "bfloat16"
    return getattr(torch, name)


def _out_of_memory(torch: Any, exc: BaseException) -> EngineError:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return EngineError(
        f"the GPU ran out of memory ({str(exc).splitlines()[0] if str(exc) else 'OOM'}); "
        "try offload = true, vae_tiling = true, a smaller max_work_pixels or window_frames",
        code="out_of_memory",
    )


def _drop_resident(torch: Any) -> None:
    global _RESIDENT
    _RESIDENT = None
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _pipeline(name: str, options: DiffusionOptions) -> Any:
    """The process's resident pipeline for these options, loading it (once) when needed."""
    global _RESIDENT, _LOADS
    torch = _import_torch()
    key = (
        options.family,
        options.weights,
        options.device,
        options.dtype,
        options.offload,
        options.vae_tiling,
    )
    with _LOAD_LOCK:
        if _RESIDENT is not None and _RESIDENT[0] == key:
            return _RESIDENT[1]
        problem = _device_problem(torch, options.device) or _weights_problem(options.weights)
        if problem is not None:
            code = "device_unavailable" if problem.startswith("device") else "weights_missing"
            raise EngineError(f"model {name}: {problem}", code=code)
        if _RESIDENT is not None:
            log.info("unloading the resident pipeline for %s", _RESIDENT[0][1])
            with _RUN_LOCK:
                _drop_resident(torch)
        import diffusers
        import transformers

        diffusers.utils.logging.disable_progress_bar()
        transformers.utils.logging.disable_progress_bar()
        cls = getattr(diffusers, options.rules.pipeline)
        weights = str(Path(options.weights).expanduser()) if _is_local(options.weights) else options.weights
        log.info("loading %s from %s on %s", options.rules.pipeline, weights, options.device)
        try:
            dtype = _dtype(torch, options)
            if options.family == "wan-vace":  # the Wan VAE is unstable in half precision
                dtype = {"default": dtype, "vae": torch.float32}
            pipe = cls.from_pretrained(weights, dtype=dtype)
        except torch.OutOfMemoryError as exc:
            raise _out_of_memory(torch, exc) from exc
        except Exception as exc:  # whatever from_pretrained raises: wrong family, truncated files, …
            local = _is_local(options.weights)
            raise EngineError(
                f"model {name}: cannot load {options.family} weights from {weights}"
                f"{_pipeline_class_hint(weights) if local else ''}: {exc}",
                code="weights_missing" if isinstance(exc, OSError) and not local else "weights_invalid",
            ) from exc
        try:
            if options.offload:
                pipe.enable_model_cpu_offload(device=options.device)
            else:
                pipe.to(options.device)
            if options.vae_tiling:
                pipe.vae.enable_tiling()
        except torch.OutOfMemoryError as exc:
            del pipe
            raise _out_of_memory(torch, exc) from exc
        pipe.set_progress_bar_config(disable=True)
        _RESIDENT = (key, pipe)
        _LOADS += 1
        return pipe


# --- the engine ------------------------------------------------------------------------------


def _pil(frames: Sequence[np.ndarray]) -> list[Image.Image]:
    from PIL import Image

    return [Image.fromarray(f) for f in frames]


class DiffusionEngine:
    """Extend and create videos with a diffusers pipeline (see the module docstring)."""

    name = "diffusion"

    def __init__(self, model: str = "diffusion", **options: Any) -> None:
        self.model = model
        self.options = parse_options(model, options)
        self.native_short_side = self.options.native_short_side or self.options.rules.native_short_side

    # The Engine protocol.

    def generate(self, job: GenerateJob, progress: ProgressCallback) -> Iterator[np.ndarray]:
        return self._segment(job, (), progress)

    def extend(self, job: ExtendJob, progress: ProgressCallback) -> Iterator[np.ndarray]:
        return self._segment(job, self._kept_frames(job), progress)

    def edit(self, job: EditJob, progress: ProgressCallback) -> Iterator[np.ndarray]:
        raise EngineError(
            "the diffusion engine does not edit videos; use a motion model for edits",
            code="edit_not_understood",
        )

    def edit_operations(self, prompt: str) -> list[str]:
        return []

    def close(self) -> None:
        """Nothing per task: the pipeline stays resident for the next one."""

    # Internals.

    def _kept_frames(self, job: ExtendJob) -> list[np.ndarray]:
        """The last ``conditioning_frames`` frames before the cut, at the job's size."""
        want = self.options.conditioning_frames
        if job.source is not None and job.keep_frames > 0:
            start = max(0, job.keep_frames - want)
            frames = [
                fit_frame(f, job.width, job.height)
                for f in iter_frames(job.source, start=start, stop=job.keep_frames)
            ]
            if frames:
                return frames
        return [fit_frame(f, job.width, job.height) for f in job.context][-want:]

    def _segment(
        self, job: GenerateJob, kept: Sequence[np.ndarray], progress: ProgressCallback
    ) -> Iterator[np.ndarray]:
        options, rules = self.options, self.options.rules
        pipe = _pipeline(self.model, options)
        torch = _import_torch()
        size = WorkSize.for_job(
            job.width, job.height, max_pixels=options.work_pixels, multiple=rules.multiple
        )
        history = [size.to_work(f) for f in kept]
        images = list(job.reference_images)
        generator = torch.Generator(device="cpu").manual_seed(job.seed)
        total, made, windows = job.num_frames, 0, 0
        job.report.update(
            family=options.family,
            steps=options.steps,
            work_size=f"{size.width}x{size.height}",
            conditioning_frames=len(history) and self._usable(len(history)),
            seed=job.seed,
        )
        while made < total:
            cond = history[-self._usable(len(history)) :] if history else []
            want = min(total - made, options.window - len(cond))
            num_frames = round_up_frames(len(cond) + want, rules.frame_step)
            done_before = made

            def on_step(_pipe: Any, step: int, _timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
                progress((done_before + want * (step + 1) / options.steps) / total)  # noqa: B023
                return kwargs

            frames = self._call(pipe, torch, job, size, cond, images, num_frames, generator, on_step)
            # LTX returns the conditioning clip first, Wan returns it in place: both start with it.
            new = [
                np.clip(np.rint(f * 255), 0, 255).astype(np.uint8)
                for f in frames[len(cond) : len(cond) + want]
            ]
            if len(new) < want:
                raise EngineError(
                    f"the pipeline returned {len(frames)} frames, expected {len(cond) + want}",
                    code="engine_error",
                )
            for frame in new:
                yield size.to_job(frame, job.width, job.height)
            history = (history + new)[-options.conditioning_frames :]
            images = [] if options.family == "ltx" else images  # LTX: the image is frame 0 only
            made += want
            windows += 1
        job.report["windows"] = windows

    def _usable(self, available: int) -> int:
        """How many conditioning frames a call can take (LTX: 8k+1)."""
        count = min(available, self.options.conditioning_frames)
        return round_down_frames(count, 8) if self.options.family == "ltx" else count

    def _call(
        self,
        pipe: Any,
        torch: Any,
        job: GenerateJob,
        size: WorkSize,
        cond: list[np.ndarray],
        images: list[Image.Image],
        num_frames: int,
        generator: Any,
        on_step: Callable[..., dict[str, Any]],
    ) -> np.ndarray:
        options = self.options
        width, height = size.padded_width, size.padded_height
        common: dict[str, Any] = {
            "prompt": job.prompt or "a video",
            "negative_prompt": options.negative_prompt or None,
            "width": width,
            "height": height,
            "num_frames": num_frames,
            "num_inference_steps": options.steps,
            "guidance_scale": (
                options.guidance_scale if options.guidance_scale is not None else options.rules.guidance_scale
            ),
            "generator": generator,
            "output_type": "np",
            "callback_on_step_end": on_step,
        }
        if options.family == "ltx":
            from diffusers.pipelines.ltx.pipeline_ltx_condition import (
                LTXVideoCondition,
                linear_quadratic_schedule,
            )

            conditions = None
            if cond:
                conditions = [LTXVideoCondition(video=_pil(cond), frame_index=0)]
            elif images:
                picture = fit_frame(np.asarray(images[0].convert("RGB")), size.width, size.height)
                conditions = [LTXVideoCondition(image=_pil([size.to_work(picture)])[0], frame_index=0)]
            kwargs = {
                **common,
                "conditions": conditions,
                "frame_rate": max(1, round(float(job.fps))),
                # The pipeline's own default schedule, as a list: it passes the tensor through
                # np.array(), which numpy 2 deprecates (a DeprecationWarning per call).
                "timesteps": (linear_quadratic_schedule(options.steps) * 1000).tolist(),
            }
        else:
            from PIL import Image

            kwargs = dict(common)
            if cond:
                grey = Image.new("RGB", (width, height), (128, 128, 128))
                keep, make = Image.new("L", (width, height), 0), Image.new("L", (width, height), 255)
                kwargs["video"] = [*_pil(cond), *([grey] * (num_frames - len(cond)))]
                kwargs["mask"] = [keep] * len(cond) + [make] * (num_frames - len(cond))
            if images:
                kwargs["reference_images"] = [image.convert("RGB") for image in images]
        kwargs.update(options.pipeline_kwargs)
        try:
            with _RUN_LOCK, torch.inference_mode():
                output = pipe(**kwargs)
        except torch.OutOfMemoryError as exc:
            raise _out_of_memory(torch, exc) from exc
        frames = output.frames[0]
        return np.asarray(frames)


# --- models check ------------------------------------------------------------------------------


def check_diffusion(name: str, options: dict[str, Any]) -> str | None:
    """Why a diffusion model cannot run here, or None when it can (without loading its weights)."""
    try:
        parsed = parse_options(name, options)
    except EngineError as exc:
        return exc.message
    try:
        torch = _import_torch()
    except EngineError as exc:
        return exc.message
    problem = _device_problem(torch, parsed.device)
    if problem is not None:
        return problem
    problem = _weights_problem(parsed.weights)
    if problem is not None:
        return problem
    if _is_local(parsed.weights):
        import json

        index = Path(parsed.weights).expanduser() / "model_index.json"
        try:
            config = json.loads(index.read_text())
        except (OSError, ValueError) as exc:
            return f"cannot read {index}: {exc}"
        named = str(config.get("_class_name", ""))
        prefix = "LTX" if parsed.family == "ltx" else "Wan"
        if not named.startswith(prefix):
            return (
                f"weights directory {index.parent} holds a {named or 'unnamed'} pipeline, not {parsed.family}"
            )
        missing = [
            part
            for part in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
            if part not in config or not (index.parent / part).is_dir()
        ]
        if missing:
            return f"weights directory {index.parent} lacks {', '.join(missing)}"
        return None
    import os

    try:
        from huggingface_hub import snapshot_download

        snapshot_download(parsed.weights, allow_patterns=["model_index.json"], local_files_only=True)
    except Exception as exc:
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
            return (
                f"hub weights {parsed.weights} are not in the local cache and HF_HUB_OFFLINE is set "
                f"({type(exc).__name__})"
            )
        log.info("hub weights %s are not cached yet; the first task downloads them", parsed.weights)
    return None
