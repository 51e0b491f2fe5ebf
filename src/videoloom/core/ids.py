"""Task ids look like the seed's: ``<family>:<uuid4>`` (``grok:48a67431-0708-…``)."""

from __future__ import annotations

import re
import uuid

__all__ = ["is_task_id", "new_task_id"]

_FAMILY = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_TASK_ID = re.compile(
    r"^[a-z][a-z0-9_-]{0,31}:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)


def new_task_id(family: str) -> str:
    if not _FAMILY.match(family):
        raise ValueError(f"invalid id family {family!r}")
    return f"{family}:{uuid.uuid4()}"


def is_task_id(value: str) -> bool:
    return bool(_TASK_ID.match(value))
