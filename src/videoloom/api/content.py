"""Downloads: ``GET /v1/videos/{id}/content`` with Range support, by key or by signed URL."""

from __future__ import annotations

import time
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from videoloom.api.deps import ContainerDep, authenticate
from videoloom.container import Container
from videoloom.core.errors import AuthenticationFailed, NotFound
from videoloom.core.signing import sign_content, verify_content
from videoloom.core.tasks import Task
from videoloom.storage.blobs import blob_key

__all__ = ["content_url", "router"]

router = APIRouter(prefix="/v1", tags=["content"])

Variant = Literal["video", "thumbnail", "spritesheet"]
_MEDIA_TYPES = {"video": "video/mp4", "thumbnail": "image/jpeg", "spritesheet": "image/jpeg"}


def content_url(request: Request, container: Container, task: Task, variant: Variant) -> str:
    """An absolute, signed, expiring URL: works in a plain ``<video src>`` without a header."""
    base = container.settings.public_base_url or str(request.base_url).rstrip("/")
    expires = int(time.time()) + container.settings.signed_url_ttl_seconds
    query = {
        "expires": expires,
        "signature": sign_content(container.secret, task.id, variant, expires),
    }
    if variant != "video":
        query = {"variant": variant, **query}
    return f"{base}/v1/videos/{task.id}/content?{urlencode(query)}"


@router.api_route("/videos/{video_id}/content", methods=["GET", "HEAD"], response_model=None)
async def download_content(
    video_id: str,
    request: Request,
    container: ContainerDep,
    variant: Variant = "video",
    expires: Annotated[int | None, Query()] = None,
    signature: Annotated[str | None, Query()] = None,
) -> FileResponse:
    if signature is not None or expires is not None:
        if (
            expires is None
            or signature is None
            or not verify_content(container.secret, video_id, variant, expires, signature, int(time.time()))
        ):
            raise AuthenticationFailed(
                "the content URL's signature is invalid or has expired", code="invalid_signature"
            )
        task = await container.tasks.get_any_tenant(video_id)
        if task is None:
            raise NotFound(f"no video with id {video_id!r}", param="video_id", code="video_not_found")
    else:
        caller = await authenticate(request, container)
        task = await container.service.get(caller.tenant_id, video_id, param="video_id")
    container.service.ensure_downloadable(task)
    keys = {
        "video": task.video_key,
        "thumbnail": task.thumbnail_key,
        "spritesheet": blob_key(task.tenant_id, task.id, "spritesheet.jpg"),
    }
    key = keys[variant]
    path = container.blobs.path(key) if key else None
    if path is None or not path.is_file():
        raise NotFound(f"video {video_id} has no {variant}", param="variant", code="content_missing")
    suffix = "mp4" if variant == "video" else f"{variant}.jpg"
    return FileResponse(
        path,
        media_type=_MEDIA_TYPES[variant],
        filename=f"{video_id.replace(':', '_')}.{suffix}",
        content_disposition_type="inline",
    )
