"""Logging: the familiar text lines, or JSON lines that carry ``request_id`` and ``task_id``.

The ids travel in context variables: ``RequestContext`` sets the request's for
everything logged while a request is handled, and the worker binds the task's
for everything logged while it runs a task (each task runs in its own asyncio
task, so the binding ends with it).
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "JsonFormatter",
    "bind_task_id",
    "configure_logging",
    "current_request_id",
    "uvicorn_log_options",
]

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_request_id: ContextVar[str | None] = ContextVar("videoloom_request_id", default=None)
_task_id: ContextVar[str | None] = ContextVar("videoloom_task_id", default=None)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


def bind_task_id(task_id: str | None) -> None:
    """Tag what the current asyncio task logs from now on with ``task_id``."""
    _task_id.set(task_id)


def current_request_id() -> str | None:
    return _request_id.get()


class _ContextFilter(logging.Filter):
    """Copies the context's ids onto each record (unless ``extra=`` already set them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = _request_id.get()
        if getattr(record, "task_id", None) is None:
            record.task_id = _task_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, the ids, any extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:  # formatted where it happened (a render process's record)
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(log_format: LogFormat = "text", level: int | str = logging.INFO) -> None:
    """Set up the root logger once for the process (``serve``, ``worker``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def uvicorn_log_options(log_format: LogFormat) -> dict[str, Any]:
    """``uvicorn.run`` keyword arguments matching ``configure_logging``.

    Text keeps uvicorn's own handlers and access lines. JSON hands uvicorn's
    loggers to the root's JSON handler and turns its access log off:
    ``RequestContext`` writes a structured one (route, status, duration, id).
    """
    if log_format == "json":
        return {"log_config": None, "access_log": False, "log_level": "info"}
    return {"log_level": "info"}
