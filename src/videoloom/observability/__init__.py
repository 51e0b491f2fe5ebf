"""What operators watch: Prometheus metrics, request ids, structured logs.

``Metrics`` is owned by the container (one registry per server, never the
global default); ``RequestContext`` is the ASGI middleware that gives each
request an id and a latency observation; ``configure_logging`` picks text or
JSON lines.
"""

from videoloom.observability._http import RequestContext
from videoloom.observability._logging import (
    JsonFormatter,
    bind_task_id,
    configure_logging,
    current_request_id,
    uvicorn_log_options,
)
from videoloom.observability._metrics import Metrics

__all__ = [
    "JsonFormatter",
    "Metrics",
    "RequestContext",
    "bind_task_id",
    "configure_logging",
    "current_request_id",
    "uvicorn_log_options",
]
