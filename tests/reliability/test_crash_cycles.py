"""kill -9 of the server or a worker at random moments during extends loses nothing.

A few cycles here (the victims in turn: server, worker, both, ...); 25+ in the soak.

``scripts/soak_crash.py`` (``make soak``) runs the same cycles longer; see crash.py for what
is checked and docs/reliability.md for the numbers observed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.reliability.crash import run_crash_cycles

pytestmark = pytest.mark.slow

CYCLES = int(os.environ.get("VIDEOLOOM_TEST_CRASH_CYCLES", "4"))


def test_kill_9_cycles_lose_nothing_and_serve_no_half_file(tmp_path: Path) -> None:
    report = run_crash_cycles(
        tmp_path, cycles=CYCLES, seed=20251125, drain_timeout=150, random_targets=False, log=print
    )
    print(report.summary())
    assert report.kills == CYCLES
    if CYCLES >= 3:
        assert set(report.kills_by_target) == {"server", "worker", "both"}
    assert report.accepted, "nothing was accepted: the test tested nothing"
    assert report.interrupted, "no kill landed while a task was rendering"
    assert report.ok, report.summary()
    assert len(report.final) == len(report.accepted)
