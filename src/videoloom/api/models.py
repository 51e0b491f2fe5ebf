"""``GET /v1/models``: what this server serves, in the OpenAI list shape."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from videoloom.api.deps import CallerDep, ContainerDep

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["models"])


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "videoloom"
    engine: str
    """Which engine serves it: ``motion`` is CPU motion extrapolation, not a learned model."""
    description: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


@router.get("/models", response_model=ModelList)
async def list_models(_: CallerDep, container: ContainerDep) -> ModelList:
    return ModelList(
        data=[Model(id=m.name, engine=m.engine, description=m.description) for m in container.registry]
    )
