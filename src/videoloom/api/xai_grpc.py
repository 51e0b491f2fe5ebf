"""The xAI dialect: ``xai_api.Video`` over gRPC, so the official ``xai-sdk`` works unchanged.

``client.video.generate(…)`` / ``.extend(…)`` call ``GenerateVideo`` / ``ExtendVideo``
(answered at once with ``StartDeferredResponse{request_id=<task id>}``), then poll
``GetDeferredVideo`` every ``interval`` until ``DONE``. Thin like the HTTP dialects:
wire message → core command → ``TaskService``; task → ``GetDeferredVideoResponse``.
Same keys, tenants, quotas and ids as HTTP: a task made here is ``GET /v1/videos/{id}``
there, and the other way round.

The server runs in the API process's event loop, started by the app lifespan when
``grpc_port`` is set; it is plaintext (put a TLS-terminating proxy in front).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import grpc

from videoloom.api.xai_types import (
    ASPECT_RATIOS,
    RESOLUTIONS,
    GrpcError,
    deferred_pb2,
    image_pb2,
    to_grpc_error,
    video_pb2,
    video_pb2_grpc,
)
from videoloom.config import Settings
from videoloom.container import Container
from videoloom.core.commands import EditCommand, ExtendCommand, GenerateCommand
from videoloom.core.errors import FetchError, Gone, InvalidRequest, VideoloomError
from videoloom.core.geometry import output_size, parse_aspect_ratio
from videoloom.core.signing import sign_content, verify_content
from videoloom.core.tasks import Task, TaskStatus
from videoloom.net import FetchLimits, SafeFetcher
from videoloom.storage.keys import ApiKey

__all__ = [
    "DEFAULT_EXTEND_DURATION",
    "DEFAULT_GENERATE_DURATION",
    "SERVER_OPTIONS",
    "XaiVideoService",
    "http_base_url",
    "start_grpc_server",
]

log = logging.getLogger("videoloom.grpc")

T = TypeVar("T")

DEFAULT_GENERATE_DURATION = 8
"""xAI's default for ``GenerateVideo`` without ``duration`` (its documented range is 1–15)."""
MAX_GENERATE_DURATION = 15
DEFAULT_EXTEND_DURATION = 6
"""xAI's default for ``ExtendVideo`` without ``duration`` (range 1–10)."""
MAX_EXTEND_DURATION = 10
DEFAULT_ASPECT_RATIO = "16:9"
DEFAULT_SHORT_SIDE = 480
"""xAI renders 480p when ``resolution`` is absent; so does this dialect."""

VIDEO_FETCH_MAX_BYTES = 100 * 1024 * 1024
"""Largest video fetched from an http(s) ``video.url`` (also bounded by ``max_upload_bytes``)."""
VIDEO_FETCH_TIMEOUT_S = 60.0

_MIB = 1024 * 1024
SERVER_OPTIONS: tuple[tuple[str, Any], ...] = (
    # The SDK pings every 30 s, even without calls in flight. gRPC's defaults (pings only
    # during calls, at most one per 5 min) would answer with GOAWAY "too_many_pings".
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.http2.max_ping_strikes", 2),
    # The SDK sends up to 20 MiB (reference images as data: URLs).
    ("grpc.max_receive_message_length", 20 * _MIB),
    ("grpc.max_send_message_length", 20 * _MIB),
)

_CONTENT_PATH = re.compile(r"/v1/videos/(?P<id>[^/]+)/content$")
_DATA_URL = re.compile(r"^data:(?P<type>[^;,]*)(?:;[^;,]*)*?;base64,(?P<data>.*)$", re.DOTALL)
_SOURCE_PARAMS = {"video_id", "video", "id"}


def http_base_url(settings: Settings) -> str:
    """Where clients reach the HTTP listener: ``public_base_url``, else ``http://host:port``."""
    if settings.public_base_url:
        return settings.public_base_url
    host = settings.host
    if host in ("", "0.0.0.0", "::"):  # a wildcard bind is not an address to connect to
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def _listen_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _field_of(param: str | None, *, image_offset: int = 0) -> str | None:
    """A core ``param`` under the proto's field name."""
    if param is None:
        return None
    if param in _SOURCE_PARAMS:
        return "video.url"
    if param == "size":
        return "resolution"
    if param == "images":
        return "reference_images"
    match = re.fullmatch(r"images\[(\d+)\]", param)
    if match:
        index = int(match.group(1))
        if index < image_offset:
            return "image.image_url"
        return f"reference_images[{index - image_offset}].image_url"
    return param


class XaiVideoService(video_pb2_grpc.VideoServicer):  # type: ignore[misc]
    """``xai_api.Video``: GenerateVideo, ExtendVideo, GetDeferredVideo on the one TaskService."""

    def __init__(self, container: Container) -> None:
        self._c = container
        self._base = http_base_url(container.settings)

    # --- the RPCs ------------------------------------------------------------------------

    async def GenerateVideo(
        self, request: video_pb2.GenerateVideoRequest, context: grpc.aio.ServicerContext
    ) -> deferred_pb2.StartDeferredResponse:
        task = await self._serve(context, lambda caller: self._generate(caller, request), creates=True)
        return deferred_pb2.StartDeferredResponse(request_id=task.id)

    async def ExtendVideo(
        self, request: video_pb2.ExtendVideoRequest, context: grpc.aio.ServicerContext
    ) -> deferred_pb2.StartDeferredResponse:
        task = await self._serve(context, lambda caller: self._extend(caller, request), creates=True)
        return deferred_pb2.StartDeferredResponse(request_id=task.id)

    async def GetDeferredVideo(
        self, request: video_pb2.GetDeferredVideoRequest, context: grpc.aio.ServicerContext
    ) -> video_pb2.GetDeferredVideoResponse:
        return await self._serve(context, lambda caller: self._deferred(caller, request))

    # --- authentication and errors -------------------------------------------------------

    async def _serve(
        self,
        context: grpc.aio.ServicerContext,
        work: Callable[[ApiKey], Awaitable[T]],
        *,
        creates: bool = False,
    ) -> T:
        try:
            caller = await self._authenticate(context)
            if creates:
                await self._c.rate_limiter.admit(caller.name)
            return await work(caller)
        except GrpcError as exc:
            error = exc
        except VideoloomError as exc:
            error = to_grpc_error(exc, field=_field_of(exc.param))
        except Exception:
            log.exception("gRPC call failed")
            error = GrpcError(grpc.StatusCode.INTERNAL, "internal error; see the server log")
        await context.abort(error.code, error.details, trailing_metadata=error.trailing_metadata)
        raise AssertionError("unreachable: abort() raises")  # pragma: no cover

    async def _authenticate(self, context: grpc.aio.ServicerContext) -> ApiKey:
        header = None
        for key, value in context.invocation_metadata() or ():
            if key.lower() == "authorization":
                header = value.decode() if isinstance(value, bytes) else value
        if not header:
            raise GrpcError(
                grpc.StatusCode.UNAUTHENTICATED,
                "missing API key: send 'authorization: Bearer <API key>' metadata",
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise GrpcError(
                grpc.StatusCode.UNAUTHENTICATED, "the authorization metadata must be 'Bearer <API key>'"
            )
        key = await self._c.keys.authenticate(token.strip())
        if key is None:
            raise GrpcError(grpc.StatusCode.UNAUTHENTICATED, "invalid or revoked API key")
        return key

    # --- GenerateVideo -------------------------------------------------------------------

    async def _generate(self, caller: ApiKey, request: video_pb2.GenerateVideoRequest) -> Task:
        for name in ("last_frame", "storage_options"):
            if request.HasField(name):
                raise _unsupported(name)
        for name in ("keyframes", "reference_audios"):
            if len(getattr(request, name)):
                raise _unsupported(name)
        model = request.model or self._c.registry.default_model
        if request.HasField("video"):
            return await self._edit(caller, request, model)

        images: list[str] = []
        if request.HasField("image"):
            images.append(_image_url(request.image, "image"))
        for index, reference in enumerate(request.reference_images):
            images.append(_image_url(reference, f"reference_images[{index}]"))

        duration = request.duration if request.HasField("duration") else DEFAULT_GENERATE_DURATION
        if not 1 <= duration <= MAX_GENERATE_DURATION:
            raise InvalidRequest(
                f"duration must be between 1 and {MAX_GENERATE_DURATION} seconds, got {duration}",
                param="duration",
            )
        aspect_ratio = _aspect_ratio(request)
        short_side = _short_side(request)
        sizing: dict[str, Any] = {"aspect_ratio": aspect_ratio}
        if short_side == DEFAULT_SHORT_SIDE:  # the core's named sizes are 720P and 1080P
            sizing["dimensions"] = output_size(short_side, parse_aspect_ratio(aspect_ratio))
        else:
            sizing["size"] = f"{short_side}P"
        command = GenerateCommand(
            model=model, prompt=request.prompt, images=tuple(images), duration=duration, **sizing
        )
        offset = 1 if request.HasField("image") else 0
        try:
            return await self._c.service.create_generate(caller.tenant_id, command, api_key_id=caller.id)
        except VideoloomError as exc:
            raise to_grpc_error(exc, field=_field_of(exc.param, image_offset=offset)) from exc

    async def _edit(self, caller: ApiKey, request: video_pb2.GenerateVideoRequest, model: str) -> Task:
        """``video`` set: video-to-video, as far as the engine's classical edits go."""
        for name in ("image", "duration", "aspect_ratio", "resolution"):
            if request.HasField(name):
                raise InvalidRequest(
                    f"{name} cannot be combined with video: video-to-video keeps the source's "
                    "length and size",
                    param=name,
                )
        if len(request.reference_images):
            raise InvalidRequest("reference_images cannot be combined with video", param="reference_images")
        _require_prompt(request.prompt)
        self._c.registry.get(model)
        source_id = await self._source_id(caller, request.video, model=model)
        command = EditCommand(source_id=source_id, prompt=request.prompt, model=model)
        return await self._c.service.create_edit(
            caller.tenant_id, command, param="video.url", api_key_id=caller.id
        )

    # --- ExtendVideo ---------------------------------------------------------------------

    async def _extend(self, caller: ApiKey, request: video_pb2.ExtendVideoRequest) -> Task:
        if request.HasField("storage_options"):
            raise _unsupported("storage_options")
        if not request.HasField("video"):
            raise InvalidRequest(
                "video is required: a Videoloom video id or URL",
                param="video.url",
                code="missing_required_parameter",
            )
        duration = request.duration if request.HasField("duration") else DEFAULT_EXTEND_DURATION
        if not 1 <= duration <= MAX_EXTEND_DURATION:
            raise InvalidRequest(
                f"duration must be between 1 and {MAX_EXTEND_DURATION} seconds, got {duration}",
                param="duration",
            )
        _require_prompt(request.prompt)  # before a video URL is fetched and stored
        if request.model:
            self._c.registry.get(request.model)
        source_id = await self._source_id(
            caller, request.video, model=request.model or self._c.registry.default_model
        )
        source = await self._c.service.get(caller.tenant_id, source_id, param="video.url")
        command = ExtendCommand(
            source_id=source.id,
            model=request.model or self._c.service.model_for(source),
            prompt=request.prompt,
            duration=duration,
            # xAI extensions keep the source's frame size.
            dimensions=(source.width, source.height) if source.width and source.height else None,
        )
        return await self._c.service.create_extend(caller.tenant_id, command, api_key_id=caller.id)

    async def _source_id(self, caller: ApiKey, video: video_pb2.VideoUrlContent, *, model: str) -> str:
        """``video.url`` (or ``file_id``) → the id of a Videoloom video of the caller's tenant.

        A task id as is; Videoloom's own content URL (signed, or unsigned on this server's
        base) by the id in its path, recognised before any fetch; a ``data:`` URL or any
        other http(s) URL is fetched (through the SSRF guard) and ingested as an upload.
        """
        if video.HasField("file_id"):
            if not video.file_id.strip():
                raise InvalidRequest("video.file_id is empty", param="video.file_id")
            return video.file_id.strip()  # Videoloom has no Files API: a task id is accepted here
        url = video.url.strip()
        if not url:
            raise InvalidRequest(
                "video.url is required: a Videoloom video id, its content URL, or an http(s) URL",
                param="video.url",
                code="missing_required_parameter",
            )
        if url.startswith("data:"):
            return await self._ingest(caller, _data_url_bytes(url, self._fetch_cap()), model)
        if not url.lower().startswith(("http://", "https://")):
            return url
        own = self._own_video_id(url)
        if own is not None:
            return own
        fetcher = SafeFetcher(
            policy=self._c.fetcher.policy,
            limits=FetchLimits(max_bytes=self._fetch_cap(), timeout_s=VIDEO_FETCH_TIMEOUT_S, max_redirects=3),
        )
        try:
            async with fetcher:
                fetched = await fetcher.fetch(url)
        except FetchError as exc:
            raise InvalidRequest(
                f"video.url could not be fetched: {exc.message}", param="video.url", code=exc.code
            ) from exc
        return await self._ingest(caller, fetched.content, model)

    def _fetch_cap(self) -> int:
        return min(VIDEO_FETCH_MAX_BYTES, self._c.settings.max_upload_bytes)

    def _own_video_id(self, url: str) -> str | None:
        """The task id in one of this server's content URLs; ``None`` for anyone else's URL."""
        parts = urlsplit(url)
        match = _CONTENT_PATH.search(parts.path)
        if match is None:
            return None
        task_id = unquote(match.group("id"))
        ours = url.startswith(self._base + "/")
        query = parse_qs(parts.query)
        signature = (query.get("signature") or [""])[0]
        variant = (query.get("variant") or ["video"])[0]
        if not signature:
            return task_id if ours else None
        try:
            expires = int((query.get("expires") or [""])[0])
        except ValueError:
            expires = -1
        secret = self._c.secret
        if verify_content(secret, task_id, variant, expires, signature, int(time.time())):
            if variant != "video":
                raise InvalidRequest(
                    f"video.url points at the {variant} of video {task_id}, not at the video",
                    param="video.url",
                )
            return task_id
        if ours or (expires >= 0 and verify_content(secret, task_id, variant, expires, signature, 0)):
            raise InvalidRequest(
                f"video.url is a Videoloom content URL whose signature is invalid or has expired; "
                f"pass the video's id ({task_id}) instead",
                param="video.url",
                code="invalid_signature",
            )
        return None  # another server's URL that merely looks like ours: fetch it

    async def _ingest(self, caller: ApiKey, content: bytes, model: str) -> str:
        """Store fetched video bytes as an upload task of the caller; its id."""
        if not content:
            raise InvalidRequest("the video at video.url is empty", param="video.url", code="invalid_video")
        tmp_dir = self._c.settings.tmp_dir
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="incoming-xai-", dir=tmp_dir)
        path = Path(name)
        try:
            await asyncio.to_thread(_write_all, fd, content)
            upload = await self._c.service.create_upload(
                caller.tenant_id, path, model=model, param="video.url"
            )
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return upload.id

    # --- GetDeferredVideo ----------------------------------------------------------------

    async def _deferred(
        self, caller: ApiKey, request: video_pb2.GetDeferredVideoRequest
    ) -> video_pb2.GetDeferredVideoResponse:
        if not request.request_id.strip():
            raise InvalidRequest("request_id is required", param="request_id")
        task = await self._c.service.get(
            caller.tenant_id, request.request_id.strip(), param="request_id", status_read=True
        )
        if not task.is_terminal:
            return video_pb2.GetDeferredVideoResponse(
                status=deferred_pb2.PENDING,
                response=video_pb2.VideoResponse(model=task.model, progress=task.progress),
            )
        if task.status is TaskStatus.COMPLETED:
            try:
                self._c.service.ensure_downloadable(task)
            except Gone:
                return video_pb2.GetDeferredVideoResponse(status=deferred_pb2.EXPIRED)
            video = video_pb2.GeneratedVideo(
                url=self._signed_url(task),
                duration=round(task.duration or 0),
                respect_moderation=True,
            )
            return video_pb2.GetDeferredVideoResponse(
                status=deferred_pb2.DONE,
                response=video_pb2.VideoResponse(video=video, model=task.model, progress=100),
            )
        if task.error is not None:
            error = video_pb2.VideoError(code=task.error.code, message=task.error.message)
        else:
            error = video_pb2.VideoError(code=task.status.value, message=f"the video was {task.status.value}")
        return video_pb2.GetDeferredVideoResponse(
            status=deferred_pb2.FAILED,
            response=video_pb2.VideoResponse(error=error, model=task.model, progress=task.progress),
        )

    def _signed_url(self, task: Task) -> str:
        """Like ``api.content.content_url``, on the HTTP listener's base instead of a request's."""
        expires = int(time.time()) + self._c.settings.signed_url_ttl_seconds
        query = {"expires": expires, "signature": sign_content(self._c.secret, task.id, "video", expires)}
        return f"{self._base}/v1/videos/{task.id}/content?{urlencode(query)}"


# --- request helpers ---------------------------------------------------------------------------


def _unsupported(name: str) -> InvalidRequest:
    return InvalidRequest(
        f"{name} is not supported by this server (Videoloom); leave it out",
        param=name,
        code="unsupported_parameter",
    )


def _require_prompt(prompt: str) -> None:
    if not prompt.strip():
        raise InvalidRequest("prompt must not be empty", param="prompt")


def _image_url(content: image_pb2.ImageUrlContent, field: str) -> str:
    if content.HasField("file_id"):
        raise InvalidRequest(
            f"{field}.file_id is not supported: Videoloom has no Files API; "
            "send an http(s) or data: image_url",
            param=f"{field}.file_id",
            code="unsupported_parameter",
        )
    if not content.image_url.strip():
        raise InvalidRequest(f"{field}.image_url is empty", param=f"{field}.image_url")
    return content.image_url.strip()


def _aspect_ratio(request: video_pb2.GenerateVideoRequest) -> str:
    if (
        not request.HasField("aspect_ratio")
        or request.aspect_ratio == video_pb2.VIDEO_ASPECT_RATIO_UNSPECIFIED
    ):
        return DEFAULT_ASPECT_RATIO
    value = ASPECT_RATIOS.get(request.aspect_ratio)
    if value is None:
        raise InvalidRequest(
            f"aspect_ratio must be one of {', '.join(ASPECT_RATIOS.values())}; "
            f"got enum value {request.aspect_ratio}",
            param="aspect_ratio",
        )
    return value


def _short_side(request: video_pb2.GenerateVideoRequest) -> int:
    if not request.HasField("resolution") or request.resolution == video_pb2.VIDEO_RESOLUTION_UNSPECIFIED:
        return DEFAULT_SHORT_SIDE
    value = RESOLUTIONS.get(request.resolution)
    if value is None:
        raise InvalidRequest(
            f"resolution must be one of 480p, 720p, 1080p; got enum value {request.resolution}",
            param="resolution",
        )
    return value


def _data_url_bytes(url: str, cap: int) -> bytes:
    match = _DATA_URL.match(url)
    if match is None:
        raise InvalidRequest(
            "video.url is a malformed data URL; expected data:video/mp4;base64,<data>", param="video.url"
        )
    if len(match.group("data")) > cap * 4 // 3 + 4:
        raise InvalidRequest(f"the video in video.url is larger than {cap} bytes", param="video.url")
    try:
        return base64.b64decode(match.group("data"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest("video.url's base64 data is invalid", param="video.url") from exc


def _write_all(fd: int, content: bytes) -> None:
    with os.fdopen(fd, "wb") as out:
        out.write(content)


# --- the server --------------------------------------------------------------------------------


async def start_grpc_server(container: Container) -> grpc.aio.Server:
    """Serve ``xai_api.Video`` on ``grpc_port``, on the HTTP listener's host, in this event loop."""
    settings = container.settings
    assert settings.grpc_port is not None
    server = grpc.aio.server(options=SERVER_OPTIONS)
    video_pb2_grpc.add_VideoServicer_to_server(XaiVideoService(container), server)
    address = _listen_address(settings.host, settings.grpc_port)
    try:
        server.add_insecure_port(address)
    except RuntimeError as exc:
        raise RuntimeError(f"cannot listen for gRPC on {address}: {exc}") from exc
    await server.start()
    log.info("gRPC (xai_api.Video) listening on %s", address)
    return server
