"""Engine construction from a model's registry entry.

``create_engine(spec, context)`` builds the engine a model's ``engine = "…"``
names. Engines are built per task by the worker (cheap); engines with heavy
state (a diffusion pipeline) keep it in a per-process cache of their own module.
``EngineContext`` carries what some engines need beyond their model's options:
the relay's upstream channels, a scratch directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videoloom.core.errors import EngineError
from videoloom.core.models import ModelSpec
from videoloom.engines.base import Engine

__all__ = ["ENGINE_KINDS", "EngineContext", "check_engine", "create_engine"]

ENGINE_KINDS = ("motion", "diffusion")


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
        try:
            from videoloom.engines import relay
        except ImportError:
            return "the relay engine is not part of this build"
        check = getattr(relay, "check_model", None)
        if check is None:
            return None
        result: str | None = check(spec, context)
        return result
    try:
        create_engine(spec, context).close()
    except EngineError as exc:
        return exc.message
    return None
