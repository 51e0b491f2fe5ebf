"""``add_audio``: give a rendered (silent) MP4 the sound that goes with its pictures.

Engines make pictures, so the render pipeline writes a video-only MP4. The sound
comes back here, in a remux pass that copies every video packet as it is
(nothing is re-encoded) and interleaves an AAC track made of ``SoundSegment``s:
a stretch of some file's first audio track placed at a time of the output —
an upload's own sound; an extend's kept part (the source up to the cut); the
new part's sound where an engine has one (a relay's upstream video), after the
cut.

* One segment of AAC sound from its start (what MP4s and phones carry, so
  uploads and most extends): copied packet for packet, the encoder's priming
  packet included, so it decodes to the very same samples. It stops at its
  ``end`` within an AAC frame (~21 ms): packets that end after it are left out.
* Anything else (Opus or Vorbis from WebM, PCM from a MOV, MP3, or several
  segments): decoded and encoded to AAC, gaps filled with silence, so every
  browser plays it in an MP4.

Times are seconds from each file's first video frame, so picture and sound
stay in sync (a sound that starts late stays late). Where no segment has sound
the output gets no audio track at all.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from av.audio.stream import AudioStream
from av.packet import Packet

from videoloom.core.errors import MediaError
from videoloom.media._container import AV_ERRORS, open_input, video_stream

__all__ = ["SoundSegment", "add_audio"]

AAC_BITRATE = 160_000
ENCODED_RATE = 48_000
CUT_TOLERANCE_S = 0.001
"""Floating-point slack when an audio packet ends exactly at a segment's end."""

Pathish = str | os.PathLike[str]


@dataclass(frozen=True)
class SoundSegment:
    """``path``'s sound from ``start`` to ``end`` (None: its end), placed at ``at`` in the output."""

    path: Pathish
    start: float = 0.0
    end: float | None = None
    at: float = 0.0


def add_audio(video: Pathish, out: Pathish, segments: Sequence[SoundSegment]) -> bool:
    """Write ``video``'s packets plus the sound of ``segments`` to ``out`` (MP4, ``+faststart``).

    False, and no ``out``, when none of the segments has any sound."""
    try:
        written = _add_audio(video, out, segments)
    except AV_ERRORS as exc:
        with contextlib.suppress(OSError):
            os.remove(out)
        raise MediaError(f"the audio track cannot be read: {exc}") from exc
    if not written:
        with contextlib.suppress(FileNotFoundError):  # nothing muxed: the file may not exist
            os.remove(out)
    return written


def _add_audio(video: Pathish, out: Pathish, segments: Sequence[SoundSegment]) -> bool:
    with contextlib.ExitStack() as stack:
        sounding: list[tuple[SoundSegment, av.container.InputContainer]] = []
        for segment in sorted(segments, key=lambda s: s.at):
            container = stack.enter_context(open_input(segment.path))
            if container.streams.audio:
                sounding.append((segment, container))
        if not sounding:
            return False
        rendered = stack.enter_context(av.open(os.fspath(video)))
        output = stack.enter_context(
            av.open(os.fspath(out), mode="w", format="mp4", options={"movflags": "+faststart"})
        )
        video_in = rendered.streams.video[0]
        video_out = output.add_stream_from_template(video_in)
        (first, container), *others = sounding
        audio = container.streams.audio[0]
        if not others and audio.codec_context.name == "aac" and first.start == 0 and first.at == 0:
            audio_out = output.add_stream_from_template(audio)
            packets = _copied(container, audio, end=first.end)
        else:
            layout = (
                "mono"
                if all(c.streams.audio[0].codec_context.channels == 1 for _, c in sounding)
                else "stereo"
            )
            audio_out = output.add_stream("aac", rate=ENCODED_RATE, layout=layout)
            audio_out.codec_context.bit_rate = AAC_BITRATE
            packets = _encoded(sounding, audio_out)
        if not packets:
            return False
        _interleave(output, rendered, video_in, video_out, packets, audio_out)
    return True


def _video_start(container: av.container.InputContainer) -> float:
    stream = video_stream(container)
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _copied(container: av.container.InputContainer, audio: AudioStream, *, end: float | None) -> list[Packet]:
    """AAC packets as they are, timed from the first video frame, up to ``end``."""
    start = _video_start(container)
    kept = []
    for packet in container.demux(audio):
        if packet.size == 0 or packet.pts is None or packet.time_base is None:
            continue
        if packet.is_corrupt:
            raise MediaError("the audio track is truncated or corrupt")
        begin = float(packet.pts * packet.time_base) - start
        if (
            end is not None
            and begin + float((packet.duration or 0) * packet.time_base) > end + CUT_TOLERANCE_S
        ):
            break
        # Packets before the first picture stay (an encoder's priming packet is one, needed to
        # decode the next): the muxer's edit list starts playback at zero, as in the source.
        shift = round(start / packet.time_base)
        packet.pts -= shift
        if packet.dts is not None:
            packet.dts -= shift
        kept.append(packet)
    return kept


def _encoded(
    sounding: Sequence[tuple[SoundSegment, av.container.InputContainer]], audio_out: AudioStream
) -> list[Packet]:
    """Every segment decoded, placed at its time (silence between), encoded by ``audio_out``."""
    layout = audio_out.codec_context.layout.name
    channels = audio_out.codec_context.channels
    packets: list[Packet] = []
    position = 0  # samples written so far, at ENCODED_RATE

    def write(samples: np.ndarray) -> None:
        nonlocal position
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.float32), format="fltp", layout=layout
        )
        frame.sample_rate, frame.pts, frame.time_base = ENCODED_RATE, position, Fraction(1, ENCODED_RATE)
        position += samples.shape[1]
        packets.extend(audio_out.encode(frame))

    for segment, container in sounding:
        at = round(segment.at * ENCODED_RATE)
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=ENCODED_RATE)
        for offset, samples in _segment_samples(segment, container, resampler):
            begin = at + offset
            if begin < position:  # overlaps what is written: drop the overlap
                samples = samples[:, position - begin :]
                begin = position
            if begin > position:  # a gap: silence
                write(np.zeros((channels, begin - position), dtype=np.float32))
            if samples.shape[1]:
                write(samples)
    if position:
        packets.extend(audio_out.encode(None))
    return packets


def _segment_samples(
    segment: SoundSegment, container: av.container.InputContainer, resampler: av.AudioResampler
) -> Iterator[tuple[int, np.ndarray]]:
    """(offset in samples from ``segment.start``, fltp samples at ENCODED_RATE), cut to the segment."""
    origin = _video_start(container) + segment.start
    stop = None if segment.end is None else round((segment.end - segment.start) * ENCODED_RATE)
    first: int | None = None
    produced = 0
    frames = container.decode(container.streams.audio[0])
    for frame in itertools.chain(frames, [None]):
        if frame is not None:
            if frame.pts is None or frame.time_base is None:
                continue
            if first is None:
                first = round((float(frame.pts * frame.time_base) - origin) * ENCODED_RATE)
            frame.pts = None  # the resampler times its output itself
        for out in resampler.resample(frame):
            samples = out.to_ndarray()
            offset = (first or 0) + produced
            produced += samples.shape[1]
            if offset + samples.shape[1] <= 0:
                continue  # before the segment's start
            if offset < 0:
                samples, offset = samples[:, -offset:], 0
            if stop is not None:
                samples = samples[:, : max(0, stop - offset)]
            if samples.shape[1]:
                yield offset, samples
            if stop is not None and offset + samples.shape[1] >= stop:
                return


def _interleave(
    output: av.container.OutputContainer,
    rendered: av.container.InputContainer,
    video_in: av.stream.Stream,
    video_out: av.stream.Stream,
    audio_packets: list[Packet],
    audio_out: AudioStream,
) -> None:
    """Copy the rendered video's packets, each audio packet muxed before the first video packet
    that comes after it (audio is small: it is held as a list, ~1 MB a minute)."""
    pending = iter(audio_packets)
    next_audio = next(pending, None)
    for packet in rendered.demux(video_in):
        if packet.size == 0:
            continue
        at = _time(packet)
        while next_audio is not None and _time(next_audio) <= at:
            next_audio.stream = audio_out
            output.mux(next_audio)
            next_audio = next(pending, None)
        packet.stream = video_out
        output.mux(packet)
    while next_audio is not None:
        next_audio.stream = audio_out
        output.mux(next_audio)
        next_audio = next(pending, None)


def _time(packet: Packet) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return float((stamp or 0) * packet.time_base)
