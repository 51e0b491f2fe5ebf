"""Downloads: ``GET /v1/videos/{id}/content`` with Range support, by key or by signed URL; and
``GET /v1/videos/{id}/relay-input``, the clip a relay task handed an upstream, by signed URL only."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from videoloom.api.deps import ContainerDep, authenticate
from videoloom.container import Container
from videoloom.core.errors import AuthenticationFailed, NotFound
from videoloom.core.signing import RELAY_INPUT, sign_content, verify_content
from videoloom.core.tasks import Task
from videoloom.storage.blobs import RELAY_INPUT_NAME, blob_key

__all__ = ["content_url", "public_base", "router"]

router = APIRouter(prefix="/v1", tags=["content"])

Variant = Literal["video", "thumbnail", "spritesheet"]
_MEDIA_TYPES = {"video": "video/mp4", "thumbnail": "image/jpeg", "spritesheet": "image/jpeg"}


def public_base(request: Request, container: Container) -> str:
    """Where clients reach this server: the configured public URL, else the request's own
    (scheme, Host header, root path: what ``request.base_url`` gives, without building URL
    objects on every status poll)."""
    if container.settings.public_base_url:
        return container.settings.public_base_url
    scope = request.scope
    host = next((v for k, v in scope["headers"] if k == b"host"), b"").decode("latin-1")
    if not host:
        server = scope.get("server")
        if not server:
            return str(request.base_url).rstrip("/")
        host = f"{server[0]}:{server[1]}"
    return f"{scope['scheme']}://{host}{scope.get('root_path', '')}".rstrip("/")


def content_url(base: str, container: Container, task: Task, variant: Variant) -> str:
    """An absolute, signed, expiring URL: works in a plain ``<video src>`` without a header."""
    # Expiry rounded up to the minute: a task's URLs stay the same across polls for a minute
    # (a <video src> is not reloaded by every poll) and their signatures can be reused.
    expires = -(-(int(time.time()) + container.settings.signed_url_ttl_seconds) // 60) * 60
    signature = sign_content(container.secret, task.id, variant, expires)
    # Every part is URL-safe (a variant name, digits, a hex digest): no urlencode, which
    # cost a third of a status poll's time (it is built twice per poll).
    query = f"expires={expires}&signature={signature}"
    if variant != "video":
        query = f"variant={variant}&{query}"
    return f"{base}/v1/videos/{task.id}/content?{query}"


@router.get("/videos/{video_id}/content", response_model=None)
@router.head("/videos/{video_id}/content", response_model=None, operation_id="head_video_content")
async def download_content(
    video_id: str,
    request: Request,
    container: ContainerDep,
    variant: Variant = "video",
    expires: Annotated[int | None, Query()] = None,
    signature: Annotated[str | None, Query()] = None,
    download: Annotated[
        bool,
        Query(
            description="Answer as an attachment (a browser saves it) and from this server even "
            "where downloads are redirected to a bucket: a browser ignores a link's download "
            "attribute once redirected to another origin."
        ),
    ] = False,
) -> Response:
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
    blobs = container.blobs
    if not key or not await asyncio.to_thread(blobs.exists, key):
        raise NotFound(f"video {video_id} has no {variant}", param="variant", code="content_missing")
    suffix = "mp4" if variant == "video" else f"{variant}.jpg"
    filename = f"{video_id.replace(':', '_')}.{suffix}"
    return await _serve(request, key, container, _MEDIA_TYPES[variant], filename, attachment=download)


@router.get("/videos/{video_id}/relay-input", response_model=None)
@router.head("/videos/{video_id}/relay-input", response_model=None, operation_id="head_relay_input")
async def download_relay_input(
    video_id: str,
    request: Request,
    container: ContainerDep,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query()],
) -> Response:
    """The cut clip a relay task sent to an upstream whose channel has
    ``video_transport = "signed_url"``: the upstream fetches it from here. Only by the
    signed, expiring URL the task gave it (no API key opens it); it serves that task's
    clip and nothing else."""
    if not verify_content(container.secret, video_id, RELAY_INPUT, expires, signature, int(time.time())):
        raise AuthenticationFailed(
            "the relay input URL's signature is invalid or has expired", code="invalid_signature"
        )
    task = await container.tasks.get_any_tenant(video_id)
    if task is None:
        raise NotFound(f"no video with id {video_id!r}", param="video_id", code="video_not_found")
    key = blob_key(task.tenant_id, task.id, RELAY_INPUT_NAME)
    if not await asyncio.to_thread(container.blobs.exists, key):
        raise NotFound(f"video {video_id} has no relay input", param="video_id", code="content_missing")
    filename = f"{video_id.replace(':', '_')}-{RELAY_INPUT_NAME}"
    return await _serve(request, key, container, "video/mp4", filename)


async def _serve(
    request: Request,
    key: str,
    container: Container,
    media_type: str,
    filename: str,
    *,
    attachment: bool = False,
) -> Response:
    """The blob at ``key``: the local file, a presigned redirect to the bucket, or streamed.
    ``attachment``: to be saved, so never redirected (the bucket's answer would be inline)."""
    blobs = container.blobs
    path = blobs.local_path(key)
    disposition = "attachment" if attachment else "inline"
    if path is not None:
        return FileResponse(
            path, media_type=media_type, filename=filename, content_disposition_type=disposition
        )
    if container.settings.content_delivery == "redirect" and not attachment:
        url = blobs.presigned_url(key, container.settings.signed_url_ttl_seconds)
        if url is not None:
            return RedirectResponse(url, status_code=307)
    return await _stream(request, key, container, media_type, filename, disposition)


_CHUNK = 1024 * 1024


async def _stream(
    request: Request, key: str, container: Container, media_type: str, filename: str, disposition: str
) -> Response:
    """Serve a bucket object through this node, honouring a single ``Range`` like FileResponse does."""
    blobs = container.blobs
    size = await asyncio.to_thread(blobs.size, key)
    start, end, status = 0, size, 200
    requested = request.headers.get("range")
    if requested:
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", requested.strip())
        if not match or (not match.group(1) and not match.group(2)):
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        if match.group(1):
            start = int(match.group(1))
            end = min(size, int(match.group(2)) + 1) if match.group(2) else size
        else:  # a suffix range: the last N bytes
            start = max(0, size - int(match.group(2)))
        if start >= size or start >= end:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        status = 206
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(end - start),
        "Content-Disposition": f'{disposition}; filename="{filename}"',
    }
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)

    async def body() -> AsyncIterator[bytes]:
        for offset in range(start, end, _CHUNK):
            yield await asyncio.to_thread(blobs.read_range, key, offset, min(end, offset + _CHUNK))

    return StreamingResponse(body(), status_code=status, headers=headers, media_type=media_type)
