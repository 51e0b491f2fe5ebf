"""Shared pieces of the benchmarks: inputs made once, the ffmpeg CLI baseline, timing, BENCH lines.

Inputs live in ``$VIDEOLOOM_BENCH_DIR`` (default ``/tmp/videoloom-bench``) and
are made once, by the ``ffmpeg`` CLI, outside every timing:

* ``src-<N>s-720p.mp4``: N seconds of 1280×720 at 24 fps, ``testsrc2`` with
  light film grain (~5 Mbit/s at CRF 18), libx264 ``-preset veryfast`` (3 B-frames, b-pyramid), a keyframe
  every 2 s (``-g 48``) — a source as a camera or an editor would hand it over;
* ``src-120s-1080p.mp4``: 120 s at 1920×1080 (no grain, ``-preset superfast``,
  still with B-frames), for the memory figure;
* ``new-6s-720p.rgb``: the fixed 6 s of new frames (144 raw ``rgb24`` frames,
  what an engine yields), read by both pipelines.

Every script prints ``BENCH <name> <value> <goal>`` lines; ``bench/run_all.py``
collects them.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("VIDEOLOOM_BENCH_DIR", "/tmp/videoloom-bench"))
FPS = Fraction(24)
PRESET = "veryfast"  # Settings.encoder_preset's default
CRF = 18  # Settings.encoder_crf's default
GOP = 48  # what render() writes (2 s); the ffmpeg baseline gets the same
NEW_SECONDS = 6
WIDTH, HEIGHT = 1280, 720


def log(message: str) -> None:
    print(message, flush=True)


def bench_line(name: str, value: float, goal: str) -> str:
    line = f"BENCH {name} {value:.3g} {goal}"
    print(line, flush=True)
    return line


def ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        sys.exit("the ffmpeg CLI is missing: `apt-get install -y ffmpeg` (make bench does it)")
    return path


def run_ffmpeg(args: Sequence[str]) -> None:
    subprocess.run([ffmpeg(), "-hide_banner", "-nostdin", "-y", "-v", "error", *args], check=True)


def _cpu_seconds() -> float:
    """CPU time of this process (all threads) plus its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class Timing:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def run(self, fn: Callable[[], object]) -> None:
        wall, cpu = time.perf_counter(), _cpu_seconds()
        fn()
        self.wall.append(time.perf_counter() - wall)
        self.cpu.append(_cpu_seconds() - cpu)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)


@dataclass
class Pair:
    ours: Timing
    baseline: Timing

    @property
    def ratio(self) -> float:
        return self.ours.median / self.baseline.median

    @property
    def cpu_ratio(self) -> float:
        return self.ours.median_cpu / self.baseline.median_cpu

    def describe(self, ours: str, baseline: str) -> str:
        def runs(values: list[float]) -> str:
            return ", ".join(f"{v:.2f}" for v in values)

        return (
            f"  {ours}: wall {self.ours.median:.2f} s (runs {runs(self.ours.wall)}), "
            f"CPU {self.ours.median_cpu:.2f} s\n"
            f"  {baseline}: wall {self.baseline.median:.2f} s (runs {runs(self.baseline.wall)}), "
            f"CPU {self.baseline.median_cpu:.2f} s\n"
            f"  ratio: wall {self.ratio:.2f}, CPU {self.cpu_ratio:.2f}"
        )


def timed(fn: Callable[[], object], repeats: int) -> Timing:
    timing = Timing()
    for _ in range(repeats):
        timing.run(fn)
    return timing


def timed_pair(
    ours: Callable[[], object],
    baseline: Callable[[], object],
    repeats: int,
    baseline_repeats: int | None = None,
) -> Pair:
    """Run both ``repeats`` times, interleaved (ours, baseline, ours, …) so that anything else
    loading the machine weighs on both alike; medians of wall and CPU time."""
    pair = Pair(Timing(), Timing())
    baseline_repeats = repeats if baseline_repeats is None else baseline_repeats
    for i in range(max(repeats, baseline_repeats)):
        if i < repeats:
            pair.ours.run(ours)
        if i < baseline_repeats:
            pair.baseline.run(baseline)
    return pair


def source(seconds: int, height: int = HEIGHT) -> Path:
    """An H.264 source of ``seconds`` at 24 fps (made once, cached)."""
    width = height * 16 // 9
    path = DATA / f"src-{seconds}s-{height}p.mp4"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        log(f"making {path.name} (once) …")
        # The 1080P source only serves the memory figure: made faster (no grain, superfast).
        preset, grain = ("veryfast", ",noise=alls=3:allf=t") if height <= 720 else ("superfast", "")
        tmp = path.with_suffix(".tmp.mp4")
        run_ffmpeg(
            [
                "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=24{grain}",
                "-t", str(seconds), "-c:v", "libx264", "-preset", preset, "-crf", "18", "-g", str(GOP),
                "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(tmp),
            ]
        )  # fmt: skip
        tmp.rename(path)
    return path


def new_frames_file() -> Path:
    """The fixed 6 s of new 1280×720 frames, raw rgb24 (made once, cached)."""
    path = DATA / f"new-{NEW_SECONDS}s-720p.rgb"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        log(f"making {path.name} (once) …")
        tmp = path.with_suffix(".tmp")
        run_ffmpeg(
            [
                "-f", "lavfi", "-i", f"mandelbrot=size={WIDTH}x{HEIGHT}:rate=24",
                "-frames:v", str(NEW_SECONDS * 24),
                "-pix_fmt", "rgb24", "-f", "rawvideo", str(tmp),
            ]
        )  # fmt: skip
        tmp.rename(path)
    return path


def read_raw_frames(path: Path, width: int = WIDTH, height: int = HEIGHT) -> Iterator[np.ndarray]:
    """Frames of a raw rgb24 file, one at a time (a memory map: nothing is held)."""
    frame_bytes = width * height * 3
    count = path.stat().st_size // frame_bytes
    data = np.memmap(path, dtype=np.uint8, mode="r", shape=(count, height, width, 3))
    for i in range(count):
        yield np.array(data[i])  # a private copy, as an engine would yield


def cpu_info() -> str:
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = "unknown CPU"
    return f"{os.cpu_count()} cores, {model}"


def render_to(plan: Any, engine: Any, out: Path) -> Any:
    """Run the worker's render pipeline to ``out`` (thumbnail and spritesheet beside it)."""
    import threading

    from videoloom.worker.render import RenderOutputs, render

    outputs = RenderOutputs(
        video=out, thumbnail=out.with_suffix(".jpg"), spritesheet=out.with_suffix(".sprites.jpg")
    )
    return render(plan, engine, outputs=outputs, progress=lambda _: None, cancelled=threading.Event())
