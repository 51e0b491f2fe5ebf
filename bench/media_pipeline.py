"""Benchmark 1: an extend's media pipeline vs the ``ffmpeg`` CLI doing the same cut + concat + encode.

For 10 s, 30 s and 120 s 1280×720 H.264 sources: keep the first
``length − 5`` seconds (a cut in the middle of a 2 s GOP, so the smart cut has
a second of source to re-encode), append the same fixed 6 s of frames, encode
H.264 (libx264 veryfast, CRF 18, keyframe every 48 frames) into a +faststart MP4.

* Videoloom: ``worker.render.render`` (the code a worker runs) with the
  ``ReplayEngine`` standing in for the engine; in-process, wall time of the call.
* Baseline: one ``ffmpeg`` CLI process (trim + concat filters, same encoder
  settings), wall time of the process.

Each is run ``--repeats`` times (median). Also measured: Videoloom forced to
re-encode the whole kept part (``RenderPlan.smart_cut=False``), the path any
source without a usable keyframe takes, against the same baseline.
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
    source,
    timed_pair,
)
from bench.replay import ReplayEngine
from videoloom.media import probe
from videoloom.worker.render import RenderPlan

CUT_BEFORE_END = 5


def ours(src: Path, start_time: int, new: Path, out: Path, *, smart_cut: bool = True) -> None:
    plan = RenderPlan(
        mode="extend",
        width=WIDTH,
        height=HEIGHT,
        fps=FPS,
        new_seconds=NEW_SECONDS,
        prompt="",
        seed=0,
        source=src,
        start_time=start_time,
        preset=PRESET,
        crf=CRF,
        smart_cut=smart_cut,
    )
    render_to(plan, ReplayEngine(new), out)


def ffmpeg_cli(src: Path, start_time: int, new: Path, out: Path) -> None:
    keep = start_time * 24
    graph = (
        f"[0:v]trim=end_frame={keep},setpts=PTS-STARTPTS[kept];"
        "[1:v]setpts=PTS-STARTPTS[new];"
        "[kept][new]concat=n=2:v=1:a=0,format=yuv420p[v]"
    )
    run_ffmpeg(
        [
            "-i", str(src),
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{WIDTH}x{HEIGHT}", "-r", "24", "-i", str(new),
            "-filter_complex", graph, "-map", "[v]",
            "-c:v", "libx264", "-preset", PRESET, "-crf", str(CRF), "-g", str(GOP),
            "-movflags", "+faststart", str(out),
        ]
    )  # fmt: skip


def main() -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 30, 120])
    args = parser.parse_args()
    log(f"# media pipeline vs ffmpeg CLI ({cpu_info()})")
    new = new_frames_file()
    sources = {length: source(length) for length in args.lengths}
    work = DATA / "out"
    work.mkdir(parents=True, exist_ok=True)
    ours_s: dict[int, float] = {}
    lines = []
    for length, src in sources.items():
        start = length - CUT_BEFORE_END
        expected = start * 24 + NEW_SECONDS * 24
        ours_out, cli_out = work / f"ours-{length}.mp4", work / f"cli-{length}.mp4"
        # The CLI re-encodes everything: one run of the 120 s case is enough (it is the slow one).
        pair = timed_pair(
            lambda: ours(src, start, new, ours_out),  # noqa: B023
            lambda: ffmpeg_cli(src, start, new, cli_out),  # noqa: B023
            args.repeats,
            1 if length > 30 else args.repeats,
        )
        for out in (ours_out, cli_out):
            got = probe(out).frame_count
            assert got == expected, f"{out.name}: {got} frames, expected {expected}"
        ours_s[length] = pair.ours.median
        log(f"{length} s source, cut at {start} s, + {NEW_SECONDS} s:")
        log(pair.describe("videoloom (smart cut)", "ffmpeg CLI"))
        goal = "<=1.3" if length == 10 else "info"
        lines.append(bench_line(f"media_extend_{length}s_vs_ffmpeg", pair.ratio, goal))
        lines.append(bench_line(f"media_extend_{length}s_seconds", pair.ours.median, "info"))
    if 10 in ours_s and 120 in ours_s:
        lines.append(bench_line("media_extend_120s_vs_10s", ours_s[120] / ours_s[10], "<2"))
    if 10 in sources:
        src, start = sources[10], 10 - CUT_BEFORE_END
        pair = timed_pair(
            lambda: ours(src, start, new, work / "full-10.mp4", smart_cut=False),
            lambda: ffmpeg_cli(src, start, new, work / "cli-10.mp4"),
            args.repeats,
        )
        log("10 s source, whole kept part re-encoded (smart cut off):")
        log(pair.describe("videoloom (full re-encode)", "ffmpeg CLI"))
        lines.append(bench_line("media_full_reencode_10s_vs_ffmpeg", pair.ratio, "<=1.3"))
    return lines


if __name__ == "__main__":
    main()
