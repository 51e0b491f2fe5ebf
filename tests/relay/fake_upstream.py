"""Fake upstream video providers for the relay tests: real HTTP servers on 127.0.0.1.

``FakeUpstreams`` runs one uvicorn server with a Starlette app per channel
mounted under ``/<name>``; each speaks one documented shape:

- ``kind="xai"``: ``POST /v1/videos/generations``, ``POST /v1/videos/extensions``
  (``video.url`` a data: URL, or an http URL the fake FETCHES, as xAI does),
  ``GET /v1/videos/{request_id}`` → ``{status, video:{url, duration}}``;
  the video URL is a public link under ``/files/`` (no key needed). Extensions answer the
  WHOLE extended clip (the input, then the new part), as an append-only upstream does.
- ``kind="openai"``: ``POST /v1/videos`` (JSON or multipart), ``POST /v1/videos/extensions``
  (multipart ``video`` file), ``GET /v1/videos/{id}``, ``GET /v1/videos/{id}/content``;
  extensions answer only the new part. The seed gateway's route too: ``POST /v1/videos/uploads``
  (multipart ``file``) → ``{id}``, then ``POST /v1/videos/{id}/extend`` (JSON ``duration``), which
  answers the whole extended video (the upload, then the new part).

Results are real H.264 MP4s of ``upstream_frame`` (a pattern unlike the test sources), so
a test can tell the upstream's frames from the source's. ``behaviour`` selects a failure:
``"429"`` / ``"400"`` on submit, ``"never"`` (pending forever), ``"expire_link"`` (the file
link answers 404 once downloaded), ``"slow"`` (pending until ``SLOW_SECONDS`` after the submit).
"""

from __future__ import annotations

import base64
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route

from tests.media.sources import encode_with_sound
from tests.support import decode_all, free_port

FPS = 24
SIZE = (320, 180)
PENDING_POLLS = 2
SLOW_SECONDS = 8.0


def upstream_frame(index: int, width: int, height: int) -> np.ndarray:
    """The upstream's picture: smooth diagonal bands in teal and violet, a white square moving down."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = (x + y) / 19.0 + index * 0.3
    r = 90 + 60 * np.sin(phase)
    g = 150 + 60 * np.cos(phase / 2)
    b = 200 + 40 * np.sin(y / 11.0)
    frame = np.stack([r, g, b], axis=-1)
    side = height // 5
    top = (index * 3) % (height - side)
    frame[top : top + side, width // 2 : width // 2 + side] = 250
    return np.clip(frame, 0, 255).astype(np.uint8)


SENT_HZ = 550
"""The sound of the part of an answer that repeats the clip it was sent (whole-clip answers)."""
NEW_HZ = 880
"""The sound of what the upstream made."""


def write_mp4(path: Path, frames: list[np.ndarray], *, sent: int = 0) -> Path:
    """H.264 + AAC, as xAI and OpenAI answer: a ``SENT_HZ`` tone under the first ``sent`` frames
    (the clip it was sent, where it answers the whole clip), ``NEW_HZ`` under the new ones."""
    return encode_with_sound(
        path,
        frames,
        tones=[(sent / FPS, SENT_HZ), (len(frames) / FPS, NEW_HZ)],
        fps=FPS,
        video_options={"preset": "ultrafast", "crf": "14"},
    )


@dataclass
class Channel:
    """One fake upstream account and what it has seen."""

    name: str
    kind: str
    key: str
    behaviour: str = "ok"
    submits: list[dict[str, Any]] = field(default_factory=list)
    """Every accepted or refused submit: path and JSON/form fields (clips decoded to frames)."""
    uploads: dict[str, list[np.ndarray]] = field(default_factory=dict)
    """Seed gateway: uploaded videos by id, decoded."""
    fetched: list[tuple[str, int]] = field(default_factory=list)
    """Every clip URL fetched on an extension, with the status it answered."""
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    downloads: int = 0
    content_types: list[str] = field(default_factory=list)


class FakeUpstreams:
    def __init__(self, channels: list[Channel]) -> None:
        self.channels = {c.name: c for c in channels}
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._dir = Path(tempfile.mkdtemp(prefix="fake-upstream-"))
        routes = [Mount(f"/{c.name}", app=self._app(c)) for c in channels]
        config = uvicorn.Config(
            Starlette(routes=routes), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def start(self) -> FakeUpstreams:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake upstream did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        shutil.rmtree(self._dir, ignore_errors=True)

    # --- one channel's app ---------------------------------------------------------------

    def _app(self, channel: Channel) -> Starlette:
        def authorised(request: Request) -> bool:
            return request.headers.get("authorization") == f"Bearer {channel.key}"

        def refuse(request: Request, kind_error: str) -> Response | None:
            if not authorised(request):
                return JSONResponse({"error": {"message": "bad key", "type": "auth"}}, status_code=401)
            if channel.behaviour == "429":
                return JSONResponse({"error": {"message": "slow down", "type": kind_error}}, status_code=429)
            if channel.behaviour == "400":
                # An upstream may echo the key back: Videoloom must not pass it on.
                message = f"prompt rejected by moderation (request signed with {channel.key})"
                return JSONResponse(
                    {"error": {"message": message, "type": "invalid_request_error"}}, status_code=400
                )
            return None

        def new_job(frames: list[np.ndarray], seconds: int, *, sent: int = 0) -> str:
            job_id = f"{channel.kind}-{uuid.uuid4().hex[:12]}"
            path = write_mp4(self._dir / f"{job_id}.mp4", frames, sent=sent)
            channel.jobs[job_id] = {
                "path": path,
                "polls": 0,
                "duration": len(frames) / FPS,
                "asked": seconds,
                "created": time.monotonic(),
            }
            return job_id

        def made(seconds: int) -> list[np.ndarray]:
            return [upstream_frame(i, *SIZE) for i in range(seconds * FPS)]

        async def clip_frames(content: bytes) -> list[np.ndarray]:
            return decode_all(content)[0]

        def state(job_id: str) -> tuple[dict[str, Any] | None, bool]:
            job = channel.jobs.get(job_id)
            if job is None:
                return None, False
            job["polls"] += 1
            if channel.behaviour == "slow":
                return job, time.monotonic() - job["created"] >= SLOW_SECONDS
            done = channel.behaviour != "never" and job["polls"] > PENDING_POLLS
            return job, done

        # xAI -----------------------------------------------------------------------------

        async def xai_generate(request: Request) -> Response:
            body = await request.json()
            channel.submits.append({"path": "generations", **body})
            if (refused := refuse(request, "rate_limit")) is not None:
                return refused
            return JSONResponse({"request_id": new_job(made(int(body["duration"])), int(body["duration"]))})

        async def xai_extend(request: Request) -> Response:
            body = await request.json()
            url = body["video"]["url"]
            submitted = {"path": "extensions", **{k: v for k, v in body.items() if k != "video"}}
            channel.submits.append(submitted)
            if url.startswith("http"):
                # A link: fetched like xAI does, with no key of ours (the link is its own credential).
                submitted["video_url"] = url
                async with httpx.AsyncClient(timeout=30) as client:
                    fetched = await client.get(url)
                channel.fetched.append((url, fetched.status_code))
                if fetched.status_code != 200:
                    message = f"could not fetch video.url: HTTP {fetched.status_code}"
                    return JSONResponse({"error": message}, status_code=400)
                content = fetched.content
            else:
                header, _, payload = url.partition(",")
                assert header == "data:video/mp4;base64", header
                content = base64.b64decode(payload)
            sent = await clip_frames(content)
            submitted["clip"] = sent
            if (refused := refuse(request, "rate_limit")) is not None:
                return refused
            if not 2 <= len(sent) / FPS <= 15 or not 2 <= int(body["duration"]) <= 10:
                return JSONResponse({"error": "input clip must be 2-15 s, duration 2-10 s"}, status_code=400)
            height, width = sent[0].shape[:2]
            new = [upstream_frame(i, width, height) for i in range(int(body["duration"]) * FPS)]
            return JSONResponse({"request_id": new_job(sent + new, int(body["duration"]), sent=len(sent))})

        async def xai_status(request: Request) -> Response:
            if not authorised(request):
                return JSONResponse({"error": "bad key"}, status_code=401)
            job, done = state(request.path_params["job_id"])
            if job is None:
                return JSONResponse({"error": "no such request"}, status_code=404)
            if not done:
                return JSONResponse({"status": "pending"})
            url = f"{self.url(channel.name)}/files/{request.path_params['job_id']}.mp4"
            return JSONResponse({"status": "done", "video": {"url": url, "duration": job["duration"]}})

        async def xai_file(request: Request) -> Response:
            job = channel.jobs.get(request.path_params["job_id"])
            if job is None or (channel.behaviour == "expire_link" and job.get("fetched")):
                return JSONResponse({"error": "link expired"}, status_code=404)
            job["fetched"] = True
            channel.downloads += 1
            return FileResponse(job["path"], media_type="video/mp4")

        # OpenAI ----------------------------------------------------------------------------

        async def fields_of(request: Request) -> dict[str, Any]:
            channel.content_types.append(request.headers.get("content-type", "").split(";")[0])
            if request.headers.get("content-type", "").startswith("multipart/"):
                values: dict[str, Any] = {}
                async with request.form() as form:  # closes the spooled upload files
                    for name, value in form.multi_items():
                        values[name] = await value.read() if hasattr(value, "read") else value
                return values
            body: dict[str, Any] = await request.json()
            return body

        def video_object(job_id: str, status: str, progress: int) -> dict[str, Any]:
            return {"id": job_id, "object": "video", "status": status, "progress": progress, "model": "x"}

        async def openai_create(request: Request) -> Response:
            body = await fields_of(request)
            channel.submits.append({"path": "videos", **body})
            if (refused := refuse(request, "rate_limit")) is not None:
                return refused
            job_id = new_job(made(int(body["seconds"])), int(body["seconds"]))
            return JSONResponse(video_object(job_id, "queued", 0))

        async def openai_extend(request: Request) -> Response:
            body = await fields_of(request)
            sent = await clip_frames(body.pop("video"))
            channel.submits.append({"path": "extensions", **body, "clip": sent})
            if (refused := refuse(request, "rate_limit")) is not None:
                return refused
            height, width = sent[0].shape[:2]
            new = [upstream_frame(i, width, height) for i in range(int(body["seconds"]) * FPS)]
            return JSONResponse(video_object(new_job(new, int(body["seconds"])), "queued", 0))

        async def seed_upload(request: Request) -> Response:
            if not authorised(request):
                return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
            body = await fields_of(request)
            video_id = f"upload-{uuid.uuid4().hex[:12]}"
            channel.uploads[video_id] = await clip_frames(body["file"])
            return JSONResponse({"id": video_id, "object": "video", "status": "completed"})

        async def seed_extend(request: Request) -> Response:
            body = await request.json()
            video_id = request.path_params["job_id"]
            channel.submits.append({"path": "extend", "video_id": video_id, **body})
            if (refused := refuse(request, "rate_limit")) is not None:
                return refused
            if video_id not in channel.uploads:
                return JSONResponse({"error": {"message": "no such video"}}, status_code=404)
            sent = channel.uploads[video_id]
            height, width = sent[0].shape[:2]
            new = [upstream_frame(i, width, height) for i in range(int(body["duration"]) * FPS)]
            job_id = new_job(sent + new, int(body["duration"]), sent=len(sent))
            return JSONResponse(video_object(job_id, "queued", 0))

        async def openai_status(request: Request) -> Response:
            if not authorised(request):
                return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
            job_id = request.path_params["job_id"]
            job, done = state(job_id)
            if job is None:
                return JSONResponse({"error": {"message": "not found"}}, status_code=404)
            return JSONResponse(
                video_object(job_id, "completed" if done else "in_progress", 100 if done else 40)
            )

        async def openai_content(request: Request) -> Response:
            if not authorised(request):
                return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
            job = channel.jobs.get(request.path_params["job_id"])
            if job is None:
                return JSONResponse({"error": {"message": "not found"}}, status_code=404)
            channel.downloads += 1
            return FileResponse(job["path"], media_type="video/mp4")

        if channel.kind == "xai":
            routes = [
                Route("/v1/videos/generations", xai_generate, methods=["POST"]),
                Route("/v1/videos/extensions", xai_extend, methods=["POST"]),
                Route("/v1/videos/{job_id}", xai_status, methods=["GET"]),
                Route("/files/{job_id}.mp4", xai_file, methods=["GET"]),
            ]
        else:
            routes = [
                Route("/v1/videos", openai_create, methods=["POST"]),
                Route("/v1/videos/extensions", openai_extend, methods=["POST"]),
                Route("/v1/videos/uploads", seed_upload, methods=["POST"]),
                Route("/v1/videos/{job_id}/extend", seed_extend, methods=["POST"]),
                Route("/v1/videos/{job_id}", openai_status, methods=["GET"]),
                Route("/v1/videos/{job_id}/content", openai_content, methods=["GET"]),
            ]
        return Starlette(routes=routes)
