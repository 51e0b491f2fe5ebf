"""The model registry: public model names → the engine that serves them and its options.

``VIDEOLOOM_MODELS_FILE`` names a TOML file of ``[models.<public-name>]`` tables::

    [models.grok-video-3]
    engine = "motion"          # which engine serves it
    id_prefix = "grok"         # task ids: grok:<uuid>; default: the name up to its first '-'
    max_duration = 20          # longest new segment, seconds
    options = { damping = 0.97 }   # passed to the engine's constructor
    # any other key is an engine option too (e.g. family/weights/steps for diffusion)

Other top-level tables belong to engines: ``[channels.<name>]`` tables configure
the relay engine's upstreams and are kept, unparsed, in ``ModelRegistry.channels``.

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
    id_prefix: str
    max_duration: int = 20
    options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


def _default_id_prefix(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "", name.split("-", 1)[0].lower()) or "video"


DEFAULT_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="grok-video-3",
        engine="motion",
        id_prefix="grok",
        description="The seed's model name, served locally by the CPU motion-extrapolation engine.",
    ),
    ModelSpec(
        name="sora-2",
        engine="motion",
        id_prefix="sora",
        description="The OpenAI SDK's default model name, served locally by the CPU motion engine.",
    ),
    ModelSpec(
        name="motion-1",
        engine="motion",
        id_prefix="motion",
        description="CPU motion extrapolation: optical flow, camera moves from the prompt, image drift.",
    ),
)


_SPEC_KEYS = {"engine", "id_prefix", "max_duration", "options", "description"}


class ModelRegistry:
    def __init__(
        self,
        models: tuple[ModelSpec, ...] = DEFAULT_MODELS,
        *,
        channels: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._models = {m.name: m for m in models}
        self.channels: Mapping[str, Mapping[str, Any]] = dict(channels or {})
        """``[channels.<name>]`` tables of the models file, as written (the relay engine parses them)."""

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
            if "engine" not in table:
                raise ValueError(f"models file {path}: [models.{name}] needs 'engine'")
            options = table.get("options", {})
            if not isinstance(options, dict):
                raise ValueError(f"models file {path}: [models.{name}] options must be a table")
            # Keys beside the spec's own are engine options, so entries can read
            # ``family = "ltx"`` / ``steps = 8`` instead of nesting them under ``options``.
            extra = {key: value for key, value in table.items() if key not in _SPEC_KEYS}
            specs.append(
                ModelSpec(
                    name=name,
                    engine=str(table["engine"]),
                    id_prefix=str(table.get("id_prefix") or _default_id_prefix(name)),
                    max_duration=int(table.get("max_duration", 20)),
                    options={**options, **extra},
                    description=str(table.get("description", "")),
                )
            )
        channels = data.get("channels", {})
        if not isinstance(channels, dict) or not all(isinstance(t, dict) for t in channels.values()):
            raise ValueError(f"models file {path}: [channels.<name>] entries must be tables")
        return cls(tuple(specs), channels=channels)

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
