"""Peak memory of an extend of a 120 s 1920×1080 H.264 source.

Each measurement runs in a fresh Python process (``render()`` with the real
``MotionEngine``, 6 new seconds, 1080P, no upscale) and reports that process's
peak resident set size (``ru_maxrss``): imports, the engine, decoders, the
encoder and every frame buffer included.

* smart cut: cut at 115 s (mid-GOP), the path an extend at the same size takes;
* full re-encode: the same source with the smart cut switched off, keeping 30 s
  (``--full-length`` keeps 115 s; it takes a couple of minutes), the path of an
  extend that changes size or aspect ratio. Frames stream, so the peak must
  not depend on how much is kept.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from fractions import Fraction

from bench.common import CRF, DATA, PRESET, bench_line, cpu_info, log, render_to, source

GIB = 1024**3


def child(start_time: int, smart_cut: bool) -> None:
    from videoloom.engines.motion import MotionEngine
    from videoloom.worker.render import RenderPlan

    out = DATA / "out" / "peak.mp4"
    out.parent.mkdir(parents=True, exist_ok=True)
    plan = RenderPlan(
        mode="extend",
        width=1920,
        height=1080,
        fps=Fraction(24),
        new_seconds=6,
        prompt="the camera keeps moving",
        seed=0,
        source=source(120, 1080),
        start_time=start_time,
        preset=PRESET,
        crf=CRF,
        smart_cut=smart_cut,
    )
    started = time.perf_counter()
    result = render_to(plan, MotionEngine(), out)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({"peak": peak, "seconds": time.perf_counter() - started, "frames": result.frame_count}))


def measure(start_time: int, smart_cut: bool) -> dict[str, float]:
    args = [sys.executable, "-m", "bench.peak_memory", "--child", str(start_time), str(int(smart_cut))]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full-length", action="store_true", help="full re-encode keeps 115 s, not 30 s")
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], bool(args.child[1]))
        return []
    log(f"# peak memory, extend of a 120 s 1080P source ({cpu_info()})")
    source(120, 1080)  # made once, outside the measurement
    smart = measure(115, True)
    log(f"  smart cut at 115 s + 6 s: peak RSS {smart['peak'] / GIB:.2f} GiB ({smart['seconds']:.1f} s)")
    kept = 115 if args.full_length else 30
    full = measure(kept, False)
    peak, took = full["peak"] / GIB, full["seconds"]
    log(f"  full re-encode, {kept} s kept + 6 s: peak RSS {peak:.2f} GiB ({took:.1f} s)")
    return [
        bench_line("peak_rss_extend_120s_1080p_gib", smart["peak"] / GIB, "<1.5"),
        bench_line(f"peak_rss_extend_120s_1080p_full_reencode_{kept}s_gib", full["peak"] / GIB, "<1.5"),
    ]


if __name__ == "__main__":
    main()
