"""The relay engine in-process against a fake upstream: cancellation while polling, xAI's limits."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest

from tests.relay.fake_upstream import Channel, FakeUpstreams
from tests.support import make_clip
from videoloom.core.errors import EngineError, JobCancelled
from videoloom.engines._channels import parse_channels
from videoloom.engines.base import ExtendJob, GenerateJob
from videoloom.engines.relay import RelayEngine

KEY = f"sk-unit-{secrets.token_hex(8)}"


@pytest.fixture(scope="module")
def stuck() -> Iterator[FakeUpstreams]:
    fakes = FakeUpstreams([Channel(name="stuck", kind="xai", key=KEY, behaviour="never")]).start()
    yield fakes
    fakes.stop()


def _engine(fakes: FakeUpstreams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RelayEngine:
    monkeypatch.setenv("RELAY_UNIT_STUCK_KEY", KEY)
    table = {
        "kind": "xai",
        "base_url": fakes.url("stuck"),
        "api_key_env": "RELAY_UNIT_STUCK_KEY",
        "models": {"grok-relay": "grok-imagine-video"},
        "poll_interval_s": 0.05,
        "timeout_s": 60,
    }
    return RelayEngine(model="grok-relay", channels=parse_channels({"stuck": table}), tmp_dir=tmp_path)


def test_a_cancel_stops_the_poll_loop(
    stuck: FakeUpstreams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _engine(stuck, tmp_path, monkeypatch)
    calls = []

    def progress(fraction: float) -> None:
        calls.append(fraction)
        if len(calls) > 10:  # the task was cancelled meanwhile
            raise JobCancelled("cancelled")

    job = GenerateJob(width=320, height=180, fps=Fraction(24), num_frames=24, prompt="waves")
    with pytest.raises(JobCancelled):
        list(engine.generate(job, progress))
    assert job.report["channel"] == "stuck"
    assert stuck.channels["stuck"].jobs[job.report["upstream_request_id"]]["polls"] >= 2
    assert list(tmp_path.iterdir()) == []  # no scratch file left behind


def test_xai_refuses_a_kept_part_under_two_seconds(
    stuck: FakeUpstreams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _engine(stuck, tmp_path, monkeypatch)
    source = make_clip(tmp_path / "source.mp4", seconds=3, width=320, height=180)
    job = ExtendJob(
        width=320, height=180, fps=Fraction(24), num_frames=48, prompt="on", source=source, keep_frames=24
    )
    with pytest.raises(EngineError) as caught:
        list(engine.extend(job, lambda _: None))
    assert caught.value.code == "source_too_short"
    long = ExtendJob(
        width=320,
        height=180,
        fps=Fraction(24),
        num_frames=24 * 11,
        prompt="on",
        source=source,
        keep_frames=72,
    )
    with pytest.raises(EngineError) as caught:
        list(engine.extend(long, lambda _: None))
    assert caught.value.code == "duration_out_of_range"
