"""Upstream channels of the relay engine: the models file's ``[channels.<name>]`` tables.

A channel is one upstream account (an xAI key, an OpenAI-format gateway) that
serves some public model names under its own upstream names::

    [channels.xai-main]
    kind = "xai"
    base_url = "https://api.x.ai"
    api_key_env = "XAI_API_KEY"        # the key's env var; the key itself never goes in a file
    models = { grok-relay = "grok-imagine-video" }
    priority = 0                       # lower is tried first
    weight = 1                         # share among channels of the same priority
    max_concurrency = 4                # upstream jobs in flight at once, per process
    requests_per_minute = 60           # submits per minute, per process
    timeout_s = 1800                   # the longest a task waits on this upstream

``choose`` orders the channels serving a model for one task: by priority, then
a weighted shuffle inside each priority (so load spreads, yet a failover order
exists). Limits are kept in this process's memory (``ChannelLimits``): with
several worker processes each one applies them on its own.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "Channel",
    "ChannelLimits",
    "channel_key",
    "channels_for",
    "choose",
    "limits_for",
    "parse_channels",
]

Kind = Literal["xai", "openai"]
Transport = Literal["data_url", "upload", "signed_url"]


class Channel(BaseModel):
    """One validated ``[channels.<name>]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Kind
    base_url: str
    api_key_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    models: dict[str, str] = Field(min_length=1)
    """Public model name → the upstream's model name."""
    priority: int = 0
    weight: float = Field(default=1.0, gt=0)
    max_concurrency: int = Field(default=4, ge=1)
    requests_per_minute: int = Field(default=0, ge=0)
    """0 = no limit."""
    timeout_s: float = Field(default=1800, gt=0)
    video_transport: Transport | None = None
    """How an extend ships the cut clip; default data_url for xai, upload for openai. ``signed_url``
    sends a signed, expiring link to Videoloom's own copy (needs ``VIDEOLOOM_PUBLIC_BASE_URL``)."""
    extend_route: Literal["extensions", "seed"] = "extensions"
    """openai kind: ``POST /v1/videos/extensions``, or the seed gateway's ``POST /v1/videos/{id}/extend``."""
    request_format: Literal["multipart", "json"] = "multipart"
    """openai kind: how ``POST /v1/videos`` and extensions are sent (OpenAI documents multipart)."""
    seconds_choices: list[int] | None = None
    """Durations the upstream accepts; a job asks for the smallest that covers it and keeps what it
    needs. Default: OpenAI's 4, 8, 12 for the openai kind, any whole second for xai. ``[]`` = any."""
    size_choices: list[str] | None = None
    """``WxH`` sizes the upstream accepts; the one nearest the job's aspect is asked for and the
    result fitted. Default: OpenAI's four for the openai kind, ``[]`` (the job's size) for xai."""
    poll_interval_s: float = Field(default=2.0, gt=0)
    """First wait between status polls; it grows ×1.5 (with jitter) up to ``max_poll_interval_s``."""
    max_poll_interval_s: float = Field(default=15.0, gt=0)
    request_timeout_s: float = Field(default=60.0, gt=0)
    """One HTTP request to the upstream (connect + read)."""
    max_download_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
    download_timeout_s: float = Field(default=300.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("size_choices")
    @classmethod
    def _sizes(cls, value: list[str] | None) -> list[str] | None:
        for size in value or []:
            width, _, height = size.partition("x")
            if not (width.isdigit() and height.isdigit()):
                raise ValueError(f"sizes look like 1280x720, got {size!r}")
        return value

    @property
    def seconds_allowed(self) -> list[int]:
        if self.seconds_choices is not None:
            return sorted(self.seconds_choices)
        return [4, 8, 12] if self.kind == "openai" else []

    @property
    def sizes_allowed(self) -> list[str]:
        if self.size_choices is not None:
            return self.size_choices
        return ["1280x720", "720x1280", "1792x1024", "1024x1792"] if self.kind == "openai" else []

    @property
    def transport(self) -> Transport:
        return self.video_transport or ("data_url" if self.kind == "xai" else "upload")

    def api_key(self) -> str | None:
        """The key from the environment, read at use (never stored on the model, never logged)."""
        return os.environ.get(self.api_key_env) or None


def parse_channels(tables: Mapping[str, Mapping[str, Any]]) -> dict[str, Channel]:
    """Validate every channel table; a bad one is a ``ValueError`` naming the table and the key."""
    channels = {}
    for name, table in tables.items():
        try:
            channels[name] = Channel(name=name, **dict(table))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'table'}: {error['msg']}"
                for error in exc.errors()
            )
            raise ValueError(f"[channels.{name}]: {problems}") from None
        except TypeError as exc:
            raise ValueError(f"[channels.{name}]: {exc}") from None
    return channels


def channels_for(model: str, channels: Mapping[str, Channel]) -> list[Channel]:
    """Every channel that lists ``model``."""
    return [c for c in channels.values() if model in c.models]


def choose(candidates: Sequence[Channel], rng: random.Random | None = None) -> list[Channel]:
    """The order to try ``candidates`` in: priority ascending, weighted shuffle within a priority."""
    rng = rng or random.Random()
    ordered: list[Channel] = []
    for priority in sorted({c.priority for c in candidates}):
        group = [c for c in candidates if c.priority == priority]
        while group:
            # Weighted sampling without replacement: each pick is proportional to weight.
            pick = rng.choices(range(len(group)), weights=[c.weight for c in group])[0]
            ordered.append(group.pop(pick))
    return ordered


class ChannelLimits:
    """A channel's concurrency slots and requests-per-minute window, for this process."""

    def __init__(self, max_concurrency: int, requests_per_minute: int) -> None:
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._rpm = requests_per_minute
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def try_acquire(self, *, submit: bool = True) -> bool:
        """Take a slot and a request of the minute's budget, or neither; never blocks.

        ``submit=False`` takes only a slot: resuming a job already submitted sends no new one."""
        if not self._slots.acquire(blocking=False):
            return False
        if self._rpm and submit:
            with self._lock:
                now = time.monotonic()
                while self._sent and now - self._sent[0] >= 60:
                    self._sent.popleft()
                if len(self._sent) >= self._rpm:
                    self._slots.release()
                    return False
                self._sent.append(now)
        return True

    def release(self) -> None:
        self._slots.release()


_LIMITS: dict[tuple[Any, ...], ChannelLimits] = {}
_LIMITS_LOCK = threading.Lock()


def channel_key(channel: Channel) -> tuple[Any, ...]:
    return (channel.name, channel.max_concurrency, channel.requests_per_minute)


def limits_for(channel: Channel) -> ChannelLimits:
    """The process-wide limits of ``channel`` (engines are built per task; the limits outlive them)."""
    with _LIMITS_LOCK:
        key = channel_key(channel)
        if key not in _LIMITS:
            _LIMITS[key] = ChannelLimits(channel.max_concurrency, channel.requests_per_minute)
        return _LIMITS[key]
