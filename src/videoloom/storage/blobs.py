"""Blob storage for videos and thumbnails: local disk (embedded default).

Writes are atomic: the file is produced elsewhere under the data directory,
fsynced, then renamed into place, so a reader (or a crash) never sees half a
video. Keys are ``<tenant>/<task-id>/<name>``, chosen by the server, never by
the client.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

__all__ = ["LocalBlobStore", "blob_key"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def blob_key(tenant_id: str, task_id: str, name: str) -> str:
    return "/".join(_UNSAFE.sub("_", part) for part in (tenant_id, task_id, name))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"blob key escapes the store: {key!r}")
        return path

    def put_file(self, key: str, source: Path) -> None:
        """Move ``source`` into place durably: fsync data, rename, fsync the directory."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(source, "rb+") as handle:
            os.fsync(handle.fileno())
        staging = target.with_name(f".{target.name}.partial")
        shutil.move(source, staging)  # a rename when on the same filesystem
        os.replace(staging, target)
        _fsync_dir(target.parent)

    def put_bytes(self, tenant_id: str, task_id: str, name: str, content: bytes) -> str:
        """Store small bytes (an uploaded reference image) durably; returns the key."""
        key = blob_key(tenant_id, task_id, name)
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.partial")
        with open(staging, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staging, target)
        _fsync_dir(target.parent)
        return key

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete_task(self, tenant_id: str, task_id: str) -> None:
        """Remove every file of one task (video, thumbnail, spritesheet, uploaded images)."""
        shutil.rmtree(self.path(blob_key(tenant_id, task_id, "")), ignore_errors=True)
