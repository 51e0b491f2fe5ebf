from __future__ import annotations

from pathlib import Path

import pytest

from videoloom.config import Settings
from videoloom.core.errors import EngineError, InvalidRequest
from videoloom.core.models import ModelRegistry
from videoloom.engines.registry import create_engine


def test_env_overrides_toml_overrides_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "videoloom.toml"
    config.write_text('port = 9001\nworker_concurrency = 2\ndata_dir = "/srv/vl"\n')
    monkeypatch.setenv("VIDEOLOOM_CONFIG_FILE", str(config))
    monkeypatch.setenv("VIDEOLOOM_PORT", "9002")
    settings = Settings()
    assert settings.port == 9002  # env wins
    assert settings.worker_concurrency == 2  # from the file
    assert settings.resolved_database_url == "sqlite+aiosqlite:////srv/vl/videoloom.db"
    assert settings.lease_seconds == 30  # default


def test_unknown_keys_in_the_config_file_are_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "videoloom.toml"
    config.write_text("prot = 9001\n")
    monkeypatch.setenv("VIDEOLOOM_CONFIG_FILE", str(config))
    with pytest.raises(ValueError, match="prot"):
        Settings()


def test_models_file(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(
        '[models.grok-video-3]\nengine = "motion"\nid_prefix = "grok"\noptions = { damping = 0.9 }\n'
        '[models.fast-motion]\nengine = "motion"\nmax_duration = 4\n'
        '[models.typo]\nengine = "motion"\noptions = { dampin = 0.9 }\n'
    )
    registry = ModelRegistry.from_file(path)
    assert registry.names() == ["fast-motion", "grok-video-3", "typo"]
    assert registry.get("fast-motion").id_prefix == "fast"
    assert registry.default_model == "grok-video-3"
    assert create_engine(registry.get("grok-video-3")).name == "motion"
    with pytest.raises(EngineError) as info:
        create_engine(registry.get("typo"))
    assert info.value.code == "engine_config"
    with pytest.raises(InvalidRequest) as missing:
        registry.get("nope")
    assert missing.value.param == "model" and "fast-motion" in missing.value.message


def test_models_file_errors_are_clear(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text('[models.x]\nengin = "motion"\n')
    with pytest.raises(ValueError, match="needs 'engine'"):
        ModelRegistry.from_file(path)
    path.write_text("not toml [")
    with pytest.raises(ValueError, match="cannot read models file"):
        ModelRegistry.from_file(path)


def test_the_public_url_has_two_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIDEOLOOM_PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv("VIDEOLOOM_PUBLIC_URL", "https://videos.example/")
    assert Settings().public_base_url == "https://videos.example"
    monkeypatch.setenv("VIDEOLOOM_PUBLIC_BASE_URL", "https://api.example")
    assert Settings().public_base_url == "https://api.example"  # the documented name wins
