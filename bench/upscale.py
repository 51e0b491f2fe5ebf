"""Benchmark 2: the 720P → 1080P upscale path vs ``ffmpeg -vf scale=1920:1080:flags=lanczos``.

Both get the same fixed 6 s of 1280×720 rgb24 frames (what an engine yields)
and write a 1920×1080 H.264 MP4 (libx264 veryfast, CRF 18, keyframe every 48
frames, +faststart).

* Videoloom: ``worker.render.render`` of a ``generate`` at 1080P with
  ``upscale`` on, the ``ReplayEngine`` standing in for the engine (native
  short side 720): every frame goes through ``media.Enhancer`` (Lanczos +
  an unsharp mask, which the baseline does not do) and the encoder.
* Baseline: the ``ffmpeg`` CLI, Lanczos scale only, same encoder settings.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.common import (
    CRF,
    DATA,
    FPS,
    GOP,
    HEIGHT,
    NEW_SECONDS,
    PRESET,
    WIDTH,
    bench_line,
    cpu_info,
    log,
    new_frames_file,
    render_to,
    run_ffmpeg,
    timed_pair,
)
from bench.replay import ReplayEngine
from videoloom.media import probe
from videoloom.worker.render import RenderPlan


def ours(new: Path, out: Path) -> None:
    plan = RenderPlan(
        mode="generate",
        width=1920,
        height=1080,
        fps=FPS,
        new_seconds=NEW_SECONDS,
        prompt="",
        seed=0,
        upscale=True,
        preset=PRESET,
        crf=CRF,
    )
    render_to(plan, ReplayEngine(new), out)


def ffmpeg_cli(new: Path, out: Path) -> None:
    run_ffmpeg(
        [
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{WIDTH}x{HEIGHT}", "-r", "24", "-i", str(new),
            "-vf", "scale=1920:1080:flags=lanczos", "-pix_fmt", "yuv420p",
            "-c:v", "libx264", "-preset", PRESET, "-crf", str(CRF), "-g", str(GOP),
            "-movflags", "+faststart", str(out),
        ]
    )  # fmt: skip


def main() -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    log(f"# upscale 720P -> 1080P vs ffmpeg CLI ({cpu_info()})")
    new = new_frames_file()
    work = DATA / "out"
    work.mkdir(parents=True, exist_ok=True)
    ours_out, cli_out = work / "upscale-ours.mp4", work / "upscale-cli.mp4"
    result = timed_pair(lambda: ours(new, ours_out), lambda: ffmpeg_cli(new, cli_out), args.repeats)
    for out in (ours_out, cli_out):
        info = probe(out)
        assert (info.width, info.height, info.frame_count) == (1920, 1080, NEW_SECONDS * 24), info
    log(result.describe("videoloom", "ffmpeg CLI"))
    return [
        bench_line("upscale_1080p_vs_ffmpeg", result.ratio, "<=1.2"),
        bench_line("upscale_1080p_vs_ffmpeg_cpu", result.cpu_ratio, "info"),
    ]


if __name__ == "__main__":
    main()
