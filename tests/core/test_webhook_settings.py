"""Webhook settings: operator endpoints from the TOML file or JSON in the environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from videoloom.config import Settings
from videoloom.core.webhooks import new_secret

SECRET = new_secret()


def test_operator_endpoints_from_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "videoloom.toml"
    config.write_text(
        "webhook_timeout_seconds = 3\n"
        "[[webhook_endpoints]]\n"
        f'url = "https://ops.example.com/a"\nsecret = "{SECRET}"\nevent_types = ["video.failed"]\n'
        "[[webhook_endpoints]]\n"
        'url = "https://ops.example.com/b"\nsecret = "plain-text-secret"\n'
    )
    monkeypatch.setenv("VIDEOLOOM_CONFIG_FILE", str(config))
    settings = Settings()
    first, second = settings.webhook_endpoints
    assert first.secret.get_secret_value() == SECRET and first.event_types == ["video.failed"]
    assert second.event_types == ["video.completed", "video.failed"]  # default: all
    assert SECRET not in repr(settings) and SECRET not in json.dumps(settings.describe())
    assert settings.webhook_timeout_seconds == 3
    assert settings.webhook_max_age_seconds == 72 * 3600 and settings.webhook_initial_backoff_seconds == 5


def test_operator_endpoints_from_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "VIDEOLOOM_WEBHOOK_ENDPOINTS", json.dumps([{"url": "http://10.0.0.5/hook", "secret": SECRET}])
    )
    monkeypatch.setenv("VIDEOLOOM_WEBHOOK_MAX_AGE_SECONDS", "60")
    settings = Settings()
    assert settings.webhook_endpoints[0].url == "http://10.0.0.5/hook"
    assert settings.webhook_max_age_seconds == 60


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ({"url": "ftp://x", "secret": SECRET}, "http:// or https://"),
        ({"url": "https://x", "secret": "whsec_%%%"}, "base64"),
        ({"url": "https://x", "secret": ""}, "empty"),
        ({"url": "https://x", "secret": SECRET, "event_types": ["batch.completed"]}, "batch.completed"),
        ({"url": "https://x", "secret": SECRET, "extra": 1}, "extra"),
    ],
)
def test_invalid_operator_endpoints_are_refused(
    endpoint: dict[str, object], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEOLOOM_WEBHOOK_ENDPOINTS", json.dumps([endpoint]))
    with pytest.raises(ValueError, match=message):
        Settings()


def test_the_same_operator_url_twice_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = {"url": "https://ops.example.com", "secret": SECRET}
    monkeypatch.setenv("VIDEOLOOM_WEBHOOK_ENDPOINTS", json.dumps([endpoint, endpoint]))
    with pytest.raises(ValueError, match="same URL twice"):
        Settings()
