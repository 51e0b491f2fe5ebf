"""Engine construction from a model's registry entry.

``create_engine(spec, context)`` builds the engine a model's ``engine = "…"``
names. Engines are built per task by the worker (cheap); engines with heavy
state (a diffusion pipeline) keep it in a per-process cache of their own module.
``EngineContext`` carries what some engines need beyond their model's options:
the relay's upstream channels, a scratch directory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videoloom.core.errors import EngineError
from videoloom.core.models import ModelSpec
from videoloom.engines.base import Engine

__all__ = ["ENGINE_KINDS", "EngineContext", "create_engine", "validate_engine_config"]

ENGINE_KINDS = ("motion", "relay")


@dataclass(frozen=True, kw_only=True)
class EngineContext:
    """What the server knows that an engine may need, beside its model's options."""

    channels: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """The models file's ``[channels.<name>]`` tables (relay engine)."""
    tmp_dir: Path | None = None
    """Scratch space for intermediate files (downloads, cut clips)."""


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
    raise EngineError(
        f"model {spec.name}: unknown engine {spec.engine!r} (known: {', '.join(ENGINE_KINDS)})",
        code="engine_config",
    )


def validate_engine_config(specs: Iterable[ModelSpec], channels: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse a models file whose engine tables are malformed (``ValueError``), at startup.

    Only the shape is checked: an unset key env var is reported by ``relay.check_model``
    and fails the tasks that need it, so a server can start before every secret is there.
    """
    if channels or any(spec.engine == "relay" for spec in specs):
        from videoloom.engines._channels import parse_channels

        parse_channels(channels)
