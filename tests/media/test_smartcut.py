"""Smart cut mechanics: copy the kept packets up to a clean keyframe, re-encode from there, join.

Every check decodes the result: frames before the join must be bit-identical to
the source's own decode, re-encoded ones close to it, timing exact, and the
file must decode end to end without a single decoder error.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.logging
import numpy as np
import pytest

from tests.media.sources import decode, encode_h264, has_b_frames, packets
from videoloom.media import NoSmartCut, SmartCutWriter, normalize_upload, plan_smart_cut
from videoloom.media._smartcut import (
    _parameter_set_id,
    _parse_avcc,
    annexb_to_length_prefixed,
    split_annexb,
)

Psnr = Callable[[np.ndarray, np.ndarray], float]
Helper = Callable[..., Any]

FPS = Fraction(24)
W, H = 320, 180
GOP = 30  # keyframes at 0, 30, 60, 90


def smart_cut(
    source: Path, out: Path, *, keep: int, new: Sequence[np.ndarray], previews: Sequence[int] = ()
) -> tuple[Any, dict[int, np.ndarray]]:
    cut = plan_smart_cut(source, keep=keep, width=W, height=H, fps=FPS)
    seen: dict[int, np.ndarray] = {}
    with SmartCutWriter(out, cut, preset="veryfast", crf=16, gop_size=48) as writer:
        writer.copy_prefix(previews, lambda i, f: seen.__setitem__(i, f.to_ndarray(format="rgb24")))
        for decoded in writer.source_frames():
            writer.write_frame(decoded)
        for frame in new:
            writer.write(frame)
        assert writer.frames_written == keep + len(new)
    return cut, seen


@pytest.fixture(scope="module")
def frames_96(make_frame: Helper) -> list[np.ndarray]:
    return [make_frame(i) for i in range(96)]


@pytest.fixture(scope="module", params=[True, False], ids=["bt709", "untagged"])
def bframe_source(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, frames_96: Any
) -> Path:
    path = tmp_path_factory.mktemp("smartcut") / f"source-{request.param}.mp4"
    return encode_h264(path, frames_96, gop=GOP, tagged_709=request.param)


def test_source_really_has_b_frames_and_the_expected_keyframes(
    bframe_source: Path, keyframe_indices: Helper
) -> None:
    assert has_b_frames(bframe_source)
    assert keyframe_indices(bframe_source) == [0, 30, 60, 90]


@pytest.mark.parametrize(("keep", "keyframe"), [(50, 30), (60, 60), (61, 60), (96, 90), (30, 30)])
def test_plan_picks_the_last_clean_keyframe_at_or_before_the_cut(
    bframe_source: Path, keep: int, keyframe: int
) -> None:
    cut = plan_smart_cut(bframe_source, keep=keep, width=W, height=H, fps=FPS)
    assert (cut.keep, cut.keyframe) == (keep, keyframe)
    assert cut.clean_keyframes == tuple(k for k in (0, 30, 60, 90) if k < keyframe)
    assert cut.step * cut.time_base == 1 / FPS


def test_smart_cut_is_frame_exact_across_the_join(
    bframe_source: Path, tmp_path: Path, make_frame: Helper, read_index: Helper, psnr: Psnr
) -> None:
    keep, new = 50, [make_frame(100 + i) for i in range(30)]
    out = tmp_path / "cut.mp4"
    cut, _ = smart_cut(bframe_source, out, keep=keep, new=new)
    assert cut.keyframe == 30

    source, _, _, source_errors = decode(bframe_source)
    frames, rate, declared, errors = decode(out)
    assert not source_errors and not errors, errors
    assert len(frames) == declared == keep + len(new)
    assert rate == 24  # exactly: no gap or overlap at the join
    # Copied: bit-identical to the source's decode, and the very same bytes.
    for i in range(cut.keyframe):
        assert np.array_equal(frames[i], source[i]), f"copied frame {i} differs"
    assert [p[3] for p in packets(out)[: cut.keyframe]] == [p[3] for p in packets(bframe_source)[:30]]
    # Re-encoded from the keyframe to the cut: the source's frames, in order, close to it.
    for i in range(cut.keyframe, keep):
        assert read_index(frames[i]) == i
        assert psnr(frames[i], source[i]) >= 35, f"frame {i}: {psnr(frames[i], source[i]):.1f} dB"
    # Appended.
    for j, want in enumerate(new):
        assert read_index(frames[keep + j]) == 100 + j
        assert psnr(frames[keep + j], want) >= 35
    data = out.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat"), "not +faststart"


def test_the_join_carries_both_parameter_sets_with_distinct_ids(bframe_source: Path, tmp_path: Path) -> None:
    out = tmp_path / "cut.mp4"
    cut, _ = smart_cut(bframe_source, out, keep=40, new=[np.zeros((H, W, 3), np.uint8)] * 3)
    with av.open(str(out)) as container:
        sps, pps, _ = _parse_avcc(container.streams.video[0].codec_context.extradata or b"")
    assert [_parameter_set_id(n) for n in sps] == [0, cut.sps_id]
    assert [_parameter_set_id(n) for n in pps] == [0, cut.sps_id]
    assert cut.sps_id != 0


def test_timestamps_continue_one_frame_apart(bframe_source: Path, tmp_path: Path) -> None:
    out = tmp_path / "cut.mp4"
    cut, _ = smart_cut(bframe_source, out, keep=45, new=[np.zeros((H, W, 3), np.uint8)] * 20)
    rows = packets(out)
    dts = [d for _, d, _, _ in rows]
    assert all(b - a == cut.step for a, b in itertools.pairwise(dts)), "dts jump at the join"
    assert sorted(p for p, *_ in rows) == [i * cut.step for i in range(65)]
    assert all(d <= p for p, d, *_ in rows)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the ffmpeg CLI is not installed")
def test_ffmpeg_cli_decodes_the_join_without_errors(bframe_source: Path, tmp_path: Path) -> None:
    out = tmp_path / "cut.mp4"
    smart_cut(bframe_source, out, keep=70, new=[np.full((H, W, 3), 90, np.uint8)] * 10)
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(out), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_cut_on_a_keyframe_copies_everything_kept(bframe_source: Path, tmp_path: Path) -> None:
    out = tmp_path / "cut.mp4"
    cut, _ = smart_cut(bframe_source, out, keep=60, new=[np.zeros((H, W, 3), np.uint8)] * 5)
    assert cut.keyframe == 60
    source, _, _, _ = decode(bframe_source)
    frames, rate, _, errors = decode(out)
    assert not errors and rate == 24 and len(frames) == 65
    assert all(np.array_equal(frames[i], source[i]) for i in range(60))


def test_previews_are_the_exact_frames_decoded_from_the_copied_packets(
    bframe_source: Path, tmp_path: Path
) -> None:
    wanted = [0, 5, 24, 29, 30, 47, 59]
    order: list[int] = []
    cut = plan_smart_cut(bframe_source, keep=70, width=W, height=H, fps=FPS)
    seen: dict[int, np.ndarray] = {}

    def on_preview(index: int, frame: av.VideoFrame) -> None:
        order.append(index)
        seen[index] = frame.to_ndarray(format="rgb24")

    with SmartCutWriter(tmp_path / "p.mp4", cut) as writer:
        writer.copy_prefix([*wanted, 65], on_preview)  # 65 is not copied: ignored
        for frame in writer.source_frames():
            writer.write_frame(frame)
    source, _, _, _ = decode(bframe_source)
    assert order == wanted
    assert all(np.array_equal(seen[i], source[i]) for i in wanted)


def test_refuses_what_it_cannot_copy(
    bframe_source: Path,
    long_gop_clip: Any,
    tmp_path: Path,
    make_frame: Helper,
    encode_raw: Helper,
) -> None:
    def reason(path: Path, **kwargs: Any) -> str:
        args = {"keep": 50, "width": W, "height": H, "fps": FPS, **kwargs}
        with pytest.raises(NoSmartCut) as info:
            plan_smart_cut(path, **args)
        return str(info.value)

    assert "640x360" in reason(bframe_source, width=640, height=360)
    assert "fps" in reason(bframe_source, fps=Fraction(25))
    assert "no clean keyframe" in reason(bframe_source, keep=29)
    assert "no clean keyframe" in reason(bframe_source, keep=0)
    # One keyframe (libx264's default GOP of 250 over 72 frames): nothing to copy.
    assert "no clean keyframe" in reason(long_gop_clip.path)

    # Open GOPs: B-frames after the keyframes at 30 and 60 show frames before them.
    open_gop = encode_h264(
        tmp_path / "open-gop.mp4",
        [make_frame(i) for i in range(96)],
        gop=30,
        options={"x264-params": "open-gop=1"},
    )
    assert "no clean keyframe" in reason(open_gop, keep=70)
    assert plan_smart_cut(open_gop, keep=96, width=W, height=H, fps=FPS).keyframe == 90  # no leading frames

    frames = [make_frame(i) for i in range(24)]
    webm = tmp_path / "vp9.webm"
    encode_raw(webm, frames, codec="libvpx-vp9", container_format="webm")
    assert "vp9" in reason(webm)

    vfr = tmp_path / "vfr.mp4"
    encode_raw(vfr, frames, codec="h264", container_format="mp4", timestamps=[*range(12), *range(13, 25)])
    message = reason(vfr, keep=20, fps=probe_fps(vfr))  # its average rate: 23.04 fps
    assert "whole number of ticks" in message or "evenly spaced" in message

    yuv444 = tmp_path / "444.mp4"
    encode_raw(yuv444, frames, codec="h264", container_format="mp4", pix_fmt="yuv444p")
    assert "yuv444p" in reason(yuv444)


def probe_fps(path: Path) -> Fraction:
    with av.open(str(path)) as container:
        rate = container.streams.video[0].average_rate
        assert rate is not None
        return Fraction(rate)


def test_annexb_is_split_and_length_prefixed() -> None:
    stream = (
        b"\x00\x00\x00\x01\x67\x64\x00\x1f"
        + b"\x00\x00\x01\x68\xee"
        + b"\x00\x00\x00\x01\x65\x88\x84\x00\x03\x01\x00"
    )
    assert split_annexb(stream) == [b"\x67\x64\x00\x1f", b"\x68\xee", b"\x65\x88\x84\x00\x03\x01"]
    assert annexb_to_length_prefixed(stream) == (
        b"\x00\x00\x00\x04\x67\x64\x00\x1f"
        + b"\x00\x00\x00\x02\x68\xee"
        + b"\x00\x00\x00\x06\x65\x88\x84\x00\x03\x01"
    )


def test_an_uploaded_source_can_be_smart_cut(bframe_source: Path, tmp_path: Path) -> None:
    """The real flow: uploads are remuxed by ``normalize_upload``, then extended."""
    uploaded = tmp_path / "upload.mp4"
    normalize_upload(bframe_source, uploaded)
    out = tmp_path / "cut.mp4"
    cut, _ = smart_cut(uploaded, out, keep=75, new=[np.full((H, W, 3), 60, np.uint8)] * 12)
    assert cut.keyframe == 60
    source, _, _, _ = decode(uploaded)
    frames, rate, declared, errors = decode(out)
    assert not errors and rate == 24 and len(frames) == declared == 87
    assert all(np.array_equal(frames[i], source[i]) for i in range(60))
