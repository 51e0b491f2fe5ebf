"""Uploads: normalize a user's file to browser-playable H.264 MP4 and store it durably."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from videoloom.core.errors import MediaError
from videoloom.core.service import UploadedVideo
from videoloom.media import Spritesheet, VideoInfo, iter_frames, normalize_upload, probe, write_thumbnail
from videoloom.storage.blobs import BlobStore, blob_key

__all__ = ["Ingestor"]


class Ingestor:
    def __init__(
        self, *, blobs: BlobStore, tmp_dir: Path, max_dimension: int = 4096, max_seconds: float = 600
    ) -> None:
        self._blobs = blobs
        self._tmp_dir = tmp_dir
        self._max_dimension = max_dimension
        self._max_seconds = max_seconds

    def _check_limits(self, info: VideoInfo) -> None:
        """Refuse what would cost too much before decoding a single frame."""
        if max(info.width, info.height) > self._max_dimension:
            size = f"{info.width}x{info.height}"
            raise MediaError(f"the video is {size}; the largest side allowed is {self._max_dimension} px")
        if info.duration > self._max_seconds:
            limit = f"{self._max_seconds:.0f} s"
            raise MediaError(f"the video is {info.duration:.0f} s long; the limit is {limit}")

    def _ingest_sync(self, upload: Path, tenant_id: str, task_id: str) -> UploadedVideo:
        self._tmp_dir.mkdir(parents=True, exist_ok=True)
        stem = self._tmp_dir / f"upload-{uuid.uuid4().hex}"
        video_tmp, thumb_tmp = stem.with_suffix(".mp4"), stem.with_suffix(".jpg")
        sprites_tmp = stem.with_name(stem.name + "-sprites.jpg")
        try:
            self._check_limits(probe(upload))
            info = normalize_upload(upload, video_tmp)
            at = min(info.frame_count - 1, int(info.fps))
            sheet = Spritesheet(info.frame_count)
            for index, frame in enumerate(iter_frames(video_tmp)):
                sheet.offer(index, frame)
                if index == at:
                    write_thumbnail(frame, thumb_tmp)
            sheet.write(sprites_tmp)
            video_key = blob_key(tenant_id, task_id, "video.mp4")
            thumbnail_key = blob_key(tenant_id, task_id, "thumbnail.jpg")
            self._blobs.put_file(thumbnail_key, thumb_tmp)
            self._blobs.put_file(blob_key(tenant_id, task_id, "spritesheet.jpg"), sprites_tmp)
            self._blobs.put_file(video_key, video_tmp)
        finally:
            for path in (video_tmp, thumb_tmp, sprites_tmp):
                path.unlink(missing_ok=True)
        return UploadedVideo(
            duration=info.duration,
            width=info.width,
            height=info.height,
            fps=float(info.fps),
            video_key=video_key,
            thumbnail_key=thumbnail_key,
        )

    async def __call__(self, upload: Path, tenant_id: str, task_id: str) -> UploadedVideo:
        return await asyncio.to_thread(self._ingest_sync, upload, tenant_id, task_id)
