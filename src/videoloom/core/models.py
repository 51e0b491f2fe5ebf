"""The model registry: public model names → the engine that serves them and its options.

``VIDEOLOOM_MODELS_FILE`` names a TOML file of ``[models.<public-name>]`` tables::

    [models.grok-video-3]
    engine = "motion"          # which engine serves it
    family = "grok"            # id prefix: grok:<uuid>; default: the name up to its first '-'
    max_duration = 20          # longest new segment, seconds
    options = { damping = 0.97 }   # passed to the engine's constructor

Without a file the built-in default maps the seed's ``grok-video-3``, the
OpenAI SDK's default ``sora-2`` and our ``motion-1`` to the CPU motion engine.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videoloom.core.errors import InvalidRequest

__all__ = ["DEFAULT_MODELS", "ModelRegistry", "ModelSpec"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    name: str
    engine: str
    family: str
    max_duration: int = 20
    options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


def _default_family(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "", name.split("-", 1)[0].lower()) or "video"


DEFAULT_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="grok-video-3",
        engine="motion",
        family="grok",
        description="The seed's model name, served locally by the CPU motion-extrapolation engine.",
    ),
    ModelSpec(
        name="sora-2",
        engine="motion",
        family="sora",
        description="The OpenAI SDK's default model name, served locally by the CPU motion engine.",
    ),
    ModelSpec(
        name="motion-1",
        engine="motion",
        family="motion",
        description="CPU motion extrapolation: optical flow, camera moves from the prompt, image drift.",
    ),
)


class ModelRegistry:
    def __init__(self, models: tuple[ModelSpec, ...] = DEFAULT_MODELS) -> None:
        self._models = {m.name: m for m in models}

    @classmethod
    def from_file(cls, path: Path | None) -> ModelRegistry:
        if path is None:
            return cls()
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"cannot read models file {path}: {exc}") from exc
        tables = data.get("models")
        if not isinstance(tables, dict) or not tables:
            raise ValueError(f"models file {path} has no [models.<name>] tables")
        specs = []
        for name, table in tables.items():
            if not _NAME.match(name) or not isinstance(table, dict):
                raise ValueError(f"models file {path}: bad model table {name!r}")
            unknown = set(table) - {"engine", "family", "max_duration", "options", "description"}
            if unknown or "engine" not in table:
                raise ValueError(
                    f"models file {path}: [models.{name}] needs 'engine'; unknown keys {sorted(unknown)}"
                )
            specs.append(
                ModelSpec(
                    name=name,
                    engine=str(table["engine"]),
                    family=str(table.get("family") or _default_family(name)),
                    max_duration=int(table.get("max_duration", 20)),
                    options=dict(table.get("options", {})),
                    description=str(table.get("description", "")),
                )
            )
        return cls(tuple(specs))

    def get(self, name: str, *, param: str = "model") -> ModelSpec:
        try:
            return self._models[name]
        except KeyError:
            known = ", ".join(sorted(self._models))
            raise InvalidRequest(
                f"unknown model {name!r}; this server serves: {known}",
                param=param,
                code="model_not_found",
            ) from None

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._models.values())

    @property
    def default_model(self) -> str:
        """The first model listed: what an upload is filed under when none is named."""
        return next(iter(self._models))

    @property
    def openai_default_model(self) -> str:
        """What an OpenAI-style create without ``model`` uses: the SDK's default when served."""
        return "sora-2" if "sora-2" in self._models else self.default_model

    def names(self) -> list[str]:
        return sorted(self._models)
