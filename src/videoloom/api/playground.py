"""``/playground``: the browser page, static files shipped in the package (no build step).

The page talks to this same server with the key the user pastes. Its Content
Security Policy allows scripts, styles and API calls from this origin only, so
it can load nothing from elsewhere; images and video may come from wherever the
server's signed content URLs point (a bucket's presigned URL, with a redirect).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["PLAYGROUND_DIR", "mount_playground"]

PLAYGROUND_DIR = Path(__file__).parent / "static" / "playground"

_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src * data: blob:; media-src * blob:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class _PlaygroundFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(_HEADERS)
        return response


def mount_playground(app: FastAPI) -> None:
    app.mount("/playground", _PlaygroundFiles(directory=PLAYGROUND_DIR, html=True), name="playground")
