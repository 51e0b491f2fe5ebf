"""Engine construction from a model's registry entry."""

from __future__ import annotations

from videoloom.core.errors import EngineError
from videoloom.core.models import ModelSpec
from videoloom.engines.base import Engine

__all__ = ["ENGINE_KINDS", "create_engine"]

ENGINE_KINDS = ("motion",)


def create_engine(spec: ModelSpec) -> Engine:
    if spec.engine == "motion":
        from videoloom.engines.motion import MotionEngine

        try:
            return MotionEngine(**dict(spec.options))
        except (TypeError, ValueError) as exc:
            raise EngineError(f"model {spec.name}: bad engine options: {exc}", code="engine_config") from exc
    raise EngineError(
        f"model {spec.name}: unknown engine {spec.engine!r} (known: {', '.join(ENGINE_KINDS)})",
        code="engine_config",
    )
