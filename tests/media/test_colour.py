"""The fast RGB → yuv420p conversion, and the YUV entry points of the writer and the enhancer."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from av.video.reformatter import ColorRange, Colorspace, VideoReformatter

from videoloom.media import Enhancer, VideoWriter, iter_frames, iter_video_frames, rgb_to_yuv420p

Psnr = Callable[[np.ndarray, np.ndarray], float]
Helper = Callable[..., Any]


@pytest.mark.parametrize(("matrix", "space"), [("bt709", Colorspace.ITU709), ("bt601", Colorspace.ITU601)])
@pytest.mark.parametrize("size", [(320, 180), (326, 182)], ids=["aligned", "padded-rows"])
def test_rgb_to_yuv420p_matches_swscale(
    make_frame: Helper, matrix: Any, space: Colorspace, psnr: Psnr, size: tuple[int, int]
) -> None:
    width, height = size
    rgb = make_frame(7, width, height)
    rgb[100:140, 20:60] = (10, 200, 30)  # saturated colours show a wrong matrix at once
    ours = rgb_to_yuv420p(rgb, matrix=matrix)
    reference = VideoReformatter().reformat(
        av.VideoFrame.from_ndarray(rgb, format="rgb24"),
        format="yuv420p",
        src_colorspace=space,
        dst_colorspace=space,
        src_color_range=ColorRange.JPEG,
        dst_color_range=ColorRange.MPEG,
    )
    ours_planes, ref_planes = ours.to_ndarray(), reference.to_ndarray()
    luma = np.abs(ours_planes[:height].astype(int) - ref_planes[:height])
    assert luma.max() <= 1
    chroma = np.abs(ours_planes[height:].astype(int) - ref_planes[height:])
    assert chroma.mean() < 1.5  # swscale sites chroma slightly differently at edges
    assert (ours.format.name, ours.colorspace, ours.color_range) == ("yuv420p", space, ColorRange.MPEG)
    # Hard edges lose some chroma at 4:2:0 either way: at least as good as swscale's own.
    assert psnr(ours.to_ndarray(format="rgb24"), rgb) >= psnr(reference.to_ndarray(format="rgb24"), rgb) - 0.5


def test_rgb_to_yuv420p_rejects_odd_or_wrong_frames() -> None:
    with pytest.raises(ValueError):
        rgb_to_yuv420p(np.zeros((181, 320, 3), np.uint8))
    with pytest.raises(ValueError):
        rgb_to_yuv420p(np.zeros((180, 320, 3), np.float32))
    with pytest.raises(ValueError):
        rgb_to_yuv420p(np.zeros((180, 320), np.uint8))


def test_writer_takes_decoded_yuv_frames_as_they_are(clip: Any, tmp_path: Path, psnr: Psnr) -> None:
    out = tmp_path / "copy.mp4"
    with VideoWriter(out, width=clip.width, height=clip.height, fps=clip.fps, crf=12) as writer:
        for frame in iter_video_frames(clip.path):
            writer.write_frame(frame)
        with pytest.raises(ValueError):
            writer.write_frame(av.VideoFrame(64, 64, "yuv420p"))
    source = list(iter_frames(clip.path))
    copy = list(iter_frames(out))
    assert len(copy) == len(source)
    assert min(psnr(a, b) for a, b in zip(copy, source, strict=True)) >= 38


def test_iter_video_frames_gives_the_same_pictures_as_iter_frames(clip: Any) -> None:
    frames = [f.to_ndarray(format="rgb24") for f in iter_video_frames(clip.path, start=13, stop=20)]
    assert all(
        np.array_equal(a, b) for a, b in zip(frames, iter_frames(clip.path, start=13, stop=20), strict=True)
    )
    assert len(frames) == 7


def test_enhancer_yuv_output_is_the_rgb_output(make_frame: Helper) -> None:
    enhancer = Enhancer(in_width=320, in_height=180, out_width=640, out_height=360, fps=Fraction(24))
    frame = make_frame(3)
    yuv = enhancer.process_frame(frame)
    assert (yuv.format.name, yuv.width, yuv.height) == ("yuv420p", 640, 360)
    assert (yuv.colorspace, yuv.color_range) == (Colorspace.ITU709, ColorRange.MPEG)
    assert np.array_equal(yuv.to_ndarray(format="rgb24"), enhancer.process(frame))
    # The picture's mean colour survives (matrix and range are right).
    assert np.abs(enhancer.process(frame).mean(axis=(0, 1)) - frame.mean(axis=(0, 1))).max() < 3
