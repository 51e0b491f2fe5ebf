"""``normalize_upload``: turn a user's MP4/MOV/WebM into a browser-playable H.264 MP4.

Already H.264 yuv420p with an even size: the packets are copied into a fresh
MP4 (``+faststart``), which is fast and lossless. Anything else (VP9, AV1,
HEVC, ProRes, 10-bit or full-range H.264, odd sizes) is decoded and
re-encoded with ``VideoWriter`` at the same frame rate; odd sizes lose their
last row/column. The first audio track is kept (``add_audio``: AAC copied,
anything else encoded to AAC, cut at the video's end), so an extend can keep
the sound of the part it keeps. Subtitles and metadata (including rotation) are
dropped.

Either way every packet is decoded once, so a truncated or corrupt upload is
refused (``MediaError``) here rather than failing later in a worker.
"""

from __future__ import annotations

import contextlib
import os

import av
from av.container import InputContainer
from av.video.stream import VideoStream

from videoloom.core.errors import MediaError
from videoloom.media._audio import SoundSegment, add_audio
from videoloom.media._container import AV_ERRORS, frame_rate, open_input, video_stream
from videoloom.media._probe import VideoInfo, probe
from videoloom.media._transform import fit_frame
from videoloom.media._writer import VideoWriter

__all__ = ["normalize_upload"]


UPLOAD_CRF = 14


def normalize_upload(src_path: str | os.PathLike[str], dst_path: str | os.PathLike[str]) -> VideoInfo:
    """Write an H.264 yuv420p ``+faststart`` MP4 of ``src_path``'s video to ``dst_path``.

    Returns ``probe(dst_path)``. Raises ``MediaError`` for anything that is not
    a complete, decodable MP4/MOV/WebM/Matroska video; ``dst_path`` is then removed.
    """
    dst = os.fspath(dst_path)
    silent = dst + ".video.mp4"
    try:
        with open_input(src_path) as container:
            stream = video_stream(container)
            ctx = stream.codec_context
            stream.codec_context.thread_type = "AUTO"
            try:
                if ctx.name == "h264" and ctx.pix_fmt == "yuv420p" and _even(ctx.width, ctx.height):
                    _remux(container, stream, silent)
                else:
                    _reencode(container, stream, silent)
            except AV_ERRORS as exc:
                raise MediaError(f"the video cannot be decoded: {exc}") from exc
        if not add_audio(silent, dst, [SoundSegment(src_path, end=probe(silent).duration)]):
            os.replace(silent, dst)
        return probe(dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(dst)
        raise
    finally:
        with contextlib.suppress(OSError):
            os.remove(silent)


def _even(width: int, height: int) -> bool:
    return width > 0 and height > 0 and width % 2 == 0 and height % 2 == 0


def _remux(container: InputContainer, stream: VideoStream, dst: str) -> None:
    """Copy the H.264 packets into a new MP4, decoding each to prove the stream is whole."""
    declared = stream.frames
    packets = decoded = 0
    with av.open(dst, mode="w", format="mp4", options={"movflags": "+faststart"}) as output:
        out_stream = output.add_stream_from_template(stream)
        for packet in container.demux(stream):
            if packet.size == 0:  # end-of-stream flush packet
                decoded += len(stream.decode(None))
                continue
            if packet.is_corrupt:
                raise MediaError("the video is truncated or corrupt")
            packets += 1
            decoded += len(stream.decode(packet))
            packet.stream = out_stream
            output.mux(packet)
    _check_complete(declared, packets, decoded)


def _reencode(container: InputContainer, stream: VideoStream, dst: str) -> None:
    """Decode and re-encode as H.264 at the source frame rate, cropping odd sizes to even."""
    declared = stream.frames
    fps = frame_rate(stream)
    src_w, src_h = stream.codec_context.width, stream.codec_context.height
    width, height = src_w - src_w % 2, src_h - src_h % 2
    if width <= 0 or height <= 0:
        raise MediaError(f"the video is too small ({src_w}x{src_h})")
    packets = decoded = 0
    # Near-transparent quality: an upload is a source that extends re-encode again.
    with VideoWriter(dst, width=width, height=height, fps=fps, crf=UPLOAD_CRF) as writer:
        for packet in container.demux(stream):
            if packet.size:
                if packet.is_corrupt:
                    raise MediaError("the video is truncated or corrupt")
                packets += 1
            for frame in stream.decode(packet if packet.size else None):
                rgb = frame.to_ndarray(format="rgb24")
                if rgb.shape[:2] == (src_h, src_w):
                    rgb = rgb[:height, :width]
                else:  # the stream changed resolution mid-way
                    rgb = fit_frame(rgb, width, height)
                writer.write(rgb)
                decoded += 1
    _check_complete(declared, packets, decoded)


def _check_complete(declared: int, packets: int, decoded: int) -> None:
    """Refuse an upload whose container promises more frames than it delivers."""
    if decoded == 0:
        raise MediaError("the video has no decodable frames")
    if declared > 0 and packets < declared:
        raise MediaError(f"the video is truncated: {packets} of {declared} frames present")
