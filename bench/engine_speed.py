"""Benchmark 3: CPU engine speed, seconds of 1280×720 content made per wall second.

``MotionEngine.extend`` continues 3 context frames (a moving textured scene)
for 6 s (144 frames) at 1280×720, 24 fps. Two figures:

* generated only: the engine's frames are consumed and dropped;
* generated + encoded: each frame also goes through ``VideoWriter`` (libx264
  veryfast, CRF 18, what a worker writes), the end-to-end figure for the new
  part of an extend.

On a machine with more than 2 cores the process pins itself to 2 (``sched_setaffinity``),
the issue's reference machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from fractions import Fraction

import numpy as np

from bench.common import CRF, DATA, GOP, HEIGHT, NEW_SECONDS, PRESET, WIDTH, bench_line, cpu_info, log
from videoloom.engines.base import ExtendJob
from videoloom.engines.motion import MotionEngine
from videoloom.media import VideoWriter


def scene(index: int) -> np.ndarray:
    """A drifting textured background with a sliding box (as ``tests.support.clip_frame``)."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    shift = index * 4.0
    r = 128 + 90 * np.sin((x + shift) / 37.0) * np.cos(y / 53.0)
    g = 128 + 90 * np.sin((x + shift) / 23.0 + y / 71.0)
    b = 128 + 90 * np.cos((x - y + shift) / 41.0)
    frame = np.stack([r, g, b], axis=-1)
    bx = int((index * 9) % (WIDTH - HEIGHT // 4))
    frame[HEIGHT // 3 : HEIGHT // 3 + HEIGHT // 4, bx : bx + HEIGHT // 4] = (240, 40, 40)
    return np.clip(frame, 0, 255).astype(np.uint8)


def extend(encode: bool) -> float:
    job = ExtendJob(
        width=WIDTH,
        height=HEIGHT,
        fps=Fraction(24),
        num_frames=NEW_SECONDS * 24,
        prompt="the camera keeps moving",
        context=tuple(scene(i) for i in range(3)),
    )
    engine = MotionEngine()
    start = time.perf_counter()
    if encode:
        DATA.mkdir(parents=True, exist_ok=True)
        with VideoWriter(
            DATA / "engine.mp4",
            width=WIDTH,
            height=HEIGHT,
            fps=Fraction(24),
            preset=PRESET,
            crf=CRF,
            gop_size=GOP,
        ) as writer:
            for frame in engine.extend(job, lambda _: None):
                writer.write(frame)
    else:
        for _ in engine.extend(job, lambda _: None):
            pass
    return time.perf_counter() - start


def main() -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) > 2:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
    log(f"# CPU engine speed ({cpu_info()}; using {len(os.sched_getaffinity(0))} cores)")
    lines = []
    for encode, name in ((False, "generated"), (True, "generated_encoded")):
        times = [extend(encode) for _ in range(args.repeats)]
        median = statistics.median(times)
        speed = NEW_SECONDS / median
        runs = ", ".join(f"{t:.2f}" for t in times)
        log(f"  {name}: {NEW_SECONDS} s of 720P in {median:.2f} s (runs {runs})")
        lines.append(bench_line(f"engine_720p_{name}_x_realtime", speed, ">=1.0"))
    return lines


if __name__ == "__main__":
    main()
