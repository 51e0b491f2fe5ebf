"""Sound: uploads keep their first audio track (AAC copied, others encoded to AAC), extends keep
the sound of the part they keep and stop it at the cut, in sync with the picture."""

from __future__ import annotations

import shutil
import subprocess
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.media.sources import (
    SOUND_RATE,
    decode,
    decode_audio,
    dominant_hz,
    encode_h264,
    encode_with_sound,
    packets,
)
from tests.support import clip_frame
from videoloom.engines.motion import MotionEngine
from videoloom.media import SoundSegment, add_audio, normalize_upload
from videoloom.worker.render import RenderOutputs, RenderPlan, render

W, H = 320, 180


def frames(seconds: float) -> list[np.ndarray]:
    return [clip_frame(i, W, H) for i in range(round(seconds * 24))]


@pytest.fixture(scope="module")
def with_sound(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sound")
    return {
        "aac": encode_with_sound(folder / "aac.mp4", frames(4)),
        "opus": encode_with_sound(
            folder / "opus.webm",
            frames(4),
            tone_hz=660,
            container="webm",
            video_codec="libvpx-vp9",
            audio_codec="libopus",
        ),
        "late": encode_with_sound(folder / "late.mp4", frames(4), sound_delay=1.0, sound_seconds=2.0),
        "long": encode_with_sound(folder / "long.mp4", frames(2), sound_seconds=5.0),
        "silent": encode_h264(folder / "silent.mp4", frames(4), gop=24),
    }


def seconds(samples: np.ndarray) -> float:
    return samples.shape[1] / SOUND_RATE


def test_add_audio_copies_aac_and_cuts_it_before_the_cut(with_sound: dict[str, Path], tmp_path: Path) -> None:
    picture = with_sound["silent"]  # 96 frames, no sound
    out = tmp_path / "out.mp4"
    assert add_audio(picture, out, [SoundSegment(with_sound["aac"], end=2.0)])
    sound = decode_audio(out)
    assert sound is not None and sound[2] == "aac"
    samples, start, _ = sound
    assert 2.0 - 0.03 <= seconds(samples) <= 2.0 and start == 0.0
    assert dominant_hz(samples[:, SOUND_RATE // 4 : SOUND_RATE]) == pytest.approx(440, abs=2)
    # The picture is copied packet for packet.
    assert packets(out) == packets(picture)
    original, _, _ = decode_audio(with_sound["aac"])  # type: ignore[misc]
    n = samples.shape[1]
    assert np.array_equal(samples, original[:, :n])  # copied, not re-encoded: the same samples


def test_add_audio_encodes_other_codecs_to_aac(with_sound: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    assert add_audio(with_sound["silent"], out, [SoundSegment(with_sound["opus"])])
    samples, start, codec = decode_audio(out)  # type: ignore[misc]
    assert codec == "aac" and start == pytest.approx(0, abs=0.03)
    assert 4.0 - 0.03 <= seconds(samples) <= 4.0 + 0.03
    assert dominant_hz(samples[:, SOUND_RATE : 2 * SOUND_RATE]) == pytest.approx(660, abs=2)
    assert add_audio(with_sound["silent"], out, [SoundSegment(with_sound["opus"], end=1.5)])
    cut, _, _ = decode_audio(out)  # type: ignore[misc]
    assert 1.5 - 0.03 <= seconds(cut) <= 1.5 + 0.03


def test_sound_that_starts_late_stays_in_sync(with_sound: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    assert add_audio(with_sound["silent"], out, [SoundSegment(with_sound["late"])])
    _, start, _ = decode_audio(out)  # type: ignore[misc]
    assert start == pytest.approx(1.0, abs=0.03)


def test_no_sound_no_track(with_sound: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    assert not add_audio(with_sound["aac"], out, [SoundSegment(with_sound["silent"])])
    assert not out.exists()
    none_before_the_cut = [SoundSegment(with_sound["late"], end=0.5)]
    assert not add_audio(with_sound["silent"], out, none_before_the_cut)
    assert not out.exists()


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def test_segments_are_placed_in_time_with_silence_between(
    with_sound: dict[str, Path], tmp_path: Path
) -> None:
    """An extend's kept sound, then a relay's new sound after the cut; a gap is silence."""
    out = tmp_path / "out.mp4"
    kept = SoundSegment(with_sound["aac"], end=2.0)
    new = SoundSegment(with_sound["opus"], start=1.0, end=3.0, at=2.0)  # 660 Hz from its second 1
    assert add_audio(with_sound["silent"], out, [new, kept])  # any order: placed by ``at``
    samples, start, codec = decode_audio(out)  # type: ignore[misc]
    assert codec == "aac" and start == pytest.approx(0, abs=0.03)
    assert abs(seconds(samples) - 4.0) <= 0.05
    assert dominant_hz(samples[:, SOUND_RATE // 2 : SOUND_RATE * 3 // 2]) == pytest.approx(440, abs=2)
    assert dominant_hz(samples[:, SOUND_RATE * 5 // 2 : SOUND_RATE * 7 // 2]) == pytest.approx(660, abs=2)

    late = SoundSegment(with_sound["late"], start=1.0, at=1.5)  # its sound starts at its second 1
    assert add_audio(with_sound["silent"], out, [late])
    samples, _, _ = decode_audio(out)  # type: ignore[misc]
    assert rms(samples[:, SOUND_RATE // 10 : SOUND_RATE * 14 // 10]) < 0.01  # silence before 1.5 s
    assert rms(samples[:, SOUND_RATE * 2 : SOUND_RATE * 3]) > 0.1
    assert dominant_hz(samples[:, SOUND_RATE * 2 : SOUND_RATE * 3]) == pytest.approx(440, abs=2)


def test_uploads_keep_their_sound(with_sound: dict[str, Path], tmp_path: Path) -> None:
    for name, hz in (("aac", 440), ("opus", 660)):
        stored = tmp_path / f"{name}.mp4"
        info = normalize_upload(with_sound[name], stored)
        assert info.frame_count == 96
        samples, _, codec = decode_audio(stored)  # type: ignore[misc]
        assert codec == "aac" and abs(seconds(samples) - 4.0) <= 0.03, name
        assert dominant_hz(samples[:, SOUND_RATE : 2 * SOUND_RATE]) == pytest.approx(hz, abs=2)
    # Sound longer than the picture ends with it; no sound, no track.
    normalize_upload(with_sound["long"], tmp_path / "long.mp4")
    samples, _, _ = decode_audio(tmp_path / "long.mp4")  # type: ignore[misc]
    assert seconds(samples) <= 2.0 + 0.001
    normalize_upload(with_sound["silent"], tmp_path / "silent.mp4")
    assert decode_audio(tmp_path / "silent.mp4") is None
    assert not list(tmp_path.glob("*.video.mp4"))  # the silent intermediate is gone


@pytest.mark.parametrize("upscale", [False, True], ids=["smart-cut", "upscaled"])
def test_an_extend_keeps_the_sound_of_the_kept_part(
    with_sound: dict[str, Path], tmp_path: Path, upscale: bool
) -> None:
    source = tmp_path / "source.mp4"
    normalize_upload(with_sound["aac"], source)
    outputs = RenderOutputs(
        video=tmp_path / "o.mp4", thumbnail=tmp_path / "o.jpg", spritesheet=tmp_path / "s.jpg"
    )
    plan = RenderPlan(
        mode="extend",
        width=W * 2 if upscale else W,
        height=H * 2 if upscale else H,
        fps=Fraction(24),
        new_seconds=2,
        prompt="on",
        seed=1,
        source=source,
        start_time=3,
        upscale=upscale,
    )
    result = render(
        plan, MotionEngine(), outputs=outputs, progress=lambda f: None, cancelled=threading.Event()
    )
    assert result.frame_count == 72 + 48
    assert len(decode(outputs.video)[0]) == 120
    samples, start, codec = decode_audio(outputs.video)  # type: ignore[misc]
    assert codec == "aac" and start == 0.0
    assert 3.0 - 0.03 <= seconds(samples) <= 3.0  # the kept part's sound; the new seconds are silent
    assert dominant_hz(samples[:, SOUND_RATE : 2 * SOUND_RATE]) == pytest.approx(440, abs=2)
    with av.open(str(outputs.video)) as container:  # the picture still plays to the end
        assert float(container.streams.video[0].frames / 24) == pytest.approx(5.0)


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe (Debian's ffmpeg) checks the file apart")
def test_ffprobe_reads_both_streams(with_sound: dict[str, Path], tmp_path: Path) -> None:
    stored = tmp_path / "stored.mp4"
    normalize_upload(with_sound["opus"], stored)
    kinds = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name",
            "-of",
            "csv=p=0",
            str(stored),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(kinds) == ["aac,audio", "h264,video"]
