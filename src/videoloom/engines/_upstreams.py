"""Protocol clients of the relay engine: xAI's REST video API and the OpenAI Videos API shape.

Both turn a job into an upstream request id (``submit_*``), read its state
(``poll``) and fetch the finished MP4 (``download``). They raise:

- ``Retryable`` for what another channel (or a later poll) may get past: 429,
  5xx, a connection that failed or timed out;
- ``Rejected`` for the upstream's 4xx answers: the request itself is wrong,
  another channel would refuse it too.

The API key goes only into the ``Authorization`` header of requests to the
channel's ``base_url``; messages are scrubbed of it before they leave here
(an upstream may echo what it was sent).
"""

from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import httpx

from videoloom.engines._channels import Channel

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "OpenAIClient",
    "Poll",
    "Rejected",
    "Retryable",
    "UpstreamClient",
    "XaiClient",
    "client_for",
    "scrub",
]

MAX_MESSAGE = 500
XAI_ASPECT_RATIOS = {
    "16:9": 16 / 9,
    "9:16": 9 / 16,
    "1:1": 1.0,
    "4:3": 4 / 3,
    "3:4": 3 / 4,
    "3:2": 1.5,
    "2:3": 2 / 3,
}


class Retryable(Exception):
    """A failure another channel or a later attempt may not have (429, 5xx, transport)."""


class Rejected(Exception):
    """The upstream refused the request (4xx other than 429); ``str()`` is its message."""


@dataclass(frozen=True, kw_only=True)
class Poll:
    state: Literal["pending", "done", "failed"]
    progress: float | None = None
    """0.0–1.0 when the upstream reports it."""
    message: str = ""
    """Why it failed (the upstream's words, scrubbed)."""
    code: str = "upstream_failed"


def scrub(text: str, secret: str | None) -> str:
    """``text`` without ``secret`` in it, and short enough to store."""
    if secret:
        text = text.replace(secret, "[redacted]")
    return text[:MAX_MESSAGE]


def _error_message(response: httpx.Response) -> str:
    """The upstream's own words: ``{"error": {"message"}}``, ``{"error": "…"}``, ``{"message"}``, text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for value in (error, body.get("message"), body.get("detail")):
            if isinstance(value, str) and value:
                return value
    return response.text.strip()[:MAX_MESSAGE] or response.reason_phrase


def data_url(content: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(content).decode()}"


def image_data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return data_url(buffer.getvalue(), "image/png")


class UpstreamClient(Protocol):
    channel: Channel

    def submit_generate(
        self, *, model: str, prompt: str, seconds: int, width: int, height: int, image: Image.Image | None
    ) -> str: ...

    def submit_extend(
        self, *, model: str, prompt: str, seconds: int, clip: Path, clip_url: str | None = None
    ) -> str:
        """Extend ``clip``; ``clip_url`` is a signed link to the same file (``signed_url`` channels)."""
        ...

    def poll(self, request_id: str) -> Poll: ...

    def download(self, request_id: str, dest: Path) -> None: ...

    def close(self) -> None: ...


class _Base:
    def __init__(self, channel: Channel, api_key: str) -> None:
        self.channel = channel
        self._key = api_key
        # No default headers: the key is added only to calls to base_url, never to a download
        # link on another host.
        self._http = httpx.Client(
            base_url=channel.base_url,
            timeout=httpx.Timeout(channel.request_timeout_s),
            follow_redirects=False,
        )
        self._last_video_url: dict[str, str] = {}

    def close(self) -> None:
        self._http.close()

    def _clip_link(self, clip: Path, clip_url: str | None) -> str:
        """The clip as the channel's transport ships it in a JSON body: a signed link, or inline."""
        if self.channel.transport == "signed_url":
            if clip_url is None:  # the engine publishes before it submits: a bug, not the upstream's
                raise ValueError(f"channel {self.channel.name}: signed_url transport without a URL")
            return clip_url
        return data_url(clip.read_bytes(), "video/mp4")

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call; its JSON answer, or ``Retryable`` / ``Rejected`` with a scrubbed message."""
        try:
            response = self._http.request(method, path, headers=self._auth(), **kwargs)
        except httpx.TimeoutException as exc:
            raise Retryable(f"{method} {path}: timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise Retryable(f"{method} {path}: connection failed ({type(exc).__name__})") from None
        if response.status_code == 429 or response.status_code >= 500:
            message = scrub(_error_message(response), self._key)
            raise Retryable(f"HTTP {response.status_code}: {message}")
        if response.status_code >= 400:
            raise Rejected(scrub(_error_message(response), self._key))
        try:
            return response.json()
        except ValueError:
            raise Retryable(f"{method} {path}: the answer is not JSON") from None

    def _fetch(self, url: str, dest: Path, *, authenticated: bool) -> None:
        """Stream ``url`` to ``dest`` within the channel's size and time limits."""
        limit = self.channel.max_download_bytes
        deadline = time.monotonic() + self.channel.download_timeout_s
        headers = self._auth() if authenticated else {}
        client = self._http if authenticated else httpx.Client(timeout=self.channel.request_timeout_s)
        try:
            with client.stream("GET", url, headers=headers) as response:
                if response.status_code >= 400:
                    raise Rejected(
                        f"downloading the result failed: HTTP {response.status_code} "
                        f"{scrub(response.reason_phrase, self._key)}"
                    )
                written = 0
                with open(dest, "wb") as out:
                    for chunk in response.iter_bytes(1024 * 1024):
                        written += len(chunk)
                        if written > limit:
                            raise Rejected(f"the result is larger than max_download_bytes ({limit})")
                        if time.monotonic() > deadline:
                            raise Retryable(
                                f"downloading the result took over {self.channel.download_timeout_s:g} s"
                            )
                        out.write(chunk)
        except httpx.TransportError as exc:
            raise Retryable(f"downloading the result failed ({type(exc).__name__})") from None
        finally:
            if not authenticated:
                client.close()


class XaiClient(_Base):
    """xAI's REST video API: ``/v1/videos/generations|extensions``, ``GET /v1/videos/{request_id}``."""

    def submit_generate(
        self, *, model: str, prompt: str, seconds: int, width: int, height: int, image: Image.Image | None
    ) -> str:
        ratio = width / height
        aspect = min(XAI_ASPECT_RATIOS, key=lambda name: abs(XAI_ASPECT_RATIOS[name] - ratio))
        body: dict[str, Any] = {
            "prompt": prompt,
            "model": model,
            "duration": seconds,
            "aspect_ratio": aspect,
            "resolution": "720p" if min(width, height) > 480 else "480p",
        }
        if image is not None:
            body["image"] = {"url": image_data_url(image)}
        return self._request_id(self._call("POST", "/v1/videos/generations", json=body))

    def submit_extend(
        self, *, model: str, prompt: str, seconds: int, clip: Path, clip_url: str | None = None
    ) -> str:
        if self.channel.transport == "upload":
            raise Rejected("xai channels ship clips as data_url or signed_url, not upload")
        body = {
            "prompt": prompt,
            "model": model,
            "duration": seconds,
            "video": {"url": self._clip_link(clip, clip_url)},
        }
        return self._request_id(self._call("POST", "/v1/videos/extensions", json=body))

    @staticmethod
    def _request_id(answer: Any) -> str:
        if not isinstance(answer, dict) or not isinstance(answer.get("request_id"), str):
            raise Retryable("the answer has no request_id")
        return str(answer["request_id"])

    def poll(self, request_id: str) -> Poll:
        answer = self._call("GET", f"/v1/videos/{request_id}")
        status = answer.get("status") if isinstance(answer, dict) else None
        video = answer.get("video") if isinstance(answer, dict) else None
        if status == "done" or (status is None and isinstance(video, dict) and video.get("url")):
            url = (video or {}).get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                return Poll(state="failed", message="the upstream finished without a video URL")
            self._last_video_url[request_id] = url
            return Poll(state="done", progress=1.0)
        if status == "failed":
            error = answer.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            return Poll(state="failed", message=scrub(str(message or "the upstream failed"), self._key))
        if status == "expired":
            return Poll(state="failed", code="upstream_expired", message="the upstream request expired")
        return Poll(state="pending")

    def download(self, request_id: str, dest: Path) -> None:
        # The video URL is a public, expiring link (often on another host): no key on it.
        self._fetch(self._last_video_url[request_id], dest, authenticated=False)


class OpenAIClient(_Base):
    """The OpenAI Videos API shape: ``POST /v1/videos``, ``GET /v1/videos/{id}[/content]``, extensions."""

    def submit_generate(
        self, *, model: str, prompt: str, seconds: int, width: int, height: int, image: Image.Image | None
    ) -> str:
        fields = {"model": model, "prompt": prompt, "seconds": str(seconds), "size": f"{width}x{height}"}
        files = {}
        if image is not None:
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="PNG")
            files["input_reference"] = ("reference.png", buffer.getvalue(), "image/png")
        return self._video_id(self._post("/v1/videos", fields, files))

    def _post(self, path: str, fields: dict[str, str], files: dict[str, Any]) -> Any:
        """POST as multipart form fields (what OpenAI documents, and its SDK sends), or as JSON
        when the channel says ``request_format = "json"`` and there is no file."""
        if self.channel.request_format == "json" and not files:
            return self._call("POST", path, json=fields)
        # (None, value) parts are plain form fields: httpx sends multipart whenever files= is set.
        parts: dict[str, Any] = {name: (None, value) for name, value in fields.items()}
        return self._call("POST", path, files={**parts, **files})

    def submit_extend(
        self, *, model: str, prompt: str, seconds: int, clip: Path, clip_url: str | None = None
    ) -> str:
        content = clip.read_bytes()
        if self.channel.extend_route == "seed":
            # A gateway of the seed's kind extends one of its own videos: upload the cut clip
            # as a video there, then extend that video at its end.
            files = {"file": ("clip.mp4", content, "video/mp4")}
            uploaded = self._video_id(self._call("POST", "/v1/videos/uploads", files=files))
            body = {"model": model, "prompt": prompt, "duration": seconds}
            return self._video_id(self._call("POST", f"/v1/videos/{uploaded}/extend", json=body))
        fields = {"model": model, "prompt": prompt, "seconds": str(seconds)}
        if self.channel.transport == "upload":
            files = {"video": ("clip.mp4", content, "video/mp4")}
            return self._video_id(self._post("/v1/videos/extensions", fields, files))
        body = {**fields, "video": {"url": self._clip_link(clip, clip_url)}}
        return self._video_id(self._call("POST", "/v1/videos/extensions", json=body))

    @staticmethod
    def _video_id(answer: Any) -> str:
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
            raise Retryable("the answer has no video id")
        return str(answer["id"])

    def poll(self, request_id: str) -> Poll:
        answer = self._call("GET", f"/v1/videos/{request_id}")
        status = answer.get("status") if isinstance(answer, dict) else None
        progress = answer.get("progress") if isinstance(answer, dict) else None
        fraction = progress / 100 if isinstance(progress, (int, float)) else None
        if status == "completed":
            return Poll(state="done", progress=1.0)
        if status == "failed":
            error = answer.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            return Poll(state="failed", message=scrub(str(message or "the upstream failed"), self._key))
        return Poll(state="pending", progress=fraction)

    def download(self, request_id: str, dest: Path) -> None:
        self._fetch(f"/v1/videos/{request_id}/content", dest, authenticated=True)


def client_for(channel: Channel, api_key: str) -> UpstreamClient:
    return XaiClient(channel, api_key) if channel.kind == "xai" else OpenAIClient(channel, api_key)
