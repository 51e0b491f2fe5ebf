"""GPU benchmark: the diffusion engine's extend against a bare diffusers call, same pipeline.

Needs a CUDA GPU and the diffusion extra (a CUDA torch, then ``pip install -e '.[diffusion]'``).
Without CUDA it prints why and exits 2 (``--tiny`` runs the same code on the tiny CPU
pipelines: a smoke test of this script, not a benchmark).

What is built, with random weights (no download; docs/benchmarks.md §diffusion):

* LTX-Video (``--family ltx``, default): the **full-size** LTX-Video 0.9.0 transformer
  (``LTXVideoTransformer3DModel``: 28 layers, 32 heads × 64, cross-attention 2048, caption
  channels 4096, 128 in/out channels, ~1.9 B parameters) and the **full-size** 0.9.0 VAE
  (``AutoencoderKLLTXVideo`` defaults: 128 latent channels, 32× spatial / 8× temporal);
  the text encoder is a T5 with the real width (d_model 4096, 64 heads, d_ff 10240, gated-GELU)
  but **2 layers instead of 24** and a byte tokenizer (no vocabulary download): it runs once
  per call and is not what the extend's time depends on.
* Wan 2.1 VACE 1.3B (``--family wan-vace``): the **full-size** 1.3B VACE transformer
  (30 layers, 12 heads × 128, ffn 8960, VACE blocks at every other layer) and the
  **full-size** Wan VAE (``AutoencoderKLWan`` defaults, float32); a 2-layer UMT5 of width 4096.

The pipeline is saved once (``--weights-dir``, bfloat16, ~5 GB for LTX) and loaded through
the engine's own ``from_pretrained`` path. Then, in one process and on the same resident
pipeline object, it times alternately (after one warm-up of each):

* **engine**: ``DiffusionEngine.extend`` of a 1280×720, 24 fps clip cut at ``--keep`` s, making
  ``--seconds`` s of new frames: it reads the conditioning frames from the file, pads to
  1280×736, runs the pipeline, crops and yields uint8 frames;
* **bare**: what a user of diffusers writes for the same extend: decode the same frames with
  PyAV, pad, ``LTXConditionPipeline(conditions=[LTXVideoCondition(video=…)])`` (Wan:
  ``WanVACEPipeline(video=…, mask=…)``), drop the conditioning frames, convert to uint8.

It prints seconds per clip, peak GPU memory and ``BENCH diffusion_<family>_engine_vs_bare
<ratio> <=1.05``.

    .venv/bin/python -m bench.diffusion_gpu                       # LTX, 30 steps, 5 s new
    .venv/bin/python -m bench.diffusion_gpu --family wan-vace --steps 20
    .venv/bin/python -m bench.diffusion_gpu --tiny --steps 2      # CPU smoke test of the script
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from tests.support import make_clip

os.environ.setdefault("HF_HUB_OFFLINE", "1")

FPS = 24
WIDTH, HEIGHT = 1280, 720


# --- full-size architectures with random weights -----------------------------------------------


FULL_TEXT_ENCODER: dict[str, Any] = {
    "vocab_size": 32128,  # UMT5's is 256 384: only a bigger lookup table, not more work
    "d_model": 4096,
    "d_kv": 64,
    "d_ff": 10240,
    "num_heads": 64,
    "num_layers": 2,  # the real encoders have 24: see the module docstring
    "feed_forward_proj": "gated-gelu",
}
FULL_LTX_TRANSFORMER: dict[str, Any] = {  # LTX-Video 0.9.0's transformer config
    "in_channels": 128,
    "out_channels": 128,
    "patch_size": 1,
    "patch_size_t": 1,
    "num_attention_heads": 32,
    "attention_head_dim": 64,
    "cross_attention_dim": 2048,
    "num_layers": 28,
    "activation_fn": "gelu-approximate",
    "qk_norm": "rms_norm_across_heads",
    "norm_elementwise_affine": False,
    "norm_eps": 1e-6,
    "caption_channels": 4096,
    "attention_bias": True,
    "attention_out_bias": True,
}
FULL_LTX_VAE: dict[str, Any] = {  # LTX-Video 0.9.0's VAE config (the diffusers defaults)
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 128,
    "block_out_channels": (128, 256, 512, 512),
    "decoder_block_out_channels": (128, 256, 512, 512),
    "layers_per_block": (4, 3, 3, 3, 4),
    "decoder_layers_per_block": (4, 3, 3, 3, 4),
    "spatio_temporal_scaling": (True, True, True, False),
    "decoder_spatio_temporal_scaling": (True, True, True, False),
    "patch_size": 4,
    "patch_size_t": 1,
    "timestep_conditioning": False,
}
FULL_WAN_VACE_TRANSFORMER: dict[str, Any] = {  # Wan2.1-VACE-1.3B's transformer config
    "patch_size": (1, 2, 2),
    "num_attention_heads": 12,
    "attention_head_dim": 128,
    "in_channels": 16,
    "out_channels": 16,
    "text_dim": 4096,
    "freq_dim": 256,
    "ffn_dim": 8960,
    "num_layers": 30,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "rope_max_seq_len": 1024,
    "vace_layers": list(range(0, 30, 2)),
    "vace_in_channels": 96,
}


def build_full_ltx() -> Any:
    from videoloom.engines._tiny import ltx_pipeline

    # LTXConditionPipeline passes its own timesteps and no ``mu``: no dynamic shifting.
    return ltx_pipeline(
        text=FULL_TEXT_ENCODER,
        vae=FULL_LTX_VAE,
        transformer=FULL_LTX_TRANSFORMER,
        scheduler={"use_dynamic_shifting": False},
    )


def build_full_wan_vace() -> Any:
    from videoloom.engines._tiny import wan_vace_pipeline

    # Wan 2.1's VAE config is the diffusers default.
    return wan_vace_pipeline(text=FULL_TEXT_ENCODER, vae={}, transformer=FULL_WAN_VACE_TRANSFORMER)


def write_weights(family: str, directory: Path, *, tiny: bool, device: str) -> Path:
    """Build the pipeline with random weights (on the GPU: initialising 2 B parameters on a CPU
    takes minutes) and save it in bfloat16 (the Wan VAE in float32)."""
    import torch

    if (directory / "model_index.json").is_file():
        print(f"reusing {directory}", flush=True)
        return directory
    started = time.perf_counter()
    if tiny:
        from videoloom.engines._tiny import write_tiny_model

        return write_tiny_model(family, directory)
    torch.manual_seed(0)
    with torch.device(device):
        pipe = build_full_ltx() if family == "ltx" else build_full_wan_vace()
    for name, component in pipe.components.items():
        if isinstance(component, torch.nn.Module):
            keep_fp32 = family == "wan-vace" and name == "vae"
            component.to(torch.float32 if keep_fp32 else torch.bfloat16)
    params = sum(p.numel() for p in pipe.transformer.parameters())
    print(f"built {family}: transformer {params / 1e9:.2f} B parameters", flush=True)
    pipe.save_pretrained(str(directory))
    del pipe
    torch.cuda.empty_cache()
    print(f"saved {directory} in {time.perf_counter() - started:.0f} s", flush=True)
    return directory


# --- the two sides ------------------------------------------------------------------------------


def bare_extend(pipe: Any, family: str, clip: Path, *, keep: int, cond: int, new: int, steps: int) -> int:
    """A plain diffusers extend of the same clip with the same settings; returns frames made."""
    import torch
    from PIL import Image

    from videoloom.engines.diffusion import round_up_frames
    from videoloom.media import iter_frames

    multiple, step = (32, 8) if family == "ltx" else (16, 4)
    frames = list(iter_frames(clip, start=keep - cond, stop=keep))
    height, width = frames[0].shape[:2]
    padded_h, padded_w = -(-height // multiple) * multiple, -(-width // multiple) * multiple
    padded = [np.pad(f, ((0, padded_h - height), (0, padded_w - width), (0, 0)), mode="edge") for f in frames]
    pictures = [Image.fromarray(f) for f in padded]
    num_frames = round_up_frames(cond + new, step)
    generator = torch.Generator("cpu").manual_seed(0)
    common = {
        "prompt": "the camera keeps moving",
        "width": padded_w,
        "height": padded_h,
        "num_frames": num_frames,
        "num_inference_steps": steps,
        "generator": generator,
        "output_type": "np",
    }
    if family == "ltx":
        from diffusers.pipelines.ltx.pipeline_ltx_condition import (
            LTXVideoCondition,
            linear_quadratic_schedule,
        )

        out = pipe(
            conditions=[LTXVideoCondition(video=pictures, frame_index=0)],
            frame_rate=FPS,
            guidance_scale=3.0,
            timesteps=(linear_quadratic_schedule(steps) * 1000).tolist(),
            **common,
        )
    else:
        grey = Image.new("RGB", (padded_w, padded_h), (128, 128, 128))
        black, white = Image.new("L", (padded_w, padded_h), 0), Image.new("L", (padded_w, padded_h), 255)
        out = pipe(
            video=pictures + [grey] * (num_frames - cond),
            mask=[black] * cond + [white] * (num_frames - cond),
            guidance_scale=5.0,
            **common,
        )
    result = [
        (np.clip(f[:height, :width] * 255, 0, 255) + 0.5).astype(np.uint8)
        for f in out.frames[0][cond : cond + new]
    ]
    return len(result)


def engine_extend(engine: Any, clip: Path, *, keep: int, new: int, width: int, height: int) -> int:
    from videoloom.engines.base import ExtendJob

    job = ExtendJob(
        width=width,
        height=height,
        fps=Fraction(FPS),
        num_frames=new,
        prompt="the camera keeps moving",
        seed=0,
        source=clip,
        keep_frames=keep,
    )
    return sum(1 for _ in engine.extend(job, lambda fraction: None))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=["ltx", "wan-vace"], default="ltx")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=5.0, help="new seconds per extend")
    parser.add_argument("--keep", type=float, default=3.0, help="second of the clip where the extend starts")
    parser.add_argument("--conditioning-frames", type=int, default=17)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--weights-dir", type=Path, default=None)
    parser.add_argument("--tiny", action="store_true", help="tiny pipelines (CPU smoke test of this script)")
    args = parser.parse_args(argv)

    try:
        import torch

        from videoloom.engines import diffusion
    except ImportError as exc:
        print(f"diffusion_gpu: the diffusion extra is not installed ({exc})", file=sys.stderr)
        return 2
    cuda = torch.cuda.is_available()
    if not cuda and not args.tiny:
        print(
            "diffusion_gpu: no CUDA device (torch "
            f"{torch.__version__}, cuda build: {torch.version.cuda}); this benchmark needs a GPU. "
            "Use --tiny for a CPU smoke test of the script.",
            file=sys.stderr,
        )
        print(f"BENCH diffusion_{args.family}_engine_vs_bare skipped <=1.05")
        return 2
    device = "cuda" if cuda else "cpu"
    width, height = (WIDTH, HEIGHT) if not args.tiny else (320, 180)
    root = Path(os.environ.get("VIDEOLOOM_BENCH_DIR", Path(tempfile.gettempdir()) / "videoloom-bench"))
    root.mkdir(parents=True, exist_ok=True)
    suffix = "tiny" if args.tiny else "full"
    weights = write_weights(
        args.family, args.weights_dir or root / f"{args.family}-{suffix}", tiny=args.tiny, device=device
    )
    clip = root / f"diffusion-src-{width}x{height}.mp4"
    if not clip.exists():  # the moving test pattern the end-to-end tests extend
        make_clip(clip, seconds=args.keep + 1, width=width, height=height, fps=FPS)
    keep, new = round(args.keep * FPS), round(args.seconds * FPS)
    cond = args.conditioning_frames

    # One window, the whole job's size: the same work on both sides.
    options: dict[str, Any] = {
        "family": args.family,
        "weights": str(weights),
        "device": device,
        "dtype": "bfloat16" if cuda else "float32",
        "steps": args.steps,
        "conditioning_frames": cond,
        "window_frames": cond + new + 8,
        "max_work_pixels": width * height,
    }
    engine = diffusion.DiffusionEngine(f"bench-{args.family}", **options)
    started = time.perf_counter()
    pipe = diffusion._pipeline(engine.model, engine.options)
    print(f"loaded through the engine in {time.perf_counter() - started:.1f} s on {device}", flush=True)

    def timed(side: str) -> tuple[float, float]:
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        if side == "engine":
            made = engine_extend(engine, clip, keep=keep, new=new, width=width, height=height)
        else:
            made = bare_extend(pipe, args.family, clip, keep=keep, cond=cond, new=new, steps=args.steps)
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
        assert made == new, f"{side} made {made} frames, expected {new}"
        print(f"  {side:<6} {seconds:7.2f} s  peak GPU {peak:6.2f} GiB", flush=True)
        return seconds, peak

    print(
        f"warm-up ({width}x{height}, {cond} conditioning + {new} new frames, {args.steps} steps)", flush=True
    )
    timed("engine")
    timed("bare")
    runs: dict[str, list[tuple[float, float]]] = {"engine": [], "bare": []}
    for _ in range(args.repeats):
        for side in ("engine", "bare"):
            runs[side].append(timed(side))
    engine_s = statistics.median(s for s, _ in runs["engine"])
    bare_s = statistics.median(s for s, _ in runs["bare"])
    engine_peak = max(p for _, p in runs["engine"])
    bare_peak = max(p for _, p in runs["bare"])
    ratio = engine_s / bare_s
    name = f"diffusion_{args.family}" + ("_tiny_cpu" if args.tiny else "")
    device_name = torch.cuda.get_device_name() if cuda else "cpu"
    print(f"device: {device_name}; {new / FPS:.1f} s of new 1280x720 video per clip" if not args.tiny else "")
    print(f"BENCH {name}_engine_seconds_per_clip {engine_s:.2f} info")
    print(f"BENCH {name}_bare_seconds_per_clip {bare_s:.2f} info")
    print(f"BENCH {name}_engine_peak_gpu_gib {engine_peak:.2f} info")
    print(f"BENCH {name}_bare_peak_gpu_gib {bare_peak:.2f} info")
    print(f"BENCH {name}_engine_vs_bare {ratio:.3f} <=1.05")
    return 0


if __name__ == "__main__":
    sys.exit(main())
