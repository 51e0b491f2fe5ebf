"""Video in and out: probing, frame-accurate decoding, H.264 encoding, resizing and uploads.

PyAV does all encoding and decoding (OpenCV cannot write H.264); OpenCV and
FFmpeg filter graphs do the image maths. Frames are RGB ``uint8`` numpy arrays
of shape ``(height, width, 3)`` everywhere. Failures of the media libraries are
raised as ``videoloom.core.errors.MediaError``.
"""

from __future__ import annotations

from videoloom.media._audio import SoundSegment, add_audio
from videoloom.media._colour import BT709, ColourTags, read_colour, rgb_to_yuv420p
from videoloom.media._enhance import Enhancer
from videoloom.media._frames import iter_frames, iter_video_frames
from videoloom.media._probe import VideoInfo, probe
from videoloom.media._smartcut import NoSmartCut, SmartCut, SmartCutWriter, plan_smart_cut
from videoloom.media._thumbnail import Spritesheet, write_thumbnail
from videoloom.media._transform import fit_frame
from videoloom.media._upload import normalize_upload
from videoloom.media._writer import VideoWriter

__all__ = [
    "BT709",
    "ColourTags",
    "Enhancer",
    "NoSmartCut",
    "SmartCut",
    "SmartCutWriter",
    "SoundSegment",
    "Spritesheet",
    "VideoInfo",
    "VideoWriter",
    "add_audio",
    "fit_frame",
    "iter_frames",
    "iter_video_frames",
    "normalize_upload",
    "plan_smart_cut",
    "probe",
    "read_colour",
    "rgb_to_yuv420p",
    "write_thumbnail",
]
