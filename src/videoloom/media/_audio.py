"""``add_audio``: give a rendered (silent) MP4 the sound of the video it came from.

Engines make pictures only, so the render pipeline writes a video-only MP4. An
upload or an extend whose source has sound then gets that sound back here, in a
remux pass that copies every video packet as it is (nothing is re-encoded) and
interleaves the audio:

* AAC (what MP4s and phones carry) is copied packet for packet;
* anything else (Opus or Vorbis from WebM, PCM from a MOV, MP3) is decoded and
  encoded to AAC, which every browser plays in an MP4.

``until`` cuts the sound at the extend's cut point (within an AAC frame, ~21 ms:
copied packets that end after it are left out; encoded sound ends with the
encoder's last, padded frame), and the new seconds are silent, as the engines
make no sound. Audio timestamps keep their distance to the source's first video frame,
so picture and sound stay in sync.
"""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction

import av
from av.audio.stream import AudioStream
from av.packet import Packet

from videoloom.core.errors import MediaError
from videoloom.media._container import AV_ERRORS, open_input, video_stream

__all__ = ["add_audio", "has_audio"]

AAC_BITRATE = 160_000
CUT_TOLERANCE_S = 0.001
"""Floating-point slack when an audio packet ends exactly at the cut."""


def has_audio(path: str | os.PathLike[str]) -> bool:
    with open_input(path) as container:
        return bool(container.streams.audio)


def add_audio(
    video: str | os.PathLike[str],
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    until: float | None = None,
) -> bool:
    """Write ``video``'s packets plus ``source``'s first audio track (up to ``until`` seconds of
    the source) to ``out`` (MP4, ``+faststart``). False, and no ``out``, when ``source`` has
    no audio or none before ``until``."""
    try:
        written = _add_audio(video, source, out, until=until)
    except AV_ERRORS as exc:
        with contextlib.suppress(OSError):
            os.remove(out)
        raise MediaError(f"the audio track cannot be read: {exc}") from exc
    return written


def _add_audio(
    video: str | os.PathLike[str],
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    until: float | None,
) -> bool:
    with open_input(source) as container:
        if not container.streams.audio:
            return False
        audio = container.streams.audio[0]
        start = _start_seconds(video_stream(container))
        with (
            av.open(os.fspath(video)) as rendered,
            av.open(os.fspath(out), mode="w", format="mp4", options={"movflags": "+faststart"}) as output,
        ):
            video_in = rendered.streams.video[0]
            video_out = output.add_stream_from_template(video_in)
            if audio.codec_context.name == "aac":
                audio_out = output.add_stream_from_template(audio)
                packets = _copied(container, audio, start=start, until=until)
            else:
                context = audio.codec_context
                layout = "mono" if context.channels == 1 else "stereo"
                audio_out = output.add_stream("aac", rate=context.sample_rate or 48_000, layout=layout)
                audio_out.codec_context.bit_rate = AAC_BITRATE
                packets = _encoded(container, audio, audio_out, start=start, until=until)
            if packets:
                _interleave(output, rendered, video_in, video_out, packets, audio_out)
    if not packets:
        with contextlib.suppress(FileNotFoundError):  # nothing muxed: the file may not exist
            os.remove(out)
        return False
    return True


def _start_seconds(stream: av.stream.Stream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _copied(
    container: av.container.InputContainer, audio: AudioStream, *, start: float, until: float | None
) -> list[Packet]:
    """AAC packets as they are, timed from the first video frame, up to ``until``."""
    kept = []
    for packet in container.demux(audio):
        if packet.size == 0 or packet.pts is None or packet.time_base is None:
            continue
        if packet.is_corrupt:
            raise MediaError("the audio track is truncated or corrupt")
        begin = float(packet.pts * packet.time_base) - start
        end = begin + float((packet.duration or 0) * packet.time_base)
        if until is not None and end > until + CUT_TOLERANCE_S:
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
    container: av.container.InputContainer,
    audio: AudioStream,
    audio_out: AudioStream,
    *,
    start: float,
    until: float | None,
) -> list[Packet]:
    """The sound decoded and encoded to AAC by ``audio_out``'s encoder, up to ``until``."""
    rate = audio_out.codec_context.sample_rate
    packets: list[Packet] = []
    position: int | None = None  # next frame's pts in 1/rate, from the first video frame
    limit = None if until is None else round(until * rate)
    for frame in container.decode(audio):
        if frame.pts is None or frame.time_base is None:
            continue
        begin = float(frame.pts * frame.time_base) - start
        if begin < 0:
            continue
        if position is None:
            position = round(begin * rate)  # sound that starts after the picture keeps its gap
        samples = round(frame.samples * rate / (frame.sample_rate or rate))
        if limit is not None and position + samples > limit:
            break
        frame.pts, frame.time_base = position, Fraction(1, rate)
        position += samples
        packets.extend(audio_out.encode(frame))
    if packets or position:
        packets.extend(audio_out.encode(None))
    return packets


def _interleave(
    output: av.container.OutputContainer,
    rendered: av.container.InputContainer,
    video_in: av.stream.Stream,
    video_out: av.stream.Stream,
    audio_packets: list[Packet],
    audio_out: AudioStream,
) -> None:
    """Copy the rendered video's packets, each audio packet muxed before the first video packet
    that comes after it (audio is small: it is held as a list)."""
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
