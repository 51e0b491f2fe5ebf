"""Media layer tests on real video: every clip is encoded here and decoded frame by frame.

Helpers (``psnr``, ``make_frame``, ``write_clip``…) and the shared clips come
from fixtures in ``conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from videoloom.core.errors import MediaError
from videoloom.media import (
    Enhancer,
    VideoWriter,
    fit_frame,
    iter_frames,
    normalize_upload,
    probe,
    write_thumbnail,
)

Psnr = Callable[[np.ndarray, np.ndarray], float]
Helper = Callable[..., Any]


def _moov_before_mdat(path: Path) -> bool:
    data = path.read_bytes()
    return 0 <= data.find(b"moov") < data.find(b"mdat")


# --- probe, VideoWriter and decoding -------------------------------------------------------


def test_probe_reports_size_rate_and_length(clip: Any) -> None:
    info = probe(clip.path)
    assert (info.width, info.height) == (320, 180)
    assert info.fps == Fraction(24)
    assert info.frame_count == len(clip.frames) == 72
    assert info.duration == pytest.approx(3.0)
    assert info.codec == "h264"
    assert info.pix_fmt == "yuv420p"


def test_writer_output_is_faststart_mp4(clip: Any) -> None:
    assert _moov_before_mdat(clip.path)


def test_decode_gives_every_frame_in_order_with_high_psnr(clip: Any, psnr: Psnr, read_index: Helper) -> None:
    decoded = list(iter_frames(clip.path))
    assert len(decoded) == len(clip.frames)
    for i, (got, want) in enumerate(zip(decoded, clip.frames, strict=True)):
        assert got.shape == (clip.height, clip.width, 3) and got.dtype == np.uint8
        assert read_index(got) == i
        assert psnr(got, want) >= 35, f"frame {i}: {psnr(got, want):.1f} dB"


def test_colours_survive_the_round_trip(tmp_path: Path) -> None:
    # Catches a BT.601/BT.709 mismatch between encoder conversion and decoder (red drifts ~20).
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (128, 128, 128), (240, 200, 180)]
    path = tmp_path / "colours.mp4"
    with VideoWriter(path, width=64, height=64, fps=Fraction(24)) as writer:
        for colour in colours:
            writer.write(np.full((64, 64, 3), colour, np.uint8))
    for colour, frame in zip(colours, iter_frames(path), strict=True):
        assert np.abs(frame[32, 32].astype(int) - colour).max() <= 4, (colour, frame[32, 32])


@pytest.mark.parametrize("which", ["clip", "long_gop_clip"])
def test_iter_frames_slice_is_bit_identical_to_full_decode(
    which: str, request: pytest.FixtureRequest, keyframe_indices: Helper, read_index: Helper
) -> None:
    clip = request.getfixturevalue(which)
    count = len(clip.frames)
    full = list(iter_frames(clip.path))
    keys = keyframe_indices(clip.path)
    # Start strictly inside a GOP, after a keyframe other than frame 0 when there is one.
    start = next((k + 5 for k in keys[1:] if k + 5 < count and k + 5 not in keys), 37)
    assert start not in keys
    if which == "clip":
        assert len(keys) > 1 and start > keys[1]  # the seek really lands on a later keyframe
    else:
        assert keys == [0]  # only decoding forward from frame 0 can reach the start
    stop = start + 9
    part = list(iter_frames(clip.path, start=start, stop=stop))
    assert len(part) == stop - start
    for got, want in zip(part, full[start:stop], strict=True):
        assert np.array_equal(got, want)
    assert [read_index(f) for f in part] == list(range(start, stop))
    tail = list(iter_frames(clip.path, start=count - 3))
    assert len(tail) == 3
    assert all(np.array_equal(a, b) for a, b in zip(tail, full[-3:], strict=True))


def test_iter_frames_fallback_without_timestamps_is_exact(clip: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from videoloom.media import _frames

    expected = list(iter_frames(clip.path, start=30, stop=40))
    monkeypatch.setattr(_frames, "_presentation_timestamps", lambda container, stream: None)
    fallback = list(iter_frames(clip.path, start=30, stop=40))
    assert len(fallback) == 10
    assert all(np.array_equal(a, b) for a, b in zip(fallback, expected, strict=True))


def test_iter_frames_numbers_variable_frame_rate_by_position(
    tmp_path: Path, make_frame: Helper, encode_raw: Helper, read_index: Helper
) -> None:
    # Irregular gaps between timestamps: index i is still the i-th frame shown, not time * fps.
    timestamps = [sum(1 + (k % 3) for k in range(i)) for i in range(30)]
    source = [make_frame(i, 160, 90) for i in range(30)]
    path = tmp_path / "vfr.mp4"
    encode_raw(
        path,
        source,
        codec="h264",
        container_format="mp4",
        timestamps=timestamps,
        options={"g": "6"},
    )
    full = list(iter_frames(path))
    assert [read_index(f) for f in full] == list(range(30))
    part = list(iter_frames(path, start=20, stop=26))
    assert [read_index(f) for f in part] == list(range(20, 26))
    assert all(np.array_equal(a, b) for a, b in zip(part, full[20:26], strict=True))


def test_iter_frames_edges(clip: Any) -> None:
    count = len(clip.frames)
    assert list(iter_frames(clip.path, start=count)) == []
    assert list(iter_frames(clip.path, start=5, stop=5)) == []
    assert len(list(iter_frames(clip.path, start=count - 2, stop=count + 10))) == 2
    with pytest.raises(ValueError):
        iter_frames(clip.path, start=-1)
    with pytest.raises(ValueError):
        iter_frames(clip.path, start=5, stop=4)


def test_ntsc_frame_rate_round_trip(tmp_path: Path, write_clip: Helper, psnr: Psnr) -> None:
    fps = Fraction(30000, 1001)
    path = tmp_path / "ntsc.mp4"
    source = write_clip(path, 30, width=160, height=90, fps=fps, gop_size=8)
    info = probe(path)
    assert info.fps == fps
    assert info.frame_count == 30
    assert info.duration == pytest.approx(30 * 1001 / 30000)
    full = list(iter_frames(path))
    assert len(full) == 30
    assert all(psnr(a, b) >= 35 for a, b in zip(full, source, strict=True))
    part = list(iter_frames(path, start=11, stop=20))
    assert len(part) == 9
    assert all(np.array_equal(a, b) for a, b in zip(part, full[11:20], strict=True))


def test_writer_rejects_bad_sizes_and_frames(tmp_path: Path) -> None:
    fps = Fraction(24)
    with pytest.raises(ValueError):
        VideoWriter(tmp_path / "odd.mp4", width=321, height=180, fps=fps)
    with pytest.raises(ValueError):
        VideoWriter(tmp_path / "odd.mp4", width=320, height=181, fps=fps)
    writer = VideoWriter(tmp_path / "w.mp4", width=64, height=32, fps=fps)
    with pytest.raises(ValueError):
        writer.write(np.zeros((64, 32, 3), np.uint8))  # transposed
    with pytest.raises(ValueError):
        writer.write(np.zeros((32, 64, 4), np.uint8))
    with pytest.raises(ValueError):
        writer.write(np.zeros((32, 64, 3), np.float32))
    writer.write(np.zeros((32, 64, 3), np.uint8))
    assert writer.frames_written == 1
    writer.close()
    writer.close()  # idempotent
    assert probe(tmp_path / "w.mp4").frame_count == 1


def test_probe_rejects_non_video(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n" * 100)
    for path in (text, tmp_path / "missing.mp4"):
        with pytest.raises(MediaError) as info:
            probe(path)
        assert info.value.code == "invalid_media"


# --- frame transforms ----------------------------------------------------------------------


def _three_bands() -> np.ndarray:
    """16:9, red left of the central square, green square, blue right of it."""
    frame = np.zeros((180, 320, 3), np.uint8)
    frame[:, :70] = (255, 0, 0)
    frame[:, 70:250] = (0, 255, 0)
    frame[:, 250:] = (0, 0, 255)
    return frame


@pytest.mark.parametrize("size", [90, 400])  # shrink (INTER_AREA) and enlarge (Lanczos)
def test_fit_frame_crops_to_the_centre(size: int) -> None:
    out = fit_frame(_three_bands(), size, size)
    assert out.shape == (size, size, 3)
    assert np.array_equal(out[..., 1], np.full((size, size), 255, np.uint8))
    assert out[..., 0].max() == 0 and out[..., 2].max() == 0


def test_fit_frame_crops_height_and_is_a_noop_at_size(make_frame: Helper) -> None:
    square = np.zeros((200, 200, 3), np.uint8)
    square[:50] = 255  # top quarter white: outside a 16:9 centre crop (rows 44..156)
    out = fit_frame(square, 320, 180)
    assert out.shape == (180, 320, 3)
    assert out[20:].max() == 0
    frame = make_frame(0)
    assert fit_frame(frame, frame.shape[1], frame.shape[0]) is frame


def _laplacian_variance(rgb: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def test_enhancer_upscales_and_is_sharper_than_bilinear(psnr: Psnr) -> None:
    yy, xx = np.mgrid[0:360, 0:640]
    grey = (((yy // 24 + xx // 24) % 2) * 200 + 20).astype(np.uint8)  # hard edges
    frame = np.stack([grey, grey, 255 - grey], axis=-1)
    enhancer = Enhancer(in_width=640, in_height=360, out_width=1920, out_height=1080, fps=Fraction(24))
    out = enhancer.process(frame)
    assert out.shape == (1080, 1920, 3) and out.dtype == np.uint8
    bilinear = cv2.resize(frame, (1920, 1080), interpolation=cv2.INTER_LINEAR)
    assert psnr(out, bilinear) > 25  # the same picture…
    assert _laplacian_variance(out) > 1.1 * _laplacian_variance(bilinear)  # …but sharper
    assert np.array_equal(enhancer.process(frame), out)  # and again for the next frame
    with pytest.raises(ValueError):
        enhancer.process(np.zeros((360, 641, 3), np.uint8))


def test_enhancer_crops_when_the_aspect_ratio_changes() -> None:
    enhancer = Enhancer(in_width=320, in_height=180, out_width=360, out_height=360, fps=24)
    out = enhancer.process(_three_bands())
    assert out.shape == (360, 360, 3)
    centre = out[:, 20:-20]  # away from the unsharp halo at the crop edges
    assert centre[..., 1].min() > 240 and centre[..., 0].max() < 15 and centre[..., 2].max() < 15


def test_write_thumbnail_keeps_aspect(tmp_path: Path, make_frame: Helper) -> None:
    path = tmp_path / "thumb.jpg"
    write_thumbnail(make_frame(3), path, max_width=160)
    with Image.open(path) as image:
        assert image.format == "JPEG"
        assert image.size == (160, 90)
    write_thumbnail(make_frame(3), path)  # narrower than max_width: not enlarged
    with Image.open(path) as image:
        assert image.size == (320, 180)


# --- uploads -------------------------------------------------------------------------------


def test_normalize_h264_mp4_is_a_lossless_remux(clip: Any, tmp_path: Path) -> None:
    dst = tmp_path / "norm.mp4"
    info = normalize_upload(clip.path, dst)
    assert (info.codec, info.pix_fmt, info.frame_count) == ("h264", "yuv420p", len(clip.frames))
    assert info.fps == clip.fps
    assert _moov_before_mdat(dst)
    for a, b in zip(iter_frames(dst), iter_frames(clip.path), strict=True):
        assert np.array_equal(a, b)


def test_normalize_vp9_webm_with_odd_size_reencodes(
    tmp_path: Path, make_frame: Helper, encode_raw: Helper, psnr: Psnr
) -> None:
    source = [make_frame(i, 161, 91) for i in range(10)]
    src = tmp_path / "upload.webm"
    options = {"deadline": "realtime", "cpu-used": "8", "crf": "20", "b": "0"}
    encode_raw(src, source, codec="libvpx-vp9", container_format="webm", options=options)
    assert probe(src).codec == "vp9"
    dst = tmp_path / "norm.mp4"
    info = normalize_upload(src, dst)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.width, info.height, info.frame_count, info.fps) == (160, 90, 10, Fraction(24))
    assert _moov_before_mdat(dst)
    decoded = list(iter_frames(dst))
    assert len(decoded) == 10
    webm_full = list(iter_frames(src))
    webm_part = list(iter_frames(src, start=4, stop=7))  # seeking works in WebM too
    assert all(np.array_equal(a, b) for a, b in zip(webm_part, webm_full[4:7], strict=True))
    for got, want in zip(decoded, source, strict=True):
        assert psnr(got, want[:90, :160]) >= 30


def test_normalize_mov_and_non_browser_h264(tmp_path: Path, make_frame: Helper, encode_raw: Helper) -> None:
    source = [make_frame(i, 160, 90) for i in range(12)]
    mov = tmp_path / "upload.mov"
    encode_raw(mov, source, codec="h264", container_format="mov")
    info = normalize_upload(mov, tmp_path / "from_mov.mp4")
    assert (info.codec, info.frame_count, info.width, info.height) == ("h264", 12, 160, 90)
    for a, b in zip(iter_frames(tmp_path / "from_mov.mp4"), iter_frames(mov), strict=True):
        assert np.array_equal(a, b)  # remuxed, not re-encoded
    yuv444 = tmp_path / "yuv444.mp4"  # H.264, but in a pixel format browsers do not play
    encode_raw(yuv444, source, codec="h264", container_format="mp4", pix_fmt="yuv444p")
    info = normalize_upload(yuv444, tmp_path / "from_444.mp4")
    assert (info.codec, info.pix_fmt, info.frame_count) == ("h264", "yuv420p", 12)


def test_normalize_rejects_what_is_not_a_video(clip: Any, tmp_path: Path, make_frame: Helper) -> None:
    text = tmp_path / "upload.mp4"
    text.write_text("definitely not a video " * 200)
    jpeg = tmp_path / "photo.jpg"
    Image.fromarray(make_frame(0)).save(jpeg)
    data = clip.path.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    dst = tmp_path / "out.mp4"
    for bad in (text, jpeg, truncated, tmp_path / "missing.mp4"):
        with pytest.raises(MediaError):
            normalize_upload(bad, dst)
        assert not dst.exists()


def test_normalize_rejects_mp4_cut_at_a_packet_boundary(clip: Any, tmp_path: Path) -> None:
    # The sample table promises 72 frames; the data holds fewer, but no packet is partial.
    with av.open(str(clip.path)) as container:
        positions = [p.pos for p in container.demux(video=0) if p.size]
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.path.read_bytes()[: positions[40]])
    with pytest.raises(MediaError, match="truncated"):
        normalize_upload(cut, tmp_path / "out.mp4")
