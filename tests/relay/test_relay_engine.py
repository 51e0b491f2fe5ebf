"""The relay engine in-process against a fake upstream: cancellation while polling, xAI's limits,
resuming a checkpointed request, signed_url without a public URL."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tests.relay.fake_upstream import PENDING_POLLS, Channel, FakeUpstreams
from tests.support import make_clip
from videoloom.core.errors import EngineError, JobCancelled
from videoloom.engines._channels import parse_channels
from videoloom.engines.base import ExtendJob, GenerateJob
from videoloom.engines.relay import RelayEngine

Checkpoint = dict[str, Any]

KEY = f"sk-unit-{secrets.token_hex(8)}"


@pytest.fixture(scope="module")
def stuck() -> Iterator[FakeUpstreams]:
    fakes = FakeUpstreams(
        [
            Channel(name="stuck", kind="xai", key=KEY, behaviour="never"),
            Channel(name="ok", kind="xai", key=KEY),
        ]
    ).start()
    yield fakes
    fakes.stop()


def _engine(
    fakes: FakeUpstreams,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    name: str = "stuck",
    timeout_s: float = 60,
    **options: Any,
) -> RelayEngine:
    monkeypatch.setenv("RELAY_UNIT_STUCK_KEY", KEY)
    table = {
        "kind": "xai",
        "base_url": fakes.url(name),
        "api_key_env": "RELAY_UNIT_STUCK_KEY",
        "models": {"grok-relay": "grok-imagine-video"},
        "poll_interval_s": 0.05,
        "max_poll_interval_s": 0.1,
        "timeout_s": timeout_s,
    }
    extra = {k: options.pop(k) for k in ("video_transport",) if k in options}
    return RelayEngine(
        model="grok-relay",
        channels=parse_channels({name: {**table, **extra}}),
        tmp_dir=tmp_path,
        **options,
    )


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
    engine.close()
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


def _job() -> GenerateJob:
    return GenerateJob(width=320, height=180, fps=Fraction(24), num_frames=24, prompt="waves")


def _crash_after_the_first_checkpoint(
    fakes: FakeUpstreams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Checkpoint:
    """Run an engine up to its checkpoint, then stop it as a killed worker would; the checkpoint."""
    checkpoints: list[Checkpoint] = []
    first = _engine(fakes, tmp_path, monkeypatch, name="ok", checkpoint=lambda r: checkpoints.append(dict(r)))

    def killed_once_checkpointed(_: float) -> None:
        if checkpoints:
            raise JobCancelled("the worker died")

    with pytest.raises(JobCancelled):
        list(first.generate(_job(), killed_once_checkpointed))
    assert len(checkpoints) == 1
    return checkpoints[0]


def test_a_rerun_resumes_the_checkpointed_request_and_never_submits_again(
    stuck: FakeUpstreams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream = stuck.channels["ok"]
    submits, downloads = len(upstream.submits), upstream.downloads
    recorded = _crash_after_the_first_checkpoint(stuck, tmp_path, monkeypatch)
    request_id = recorded["upstream_request_id"]
    assert recorded["channel"] == "ok" and request_id in upstream.jobs
    assert abs(recorded["submitted_at"] - time.time()) < 30
    assert len(upstream.submits) == submits + 1 and upstream.downloads == downloads

    later: list[Checkpoint] = []
    second = _engine(stuck, tmp_path, monkeypatch, name="ok", resume=recorded, checkpoint=later.append)
    job = _job()
    frames = list(second.generate(job, lambda _: None))
    assert len(frames) == 24 and frames[0].shape == (180, 320, 3)
    assert len(upstream.submits) == submits + 1, "the upstream got a second submit"
    assert job.report["upstream_request_id"] == request_id and job.report["resumed"] is True
    assert upstream.jobs[request_id]["polls"] > PENDING_POLLS and upstream.downloads == downloads + 1
    assert later == []  # nothing new was submitted, so nothing new to record
    # The upstream's video is kept until the engine is closed: its sound is muxed after the frames.
    assert job.sound.path is not None and job.sound.path.exists() and job.sound.offset == 0
    second.close()
    assert list(tmp_path.iterdir()) == []


def test_a_resumed_request_past_its_timeout_is_still_asked_once(
    stuck: FakeUpstreams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream = stuck.channels["ok"]
    recorded = _crash_after_the_first_checkpoint(stuck, tmp_path, monkeypatch)
    upstream.jobs[recorded["upstream_request_id"]]["polls"] = PENDING_POLLS  # it finishes meanwhile
    submits = len(upstream.submits)
    long_ago = {**recorded, "submitted_at": time.time() - 3600}
    late = _engine(stuck, tmp_path, monkeypatch, name="ok", timeout_s=60, resume=long_ago)
    assert len(list(late.generate(_job(), lambda _: None))) == 24
    assert len(upstream.submits) == submits

    never = _crash_after_the_first_checkpoint(stuck, tmp_path, monkeypatch)
    upstream.jobs[never["upstream_request_id"]]["polls"] = -1000  # still pending
    gone = _engine(
        stuck,
        tmp_path,
        monkeypatch,
        name="ok",
        timeout_s=60,
        resume={**never, "submitted_at": time.time() - 3600},
    )
    with pytest.raises(EngineError) as caught:
        list(gone.generate(_job(), lambda _: None))
    assert caught.value.code == "upstream_timeout"
    assert len(upstream.submits) == submits + 1  # only the second crash's own submit


def test_a_checkpoint_of_a_channel_no_longer_configured_submits_anew(
    stuck: FakeUpstreams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream = stuck.channels["ok"]
    submits = len(upstream.submits)
    resume = {"channel": "removed-since", "upstream_request_id": "xai-gone", "submitted_at": time.time()}
    engine = _engine(stuck, tmp_path, monkeypatch, name="ok", resume=resume)
    job = _job()
    assert len(list(engine.generate(job, lambda _: None))) == 24
    assert len(upstream.submits) == submits + 1 and "resumed" not in job.report


def test_signed_url_without_a_publisher_fails_with_a_clear_message(
    stuck: FakeUpstreams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream = stuck.channels["ok"]
    submits = len(upstream.submits)
    engine = _engine(stuck, tmp_path, monkeypatch, name="ok", video_transport="signed_url")
    source = make_clip(tmp_path / "source.mp4", seconds=3, width=320, height=180)
    job = ExtendJob(
        width=320, height=180, fps=Fraction(24), num_frames=48, prompt="on", source=source, keep_frames=48
    )
    with pytest.raises(EngineError) as caught:
        list(engine.extend(job, lambda _: None))
    assert caught.value.code == "engine_config" and "VIDEOLOOM_PUBLIC_BASE_URL" in caught.value.message
    assert len(upstream.submits) == submits  # refused before anything was sent
