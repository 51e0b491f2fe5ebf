"""The ASGI application: routers of every dialect over one container."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from videoloom import __version__
from videoloom.api import admin, content, gateway, models, openai_videos, openai_webhooks
from videoloom.api.errors import install_error_handlers
from videoloom.api.limits import BodySizeLimit
from videoloom.config import Settings
from videoloom.container import Container

__all__ = ["create_app"]

log = logging.getLogger("videoloom")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = await Container.create(settings)
        app.state.container = container
        if settings.embedded_worker:
            container.start_worker()
        container.webhooks.start()  # async only, apart from the render threads; close() stops it
        container.retention.start()
        try:
            yield
        finally:
            await container.close()

    app = FastAPI(title="Videoloom", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    app.add_middleware(
        BodySizeLimit, json_bytes=settings.max_request_bytes, upload_bytes=settings.max_upload_bytes
    )
    app.include_router(admin.router)
    app.include_router(gateway.router)
    app.include_router(content.router)
    app.include_router(models.router)
    app.include_router(openai_videos.router)
    app.include_router(openai_webhooks.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
