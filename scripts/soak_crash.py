#!/usr/bin/env python3
"""Soak: 25+ cycles of ``kill -9`` of the server or a worker at random moments, then 100 pollers.

Phase 1 (crash cycles): a real ``videoloom serve`` (API + embedded worker) and a separate
``videoloom worker`` share one data directory, with short leases. Each cycle submits extends,
generations and uploads, then SIGKILLs the server, the worker or both (drawn at random),
either mid-render or at a random moment while requests are still being sent, and starts
them again. At the end every task a 200 accepted must be completed (its MP4 whole:
Content-Length honoured, decodes to the expected frame count) or failed with a reason; none
may be lost or stuck, and no file at a served path may ever be half written.

Phase 2 (pollers): 100 concurrent pollers on ``GET /v1/video/query`` and
``GET /v1/videos/{id}`` for ``--poll-seconds`` while two extends run: zero errors; the
p50/p99 latency is printed.

Everything runs on 127.0.0.1. Exit status: 0 when nothing was lost and no poll failed.

    .venv/bin/python scripts/soak_crash.py [--cycles 25] [--poll-seconds 60] [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.reliability.crash import run_crash_cycles  # noqa: E402
from tests.reliability.harness import create_key, plain_server  # noqa: E402
from tests.reliability.pollers import run_pollers  # noqa: E402
from tests.support import make_clip, upload  # noqa: E402


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def crash_phase(root: Path, args: argparse.Namespace) -> bool:
    _log(f"crash cycles: {args.cycles} (seed {args.seed}), data in {root}")
    report = run_crash_cycles(
        root,
        cycles=args.cycles,
        seed=args.seed,
        in_flight_every=args.in_flight_every,
        drain_timeout=args.drain_timeout,
        log=_log,
    )
    print("\n== crash cycles ==\n" + report.summary(), flush=True)
    if not report.interrupted:
        print("WARNING: no kill landed while a task was rendering", flush=True)
    return report.ok and report.kills == args.cycles


def poll_phase(root: Path, args: argparse.Namespace) -> bool:
    _log(f"pollers: {args.pollers} for {args.poll_seconds:g} s while two extends run")
    root.mkdir(parents=True, exist_ok=True)
    server = plain_server(root / "data")
    key = create_key(server, "pollers")
    server.start()
    try:
        with server.client(key) as client:
            source = upload(client, make_clip(root / "src.mp4", seconds=2, width=320, height=180))
        stats = asyncio.run(
            run_pollers(
                server.base_url,
                key,
                [source["id"]],
                source_id=source["id"],
                concurrency=args.pollers,
                duration=args.poll_seconds,
                pause=(args.pause_min, args.pause_max),
            )
        )
    finally:
        server.stop()
    print("\n== pollers ==\n" + stats.summary(), flush=True)
    if stats.errors:
        print(f"ERRORS: {stats.error_samples}", flush=True)
    return not stats.errors and stats.requests > 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=25, help="kill -9 cycles (default 25)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed)")
    parser.add_argument(
        "--in-flight-every", type=int, default=2, help="every Nth kill lands mid-submission (default 2)"
    )
    parser.add_argument("--drain-timeout", type=float, default=300, help="seconds for all tasks to end")
    parser.add_argument("--poll-seconds", "--duration", type=float, default=60, help="0 skips the pollers")
    parser.add_argument("--pollers", type=int, default=100)
    parser.add_argument("--pause-min", type=float, default=0.2, help="pause between a poller's polls")
    parser.add_argument("--pause-max", type=float, default=0.6)
    parser.add_argument("--workdir", type=Path, default=None, help="kept afterwards (default: a temp dir)")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    if args.cycles < 1 or args.cycles > 500 or args.poll_seconds > 3600:
        parser.error("bounded runs only: 1-500 cycles, at most 3600 s of polling")

    root = args.workdir or Path(tempfile.mkdtemp(prefix="videoloom-soak-"))
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    ok = True
    try:
        ok &= crash_phase(root / "crash", args)
        if args.poll_seconds > 0:
            ok &= poll_phase(root / "pollers", args)
    finally:
        if args.workdir is None and ok:
            shutil.rmtree(root, ignore_errors=True)
    verdict = "PASS" if ok else f"FAIL (logs and data kept in {root})"
    print(f"\nsoak {verdict} in {time.monotonic() - started:.0f} s (seed {args.seed})", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
