"""Sources made the way cameras and other tools make them, and decoding that reports every error.

Shared by the media and worker tests (``from tests.media.sources import …``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.logging
import numpy as np

from videoloom.media import rgb_to_yuv420p

__all__ = [
    "decode",
    "decode_audio",
    "decoder_errors",
    "dominant_hz",
    "encode_h264",
    "encode_with_sound",
    "has_b_frames",
    "moov_before_mdat",
    "packets",
]

SOUND_RATE = 48_000


def encode_h264(
    path: Path,
    frames: Sequence[np.ndarray],
    *,
    gop: int,
    fps: Fraction = Fraction(24),
    tagged_709: bool = True,
    options: dict[str, str] | None = None,
) -> Path:
    """A source as a camera or another tool would make it: libx264's default preset (B-frames)."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream(
            "libx264", rate=fps, options={"g": str(gop), "crf": "16", **(options or {})}
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if tagged_709:
            ctx = stream.codec_context
            ctx.colorspace = ctx.color_primaries = ctx.color_trc = ctx.color_range = 1
        for i, array in enumerate(frames):
            frame = rgb_to_yuv420p(array, matrix="bt709" if tagged_709 else "bt601")
            frame.pts, frame.time_base = i, 1 / fps
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def encode_with_sound(
    path: Path,
    frames: Sequence[np.ndarray],
    *,
    tone_hz: float = 440.0,
    tones: Sequence[tuple[float, float]] = (),
    sound_seconds: float | None = None,
    sound_delay: float = 0.0,
    container: str = "mp4",
    video_codec: str = "libx264",
    audio_codec: str = "aac",
    fps: int = 24,
    video_options: dict[str, str] | None = None,
) -> Path:
    """A clip with a sine tone as its sound (AAC in MP4, or e.g. Opus in WebM), muxed in time order.

    ``tones``: ``(until_second, hz)`` pieces instead of one ``tone_hz`` (the last one lasts to the
    end). ``sound_seconds`` defaults to the video's length; ``sound_delay`` starts the sound later."""
    height, width = frames[0].shape[:2]
    total = round((sound_seconds if sound_seconds is not None else len(frames) / fps) * SOUND_RATE)
    delay = round(sound_delay * SOUND_RATE)
    with av.open(str(path), mode="w", format=container) as out:
        video = out.add_stream(video_codec, rate=fps, options=video_options or {})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = out.add_stream(audio_codec, rate=SOUND_RATE, layout="stereo")
        chunk = 1024 if audio_codec == "aac" else 960
        index, written = 0, 0
        while index < len(frames) or written < total:
            if index < len(frames) and (written >= total or index * SOUND_RATE / fps <= delay + written):
                frame = av.VideoFrame.from_ndarray(frames[index], format="rgb24")
                frame.pts, frame.time_base = index, Fraction(1, fps)
                for packet in video.encode(frame):
                    out.mux(packet)
                index += 1
                continue
            count = min(chunk, total - written)
            t = np.arange(written, written + count) / SOUND_RATE
            hz = np.full(count, tone_hz)
            for until, piece_hz in reversed(tones):
                hz[t < until] = piece_hz
            if tones:
                hz[t >= tones[-1][0]] = tones[-1][1]
            wave = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
            sound = av.AudioFrame.from_ndarray(np.stack([wave, wave]), format="fltp", layout="stereo")
            sound.sample_rate, sound.pts = SOUND_RATE, delay + written
            for packet in audio.encode(sound):
                out.mux(packet)
            written += count
        for stream in (video, audio):
            for packet in stream.encode(None):
                out.mux(packet)
    return path


def decode_audio(path: Path) -> tuple[np.ndarray, float, str] | None:
    """The first audio track as (channels × samples float array, start in seconds, codec), or None."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        chunks, start = [], None
        for frame in container.decode(stream):
            if start is None:
                start = float(frame.pts * frame.time_base)
            chunks.append(frame.to_ndarray())
        return np.concatenate(chunks, axis=1), start or 0.0, stream.codec_context.name


def dominant_hz(samples: np.ndarray, rate: int = SOUND_RATE) -> float:
    """The loudest frequency of a mono or multi-channel signal, to the nearest Hz."""
    mono = samples.mean(axis=0) if samples.ndim == 2 else samples
    spectrum = np.abs(np.fft.rfft(mono))
    return float(np.argmax(spectrum) * rate / len(mono))


def decode(path: Path) -> tuple[list[np.ndarray], Any, int, list[str]]:
    """Frames, average rate, declared frame count and every decoder error message."""
    with decoder_errors() as errors, av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return frames, stream.average_rate, stream.frames, errors


@contextmanager
def decoder_errors() -> Iterator[list[str]]:
    """FFmpeg log lines at error level or worse, from any thread (decoders log from theirs)."""
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    errors: list[str] = []
    try:
        with av.logging.Capture(local=False) as logs:
            yield errors
        errors.extend(f"{name}: {message.strip()}" for level, name, message in logs if level <= 16)
    finally:
        av.logging.set_level(previous)


def packets(path: Path) -> list[tuple[int, int, bool, bytes]]:
    """``(pts, dts, keyframe, bytes)`` of every packet, in decode order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rows = [(p.pts, p.dts, p.is_keyframe, bytes(p)) for p in container.demux(stream) if p.size]
    assert all(pts is not None and dts is not None for pts, dts, *_ in rows)
    return rows  # type: ignore[return-value]


def has_b_frames(path: Path) -> bool:
    shown = [pts for pts, *_ in packets(path)]
    return any(later < earlier for earlier, later in itertools.pairwise(shown))


def moov_before_mdat(path: Path) -> bool:
    data = path.read_bytes()
    return 0 <= data.find(b"moov") < data.find(b"mdat")
