"""The relay engine: a model served by upstream video providers (xAI, OpenAI-format gateways).

    submit (failover over channels) ──▶ poll (backoff + jitter, ≤ timeout_s) ──▶ download
        ──▶ decode, resample to the job's fps, fit to its size ──▶ frames to the render pipeline

The render pipeline stores the result like any engine's, at once (upstream
links expire), and makes the thumbnails locally. Extends send the upstream a
cut clip (the last ≤ 15 s of the kept part), so ``start_time`` in the middle
of a source works with upstreams that only append; the answer's new frames
follow the kept part, which the pipeline copies from the source itself.

Submitting: 429, 5xx and connection errors move on to the next channel that
serves the model (after a short backoff); any other 4xx fails the task at once
with the upstream's message (``upstream_rejected``). Runs in a worker thread:
plain sync ``httpx`` and ``time.sleep``.

An accepted submit is checkpointed at once (channel, upstream request id, when):
a run of the same task after a crash or a restart resumes polling that request
instead of submitting again, which the upstream would bill twice.
"""

from __future__ import annotations

import logging
import math
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from videoloom.core.errors import EngineError
from videoloom.core.models import ModelSpec
from videoloom.engines._channels import Channel, channels_for, choose, limits_for, parse_channels
from videoloom.engines._upstreams import Poll, Rejected, Retryable, UpstreamClient, client_for
from videoloom.engines.base import EditJob, ExtendJob, GenerateJob, ProgressCallback
from videoloom.media import VideoWriter, fit_frame, iter_frames, probe

if TYPE_CHECKING:
    from videoloom.engines.registry import EngineContext

__all__ = ["RelayEngine", "check_model", "create_relay_engine"]

log = logging.getLogger("videoloom.engines.relay")

XAI_MAX_CLIP_S = 15
"""xAI extends an input clip of 2–15 s: longer sources send only their last 15 s before the cut."""
XAI_MIN_CLIP_S = 2
XAI_EXTEND_SECONDS = (2, 10)
SUBMIT_ROUNDS = 2
"""Passes over the channel list for 429/5xx before the task fails with ``upstream_unavailable``."""
BUSY_WAIT_S = 1.0
"""How long to wait when every channel is at its concurrency or rate limit."""
NATIVE_SHORT_SIDE = {"xai": 720, "openai": 1080}
MAX_SIGNED_URL_TTL_S = 3600
"""A published clip's link lives as long as the task may wait on its channel, at most this long."""


class RelayEngine:
    name = "relay"

    def __init__(
        self,
        *,
        model: str,
        channels: Mapping[str, Channel],
        tmp_dir: Path | None = None,
        native_short_side: int | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        publish: Callable[[Path, float], str] | None = None,
        checkpoint: Callable[[Mapping[str, Any]], None] | None = None,
        resume: Mapping[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.channels = channels_for(model, channels)
        self.native_short_side = native_short_side or min(
            (NATIVE_SHORT_SIDE[c.kind] for c in self.channels), default=720
        )
        self._tmp_dir = tmp_dir or Path("/tmp")
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._publish = publish
        self._checkpoint = checkpoint
        self._resume = resume
        self._files = ExitStack()
        """Scratch files (the cut clip, the upstream's video): kept until ``close``, because the
        render pipeline muxes the upstream's sound from its video after the last frame."""

    # --- the Engine protocol ------------------------------------------------------------

    def generate(self, job: GenerateJob, progress: ProgressCallback) -> Iterator[np.ndarray]:
        seconds = _upstream_seconds(job.num_frames, job.fps)
        image = job.reference_images[0] if job.reference_images else None

        def submit(client: UpstreamClient, upstream_model: str) -> str:
            width, height = _asked_size(client.channel, job.width, job.height)
            return client.submit_generate(
                model=upstream_model,
                prompt=job.prompt,
                seconds=_asked_seconds(client.channel, seconds),
                width=width,
                height=height,
                image=image,
            )

        result, _ = self._relay(submit, job.report, progress)
        job.sound.path, job.sound.offset = result, 0.0  # the upstream's sound goes with its frames
        yield from _resampled(result, job, skip_seconds=0.0, progress=progress)

    def extend(self, job: ExtendJob, progress: ProgressCallback) -> Iterator[np.ndarray]:
        if job.source is None:
            raise EngineError("the relay engine needs the source video to extend", code="engine_error")
        kept_seconds = job.keep_frames / job.fps
        if any(c.kind == "xai" for c in self.channels) and kept_seconds < XAI_MIN_CLIP_S:
            raise EngineError(
                f"xAI extends clips of at least {XAI_MIN_CLIP_S} s; the part kept before start_time "
                f"is {float(kept_seconds):.2f} s",
                code="source_too_short",
            )
        seconds = _upstream_seconds(job.num_frames, job.fps)
        low, high = XAI_EXTEND_SECONDS
        if any(c.kind == "xai" for c in self.channels) and seconds > high:
            raise EngineError(
                f"xAI extends by {low}–{high} s; {seconds} s were asked for", code="duration_out_of_range"
            )

        def asked_of(channel: Channel) -> int:
            return _asked_seconds(channel, max(seconds, low) if channel.kind == "xai" else seconds)

        clip_frames = min(job.keep_frames, math.floor(XAI_MAX_CLIP_S * job.fps))
        clip_seconds = float(clip_frames / job.fps)
        job.report["clip_seconds"] = round(clip_seconds, 3)
        # Cut (and publish) at the first submit: a resumed request needs neither.
        clip: dict[str, Any] = {}

        def submit(client: UpstreamClient, upstream_model: str) -> str:
            if "path" not in clip:
                clip["path"] = self._cut_clip(job, clip_frames)
            if client.channel.transport == "signed_url" and "url" not in clip:
                clip["url"] = self._published(clip["path"])
            return client.submit_extend(
                model=upstream_model,
                prompt=job.prompt,
                seconds=asked_of(client.channel),
                clip=clip["path"],
                clip_url=clip.get("url"),
            )

        result, channel = self._relay(submit, job.report, progress)
        # An upstream may answer the whole extended clip or only its new part: the
        # returned length tells which. Only the new frames (and their sound) follow the kept part.
        returned = probe(result).duration
        new = asked_of(channel)
        whole = abs(returned - (clip_seconds + new)) < abs(returned - new)
        job.report["upstream_returned"] = "whole_clip" if whole else "new_part"
        skip = clip_seconds if whole else 0.0
        job.sound.path, job.sound.offset = result, skip
        yield from _resampled(result, job, skip_seconds=skip, progress=progress)

    def edit(self, job: EditJob, progress: ProgressCallback) -> Iterator[np.ndarray]:
        raise EngineError("the relay engine does not edit videos", code="unsupported")

    def edit_operations(self, prompt: str) -> list[str]:
        return []  # edits are refused at create time, with the usual clear message

    def close(self) -> None:
        self._files.close()

    # --- steps --------------------------------------------------------------------------

    def _cut_clip(self, job: ExtendJob, clip_frames: int) -> Path:
        """The last ``clip_frames`` (≤ 15 s) before the cut, as an MP4 the upstream can take
        (frame-accurate)."""
        assert job.source is not None
        info = probe(job.source)
        path = self._scratch("clip")
        width, height = info.width - info.width % 2, info.height - info.height % 2
        with VideoWriter(path, width=width, height=height, fps=job.fps, preset="veryfast", crf=16) as writer:
            for frame in iter_frames(job.source, start=job.keep_frames - clip_frames, stop=job.keep_frames):
                writer.write(frame[:height, :width])
        return path

    def _published(self, clip: Path) -> str:
        """A signed, expiring URL to a copy of ``clip`` on this server, for ``signed_url`` channels."""
        if self._publish is None:
            raise EngineError(
                "a channel ships clips as signed_url, which needs the server's public URL "
                "(VIDEOLOOM_PUBLIC_BASE_URL)",
                code="engine_config",
            )
        longest = max(c.timeout_s for c in self.channels if c.transport == "signed_url")
        return self._publish(clip, min(longest, MAX_SIGNED_URL_TTL_S))

    def _scratch(self, what: str) -> Path:
        self._tmp_dir.mkdir(parents=True, exist_ok=True)
        path = self._tmp_dir / f"relay-{what}-{uuid.uuid4().hex}.mp4"
        self._files.callback(path.unlink, missing_ok=True)
        return path

    def _relay(
        self,
        submit: Callable[[UpstreamClient, str], str],
        report: dict[str, Any],
        progress: ProgressCallback,
    ) -> tuple[Path, Channel]:
        """Submit with failover, wait for the result, download it; the local MP4 and its channel."""
        if not self.channels:
            raise EngineError(f"no [channels.*] table serves model {self.model}", code="engine_config")
        resumed = self._resumed(report, progress)
        if resumed is not None:
            return resumed
        deadline = time.monotonic() + max(c.timeout_s for c in self.channels)
        failures: list[str] = []
        backoff = 0.5
        rounds = 0
        while rounds < SUBMIT_ROUNDS:
            tried = busy = False
            for channel in choose(self.channels, self._rng):
                key = channel.api_key()
                if key is None:
                    failures.append(f"{channel.name}: env var {channel.api_key_env} is not set")
                    continue
                limits = limits_for(channel)
                if not limits.try_acquire():
                    busy = True
                    continue
                tried = True
                client = client_for(channel, key)
                try:
                    progress(0.01)
                    try:
                        request_id = submit(client, channel.models[self.model])
                    except Retryable as exc:
                        log.warning("channel %s refused for now (%s); trying the next", channel.name, exc)
                        failures.append(f"{channel.name}: {exc}")
                        self._wait(backoff * (1 + self._rng.random()), progress)
                        backoff = min(backoff * 2, 8.0)
                        continue
                    except Rejected as exc:
                        raise EngineError(
                            f"the upstream rejected the request: {exc}", code="upstream_rejected"
                        ) from None
                    report.update(channel=channel.name, upstream_request_id=request_id)
                    log.info("channel %s accepted the job as %s", channel.name, request_id)
                    if self._checkpoint is not None:  # durable before anything else can go wrong
                        self._checkpoint({**report, "submitted_at": time.time()})
                    result = self._scratch("result")
                    self._await_result(client, channel, request_id, result, progress)
                    return result, channel
                finally:
                    client.close()
                    limits.release()
            if tried:
                rounds += 1
            elif not busy:
                break  # nothing could even be tried (no keys): waiting will not help
            elif time.monotonic() >= deadline:
                raise EngineError(
                    "every channel serving this model stayed at its concurrency or rate limit",
                    code="upstream_timeout",
                )
            else:
                self._wait(BUSY_WAIT_S, progress)  # a busy channel is not a failed one: wait for a slot
        raise EngineError(
            "no upstream channel accepted the job: " + "; ".join(list(dict.fromkeys(failures))[-4:]),
            code="upstream_unavailable",
        )

    def _resumed(self, report: dict[str, Any], progress: ProgressCallback) -> tuple[Path, Channel] | None:
        """Wait for the request an earlier run of this task submitted, instead of submitting
        again; None when there is none to resume (a first run)."""
        recorded = self._resume or {}
        name, request_id = recorded.get("channel"), recorded.get("upstream_request_id")
        if not isinstance(name, str) or not isinstance(request_id, str):
            return None
        channel = next((c for c in self.channels if c.name == name), None)
        if channel is None:
            log.warning(
                "upstream request %s was submitted on channel %s, which no longer serves %s; submitting anew",
                request_id,
                name,
                self.model,
            )
            return None
        key = channel.api_key()
        if key is None:
            raise EngineError(
                f"channel {name}: env var {channel.api_key_env} is not set; cannot resume upstream "
                f"request {request_id}",
                code="upstream_unavailable",
            )
        # The channel's timeout counts from the submit, not from this run's start.
        submitted_at = recorded.get("submitted_at")
        waited = time.time() - submitted_at if isinstance(submitted_at, (int, float)) else 0.0
        deadline = time.monotonic() + max(0.0, channel.timeout_s - waited)
        limits = limits_for(channel)
        while not limits.try_acquire(submit=False):
            if time.monotonic() >= deadline:
                raise EngineError(f"channel {name} stayed at its concurrency limit", code="upstream_timeout")
            self._wait(BUSY_WAIT_S, progress)
        client = client_for(channel, key)
        try:
            progress(0.01)
            report.update(channel=name, upstream_request_id=request_id, resumed=True)
            log.info(
                "resuming upstream request %s on channel %s (submitted by an earlier run)", request_id, name
            )
            result = self._scratch("result")
            self._await_result(client, channel, request_id, result, progress, deadline=deadline)
            return result, channel
        finally:
            client.close()
            limits.release()

    def _await_result(
        self,
        client: UpstreamClient,
        channel: Channel,
        request_id: str,
        dest: Path,
        progress: ProgressCallback,
        *,
        deadline: float | None = None,
    ) -> None:
        """Poll with backoff and jitter until done, failed or ``timeout_s`` (or ``deadline``, a
        ``time.monotonic()`` value); then download."""
        if deadline is None:
            deadline = time.monotonic() + channel.timeout_s
        interval = channel.poll_interval_s
        guess = 0.05
        while True:
            try:
                state = client.poll(request_id)
            except Retryable as exc:  # a hiccup while it works: ask again later
                log.info("polling %s on %s failed (%s); will retry", request_id, channel.name, exc)
                state = Poll(state="pending")
            except Rejected as exc:
                raise EngineError(
                    f"channel {channel.name}: polling the upstream failed: {exc}", code="upstream_failed"
                ) from None
            if state.state == "done":
                break
            if state.state == "failed":
                raise EngineError(f"the upstream failed: {state.message}", code=state.code)
            # Checked after a poll, so a resumed request past its deadline is still asked once.
            if time.monotonic() >= deadline:
                raise EngineError(
                    f"channel {channel.name}: the upstream did not finish within {channel.timeout_s:g} s "
                    f"(request {request_id})",
                    code="upstream_timeout",
                )
            guess = state.progress if state.progress is not None else min(0.75, guess + 0.05)
            progress(0.02 + 0.78 * guess)
            jittered = interval * self._rng.uniform(0.8, 1.2)
            self._wait(min(jittered, max(0.0, deadline - time.monotonic())), progress)
            interval = min(interval * 1.5, channel.max_poll_interval_s)
        progress(0.82)
        try:
            client.download(request_id, dest)
        except (Rejected, Retryable) as exc:
            raise EngineError(f"channel {channel.name}: {exc}", code="upstream_download_failed") from None

    def _wait(self, seconds: float, progress: ProgressCallback) -> None:
        """Sleep in short slices, asking ``progress`` between them so a cancel stops the wait."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self._sleep(min(0.25, left))
            progress(0.0)  # progress only moves forward; this call is for its cancellation check


def _asked_seconds(channel: Channel, seconds: int) -> int:
    """The duration to ask ``channel`` for: ``seconds``, or the smallest it accepts that covers it
    (the surplus is dropped when the frames are picked)."""
    choices = channel.seconds_allowed
    if not choices:
        return seconds
    for choice in choices:
        if choice >= seconds:
            return choice
    raise EngineError(
        f"channel {channel.name} makes at most {choices[-1]} s; {seconds} s were asked for",
        code="duration_out_of_range",
    )


def _asked_size(channel: Channel, width: int, height: int) -> tuple[int, int]:
    """The size to ask ``channel`` for: the job's, or the accepted one nearest its aspect and area."""
    sizes = [tuple(int(n) for n in s.split("x")) for s in channel.sizes_allowed]
    if not sizes:
        return width, height

    def distance(size: tuple[int, ...]) -> tuple[float, float]:
        return abs(math.log((size[0] / size[1]) / (width / height))), abs(size[0] * size[1] - width * height)

    best = min(sizes, key=distance)
    return best[0], best[1]


def _upstream_seconds(num_frames: int, fps: Fraction) -> int:
    """Whole seconds to ask for (upstreams take integers): enough to cover ``num_frames``."""
    return max(1, math.ceil(num_frames / fps - 1e-6))


def _resampled(
    path: Path, job: GenerateJob, *, skip_seconds: float, progress: ProgressCallback
) -> Iterator[np.ndarray]:
    """``job.num_frames`` frames of ``path`` from ``skip_seconds`` on, picked by timestamp at the
    job's rate (the upstream's may differ) and fitted to the job's size.

    A result shorter than asked holds its last frame to the end, so the output has the length
    the task promised; the report records how many frames were held.
    """
    info = probe(path)
    wanted = [math.floor((skip_seconds + k / job.fps) * info.fps + 1e-6) for k in range(job.num_frames)]
    produced = 0
    last: np.ndarray | None = None
    want = 0
    for index, frame in enumerate(iter_frames(path, start=0)):
        if want >= len(wanted):
            break
        if index < wanted[want]:
            continue
        last = fit_frame(frame, job.width, job.height)
        while want < len(wanted) and wanted[want] <= index:
            yield last
            produced += 1
            want += 1
            if produced % 12 == 0:
                progress(0.85 + 0.15 * produced / job.num_frames)
    if last is None:
        raise EngineError("the upstream's video has no frames after the part sent", code="upstream_bad_video")
    if produced < job.num_frames:
        job.report["held_frames"] = job.num_frames - produced
        for _ in range(job.num_frames - produced):
            yield last


def create_relay_engine(spec: ModelSpec, context: EngineContext) -> RelayEngine:
    """The engine for ``spec`` (``engine = "relay"``) over the models file's channels."""
    try:
        channels = parse_channels(context.channels)
    except ValueError as exc:
        raise EngineError(f"models file: {exc}", code="engine_config") from None
    native = spec.options.get("native_short_side")
    return RelayEngine(
        model=spec.name,
        channels=channels,
        tmp_dir=context.tmp_dir,
        native_short_side=int(native) if native else None,
        publish=context.publish,
        checkpoint=context.checkpoint,
        resume=context.resume,
    )


def check_model(spec: ModelSpec, context: Any) -> str | None:
    """None when ``spec`` can be served; else what is wrong (for ``videoloom models check``)."""
    try:
        channels = channels_for(spec.name, parse_channels(context.channels))
    except ValueError as exc:
        return str(exc)
    if not channels:
        return f"model {spec.name}: no [channels.*] table lists it in its models"
    problems = [
        f"channel {c.name}: env var {c.api_key_env} is not set" for c in channels if c.api_key() is None
    ]
    if len(problems) == len(channels):
        return "; ".join(problems)
    if any(c.kind == "xai" for c in channels) and spec.max_duration > XAI_EXTEND_SECONDS[1]:
        return (
            f"model {spec.name}: max_duration {spec.max_duration} is over xAI's {XAI_EXTEND_SECONDS[1]} s "
            "extension limit; set max_duration = 10"
        )
    return None
