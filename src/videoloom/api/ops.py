"""Operator routes: ``/metrics`` (Prometheus text format) and ``/readyz``.

``/healthz`` (in ``app.py``) says the process answers; ``/readyz`` says it can
do its job: the database answers, the blob store and the render scratch
directory take writes, and (with the embedded worker) the worker loop runs.
Neither needs an API key: bind to loopback or restrict them at the proxy.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from videoloom.api.deps import ContainerDep
from videoloom.observability._metrics import CONTENT_TYPE
from videoloom.storage.probes import blob_store_problem, database_problem, directory_problem, snapshot

__all__ = ["router"]

log = logging.getLogger("videoloom.api")

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics(container: ContainerDep) -> Response:
    """Prometheus text exposition; the task and queue gauges are read from the database now."""
    try:
        container.metrics.apply(await snapshot(container.db))
    except Exception:
        log.exception("reading task counts for /metrics failed")
        container.metrics.scrape_errors.inc()
    # Rendered on the loop, right after apply(): no other scrape can clear the gauges in between.
    return Response(container.metrics.exposition(), media_type=CONTENT_TYPE)


@router.get("/readyz", include_in_schema=False)
async def readyz(container: ContainerDep) -> JSONResponse:
    """200 when every check passes, else 503 naming what failed."""
    settings = container.settings
    checks: dict[str, str | None] = {
        "database": await database_problem(container.db),
        "blob_store": await asyncio.to_thread(blob_store_problem, container.blobs),
        "tmp_dir": await asyncio.to_thread(directory_problem, settings.tmp_dir),
    }
    if settings.embedded_worker:
        worker = container.worker
        alive = worker is not None and worker.running
        checks["worker"] = None if alive else "the embedded worker is not running"
    ready = all(problem is None for problem in checks.values())
    body = {
        "status": "ready" if ready else "not_ready",
        "checks": {name: problem or "ok" for name, problem in checks.items()},
    }
    return JSONResponse(body, status_code=200 if ready else 503)
