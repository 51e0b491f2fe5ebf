"""The ASGI application: routers of every dialect over one container."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from videoloom import __version__
from videoloom.api import admin, content, gateway, models, openai_videos, openai_webhooks, ops, usage
from videoloom.api.errors import ERROR_RESPONSES, drop_validation_responses, install_error_handlers
from videoloom.api.limits import BodySizeLimit
from videoloom.api.playground import mount_playground
from videoloom.api.status_fast_path import StatusFastPath
from videoloom.config import Settings
from videoloom.container import Container
from videoloom.observability import RequestContext

__all__ = ["create_app"]

log = logging.getLogger("videoloom")


class VideoloomAPI(FastAPI):
    """FastAPI, with the status fast path asked before the middleware stack."""

    status_fast_path: StatusFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.status_fast_path is not None and await self.status_fast_path.handle(scope, send):
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = await Container.create(settings)
        app.state.container = container
        if settings.embedded_worker:
            await container.start_worker()
        container.webhooks.start()  # async only, apart from the render threads; close() stops it
        container.retention.start()
        # Everything built so far (modules, the container, the routes) lives as long as the
        # process: move it out of the garbage collector's view. A full collection then scans
        # what requests allocate, not ~140k startup objects (~130 ms a pass on this machine).
        gc.collect()
        gc.freeze()
        grpc_server = None
        try:
            if settings.grpc_port is not None:
                from videoloom.api.xai_grpc import start_grpc_server  # needs the xai-sdk's protos

                grpc_server = await start_grpc_server(container)
            yield
        finally:
            if grpc_server is not None:
                await grpc_server.stop(grace=2)
            await container.close()

    app = VideoloomAPI(
        title="Videoloom",
        version=__version__,
        lifespan=lifespan,
        # Metrics are Prometheus (/metrics); FastAPI's native OpenTelemetry hook would only
        # re-check for configured providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    app.add_middleware(
        BodySizeLimit, json_bytes=settings.max_request_bytes, upload_bytes=settings.max_upload_bytes
    )
    # Outermost: X-Request-ID, HTTP metrics and (JSON logs) the access line cover every answer.
    app.add_middleware(RequestContext, access_log=settings.log_format == "json")
    app.status_fast_path = StatusFastPath(app, RequestContext(app, access_log=settings.log_format == "json"))
    for router in (
        admin.router,
        gateway.router,
        content.router,
        models.router,
        openai_videos.router,
        openai_webhooks.router,
        ops.router,
        usage.router,
    ):
        app.include_router(router, responses=ERROR_RESPONSES)
    document_errors(app)
    mount_playground(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def document_errors(app: FastAPI) -> None:
    """The spec FastAPI builds, without the 422s this server never sends."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = drop_validation_responses(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
