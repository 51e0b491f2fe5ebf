"""Channel tables: validation, the order channels are tried in, per-process limits, model checks."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port
from videoloom.core.errors import EngineError
from videoloom.core.models import ModelRegistry, ModelSpec
from videoloom.engines._channels import ChannelLimits, channels_for, choose, parse_channels
from videoloom.engines._upstreams import scrub
from videoloom.engines.registry import EngineContext, create_engine, validate_engine_config
from videoloom.engines.relay import RelayEngine, _asked_seconds, _asked_size, _upstream_seconds, check_model


def _table(**overrides: Any) -> dict[str, Any]:
    return {
        "kind": "xai",
        "base_url": "http://127.0.0.1:9/",
        "api_key_env": "RELAY_UNIT_KEY",
        "models": {"grok-relay": "grok-imagine-video"},
        **overrides,
    }


def test_a_valid_table_gets_its_defaults() -> None:
    channel = parse_channels({"main": _table()})["main"]
    assert channel.name == "main" and channel.base_url == "http://127.0.0.1:9"
    assert channel.timeout_s == 1800 and channel.priority == 0 and channel.weight == 1
    assert channel.transport == "data_url"
    assert parse_channels({"gw": _table(kind="openai")})["gw"].transport == "upload"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "runway"}, "kind"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"api_key_env": "not a name"}, "api_key_env"),
        ({"models": {}}, "models"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"weight": -1}, "weight"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"api_key": "sk-inline"}, "api_key"),  # keys never go in the file
        ({"video_transport": "carrier-pigeon"}, "video_transport"),
    ],
)
def test_bad_tables_are_refused_naming_the_table_and_key(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_channels({"broken": _table(**overrides)})
    assert "[channels.broken]" in str(caught.value) and message in str(caught.value)


def test_a_models_file_with_a_bad_channel_is_refused_at_startup(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(
        '[models.grok-relay]\nengine = "relay"\n\n'
        '[channels.x]\nkind = "xai"\nbase_url = "http://127.0.0.1:9"\nmodels = { grok-relay = "g" }\n'
    )
    registry = ModelRegistry.from_file(path)
    with pytest.raises(ValueError, match=r"\[channels\.x\]: api_key_env: Field required"):
        validate_engine_config(registry, registry.channels)


def test_signed_url_needs_the_servers_public_url_at_startup() -> None:
    tables = {"x": _table(video_transport="signed_url")}
    with pytest.raises(ValueError) as caught:
        validate_engine_config([], tables, public_url=None)
    assert "[channels.x]" in str(caught.value) and "VIDEOLOOM_PUBLIC_BASE_URL" in str(caught.value)
    validate_engine_config([], tables, public_url="http://127.0.0.1:8000")  # accepted with one
    assert parse_channels(tables)["x"].transport == "signed_url"


def test_the_server_refuses_to_start_with_signed_url_and_no_public_url(tmp_path: Path) -> None:
    models = tmp_path / "models.toml"
    models.write_text(
        '[models.grok-relay]\nengine = "relay"\n\n[channels.x]\nkind = "xai"\n'
        'base_url = "http://127.0.0.1:9"\napi_key_env = "RELAY_UNIT_KEY"\n'
        'models = { grok-relay = "g" }\nvideo_transport = "signed_url"\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "VIDEOLOOM_PUBLIC_BASE_URL"} | {
        "VIDEOLOOM_DATA_DIR": str(tmp_path / "data"),
        "VIDEOLOOM_MODELS_FILE": str(models),
    }
    env["VIDEOLOOM_PORT"] = str(free_port())
    run = subprocess.run(
        [sys.executable, "-m", "videoloom", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode != 0
    assert "[channels.x]" in run.stderr and "VIDEOLOOM_PUBLIC_BASE_URL" in run.stderr, run.stderr


def test_channels_are_tried_by_priority_then_weight() -> None:
    channels = parse_channels(
        {
            "backup": _table(priority=5),
            "big": _table(weight=3),
            "small": _table(weight=1),
            "other-model": _table(models={"else": "x"}),
        }
    )
    serving = channels_for("grok-relay", channels)
    assert {c.name for c in serving} == {"backup", "big", "small"}
    rng = random.Random(7)
    firsts = Counter(choose(serving, rng)[0].name for _ in range(2000))
    assert set(firsts) == {"big", "small"}  # priority 5 is never first
    assert 2.4 < firsts["big"] / firsts["small"] < 3.7  # weights 3:1
    for _ in range(50):
        assert choose(serving, rng)[-1].name == "backup"


def test_limits_bound_concurrency_and_requests_per_minute() -> None:
    limits = ChannelLimits(max_concurrency=2, requests_per_minute=0)
    assert limits.try_acquire() and limits.try_acquire()
    assert not limits.try_acquire()
    limits.release()
    assert limits.try_acquire()

    rpm = ChannelLimits(max_concurrency=10, requests_per_minute=2)
    assert rpm.try_acquire() and rpm.try_acquire()
    rpm.release()
    rpm.release()
    assert not rpm.try_acquire()  # slots are free, but the minute's budget is spent
    assert rpm.try_acquire(submit=False)  # resuming a submitted job sends no request


def test_check_model_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ModelSpec(name="grok-relay", engine="relay", id_prefix="grok", max_duration=10)
    context = EngineContext(channels={"main": _table()})
    monkeypatch.delenv("RELAY_UNIT_KEY", raising=False)
    assert check_model(spec, context) == "channel main: env var RELAY_UNIT_KEY is not set"
    monkeypatch.setenv("RELAY_UNIT_KEY", "sk-secret-value")
    assert check_model(spec, context) is None
    long = ModelSpec(name="grok-relay", engine="relay", id_prefix="grok", max_duration=20)
    assert "max_duration" in (check_model(long, context) or "")
    orphan = ModelSpec(name="nobody-serves-me", engine="relay", id_prefix="x")
    assert "no [channels.*] table" in (check_model(orphan, context) or "")
    assert "[channels.bad]" in (check_model(spec, EngineContext(channels={"bad": _table(kind="?")})) or "")


def test_the_registry_builds_relay_engines() -> None:
    spec = ModelSpec(name="grok-relay", engine="relay", id_prefix="grok")
    engine = create_engine(spec, EngineContext(channels={"main": _table()}))
    assert isinstance(engine, RelayEngine)
    assert engine.native_short_side == 720  # xAI renders at most 720p: 1080P is a local upscale
    assert engine.edit_operations("make it sepia") == []
    with pytest.raises(EngineError) as caught:
        create_engine(spec, EngineContext(channels={"main": _table(kind="?")}))
    assert caught.value.code == "engine_config"


def test_upstream_seconds_cover_the_frames_asked_for() -> None:
    assert _upstream_seconds(48, Fraction(24)) == 2
    assert _upstream_seconds(49, Fraction(24)) == 3
    assert _upstream_seconds(1, Fraction(24)) == 1


def test_scrub_removes_the_key_and_bounds_the_length() -> None:
    assert scrub("bad key sk-123 here", "sk-123") == "bad key [redacted] here"
    assert len(scrub("x" * 10_000, None)) == 500


def test_openai_channels_ask_for_durations_and_sizes_the_upstream_accepts() -> None:
    openai = parse_channels({"gw": _table(kind="openai")})["gw"]
    assert [_asked_seconds(openai, s) for s in (1, 4, 5, 12)] == [4, 4, 8, 12]
    with pytest.raises(EngineError) as caught:
        _asked_seconds(openai, 13)
    assert caught.value.code == "duration_out_of_range"
    assert _asked_size(openai, 640, 360) == (1280, 720)
    assert _asked_size(openai, 1080, 1920) == (720, 1280)
    free = parse_channels({"gw": _table(kind="openai", seconds_choices=[], size_choices=[])})["gw"]
    assert _asked_seconds(free, 3) == 3 and _asked_size(free, 640, 360) == (640, 360)
    xai = parse_channels({"x": _table()})["x"]
    assert _asked_seconds(xai, 3) == 3 and _asked_size(xai, 640, 360) == (640, 360)
