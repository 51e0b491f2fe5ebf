"""Engine construction from a model's registry entry.

``create_engine(spec, context)`` builds the engine a model's ``engine = "…"``
names. Engines are built per task by the worker (cheap); engines with heavy
state (a diffusion pipeline) keep it in a per-process cache of their own module.
``EngineContext`` carries what some engines need beyond their model's options:
the relay's upstream channels, a scratch directory, and the task-bound callables
the worker builds (publish a file at a signed URL, record a checkpoint, the
checkpoint an earlier run recorded), so engines stay free of storage and HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videoloom.core.errors import EngineError
from videoloom.core.models import ModelSpec
from videoloom.engines.base import Engine

__all__ = ["ENGINE_KINDS", "EngineContext", "check_engine", "create_engine", "validate_engine_config"]

ENGINE_KINDS = ("motion", "relay", "diffusion")


@dataclass(frozen=True, kw_only=True)
class EngineContext:
    """What the server knows that an engine may need, beside its model's options."""

    channels: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """The models file's ``[channels.<name>]`` tables (relay engine)."""
    tmp_dir: Path | None = None
    """Scratch space for intermediate files (downloads, cut clips)."""
    publish: Callable[[Path, float], str] | None = None
    """``publish(path, ttl_s)``: store a copy of ``path`` with the task's files and answer an
    absolute, signed URL to it that expires after ``ttl_s`` (None: no public URL is configured)."""
    checkpoint: Callable[[Mapping[str, Any]], None] | None = None
    """Record ``report`` on the task durably, before returning (the engine's progress past a
    point a crash must not repeat, e.g. an upstream submit). Raises ``JobCancelled`` when
    the task is no longer this worker's."""
    resume: Mapping[str, Any] | None = None
    """The last checkpoint an earlier run of this task recorded, or None on a first run."""


def create_engine(spec: ModelSpec, context: EngineContext | None = None) -> Engine:
    context = context or EngineContext()
    if spec.engine == "motion":
        from videoloom.engines.motion import MotionEngine

        try:
            return MotionEngine(**dict(spec.options))
        except (TypeError, ValueError) as exc:
            raise EngineError(f"model {spec.name}: bad engine options: {exc}", code="engine_config") from exc
    if spec.engine == "relay":
        from videoloom.engines.relay import create_relay_engine

        return create_relay_engine(spec, context)
    if spec.engine == "diffusion":
        # Imports neither torch nor diffusers: they load with the first pipeline, so a server
        # without the diffusion extra still starts (its diffusion tasks fail with engine_unavailable).
        from videoloom.engines.diffusion import DiffusionEngine

        return DiffusionEngine(spec.name, **dict(spec.options))
    raise EngineError(
        f"model {spec.name}: unknown engine {spec.engine!r} (known: {', '.join(ENGINE_KINDS)})",
        code="engine_config",
    )


def check_engine(spec: ModelSpec, context: EngineContext | None = None) -> str | None:
    """Why ``spec``'s engine cannot serve it on this host, or None when it can (``videoloom models check``).

    Cheap: it builds nothing heavy (a diffusion model's weights are located, not loaded).
    """
    context = context or EngineContext()
    if spec.engine == "diffusion":
        from videoloom.engines.diffusion import check_diffusion

        return check_diffusion(spec.name, dict(spec.options))
    if spec.engine == "relay":
        from videoloom.engines.relay import check_model

        return check_model(spec, context)
    try:
        create_engine(spec, context).close()
    except EngineError as exc:
        return exc.message
    return None


def validate_engine_config(
    specs: Iterable[ModelSpec], channels: Mapping[str, Mapping[str, Any]], *, public_url: str | None = None
) -> None:
    """Refuse a models file whose engine tables are malformed (``ValueError``), at startup.

    Only the shape is checked: an unset key env var is reported by ``relay.check_model``
    and fails the tasks that need it, so a server can start before every secret is there.
    A channel with ``video_transport = "signed_url"`` needs ``public_url`` (the server's
    ``VIDEOLOOM_PUBLIC_BASE_URL``): the upstream fetches the clip from there.
    """
    if channels or any(spec.engine == "relay" for spec in specs):
        from videoloom.engines._channels import parse_channels

        for channel in parse_channels(channels).values():
            if channel.transport == "signed_url" and not public_url:
                raise ValueError(
                    f"[channels.{channel.name}]: video_transport = 'signed_url' needs the server's public "
                    "URL (set VIDEOLOOM_PUBLIC_BASE_URL to where the upstream can reach this server)"
                )
