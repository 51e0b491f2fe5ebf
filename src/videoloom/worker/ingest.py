"""Uploads: normalize a user's file to browser-playable H.264 MP4 and store it durably."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from videoloom.core.service import UploadedVideo
from videoloom.media import iter_frames, normalize_upload, write_thumbnail
from videoloom.storage.blobs import LocalBlobStore, blob_key

__all__ = ["Ingestor"]


class Ingestor:
    def __init__(self, *, blobs: LocalBlobStore, tmp_dir: Path) -> None:
        self._blobs = blobs
        self._tmp_dir = tmp_dir

    def _ingest_sync(self, upload: Path, tenant_id: str, task_id: str) -> UploadedVideo:
        self._tmp_dir.mkdir(parents=True, exist_ok=True)
        stem = self._tmp_dir / f"upload-{uuid.uuid4().hex}"
        video_tmp, thumb_tmp = stem.with_suffix(".mp4"), stem.with_suffix(".jpg")
        try:
            info = normalize_upload(upload, video_tmp)
            at = min(info.frame_count - 1, int(info.fps))
            write_thumbnail(next(iter_frames(video_tmp, start=at, stop=at + 1)), thumb_tmp)
            video_key = blob_key(tenant_id, task_id, "video.mp4")
            thumbnail_key = blob_key(tenant_id, task_id, "thumbnail.jpg")
            self._blobs.put_file(thumbnail_key, thumb_tmp)
            self._blobs.put_file(video_key, video_tmp)
        finally:
            video_tmp.unlink(missing_ok=True)
            thumb_tmp.unlink(missing_ok=True)
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
