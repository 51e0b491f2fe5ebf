"""Run every benchmark (each in its own process, one after the other) and end with their BENCH lines.

    python -m bench.run_all            # what `make bench` runs
    python -m bench.run_all --quick    # fewer repeats, shorter wrk runs (a smoke test)

Each script also runs alone, e.g. ``python -m bench.media_pipeline``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

SCRIPTS: dict[str, list[str]] = {
    "media_pipeline": [],
    "upscale": [],
    "engine_speed": [],
    "api_overhead": [],
    "queue_latency": [],
    "peak_memory": [],
}
QUICK: dict[str, list[str]] = {
    "media_pipeline": ["--repeats", "1"],
    "upscale": ["--repeats", "1"],
    "engine_speed": ["--repeats", "1"],
    "api_overhead": ["--seconds", "2", "--rounds", "3"],
    "queue_latency": ["--samples", "10"],
    "peak_memory": [],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("only", nargs="*", help=f"run just these, of: {', '.join(SCRIPTS)}")
    args = parser.parse_args()
    unknown = set(args.only) - set(SCRIPTS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    lines: list[str] = []
    failed: list[str] = []
    for name in args.only or SCRIPTS:
        extra = QUICK[name] if args.quick else SCRIPTS[name]
        print(f"\n=== bench.{name} {' '.join(extra)}", flush=True)
        proc = subprocess.Popen(
            [sys.executable, "-m", f"bench.{name}", *extra], stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            if line.startswith("BENCH "):
                lines.append(line.rstrip("\n"))
        if proc.wait() != 0:
            failed.append(name)
    print(f"\n=== all benchmarks: {time.perf_counter() - started:.0f} s", flush=True)
    for name in failed:
        print(f"FAILED bench.{name}", flush=True)
    for line in lines:
        print(line, flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
