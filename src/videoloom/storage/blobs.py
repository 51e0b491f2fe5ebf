"""Blob storage for videos, thumbnails and uploaded images.

Two backends behind one small interface (``BlobStore``): local disk (the
embedded default) and an S3-compatible bucket through obstore. Writes are
atomic in both: on disk the file is fsynced and renamed into place; in a bucket
an object appears only when its upload completes. A reader (or a crash) never
sees half a video. Keys are ``<tenant>/<task-id>/<name>``, chosen by the
server, never by the client.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

__all__ = [
    "RELAY_INPUT_NAME",
    "BlobStore",
    "LocalBlobStore",
    "ObjectBlobStore",
    "blob_key",
    "open_blob_store",
]

RELAY_INPUT_NAME = "relay-input.mp4"
"""The clip a relay task published for a ``signed_url`` upstream, among the task's own files."""


class BlobStore(Protocol):
    def put_file(self, key: str, source: Path) -> None:
        """Store ``source`` under ``key`` durably; ``source`` is consumed."""

    def put_bytes(self, tenant_id: str, task_id: str, name: str, content: bytes) -> str: ...
    def read_bytes(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def size(self, key: str) -> int: ...
    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` up to (not including) ``end``."""

    def local_path(self, key: str) -> Path | None:
        """The file itself when the store is a local disk, else None."""

    def local_copy(self, key: str, tmp_dir: Path) -> contextlib.AbstractContextManager[Path]:
        """A local file with the blob's bytes for as long as the context lasts."""

    def presigned_url(self, key: str, ttl_seconds: int) -> str | None:
        """A time-limited URL the client can fetch directly, where the store has them."""

    def delete(self, key: str) -> None:
        """Remove one blob; a missing one is no error."""

    def delete_task(self, tenant_id: str, task_id: str) -> None: ...


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
    """Files under one directory (``<data_dir>/blobs``)."""

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

    def size(self, key: str) -> int:
        return self.path(key).stat().st_size

    def read_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def read_range(self, key: str, start: int, end: int) -> bytes:
        with open(self.path(key), "rb") as handle:
            handle.seek(start)
            return handle.read(end - start)

    def local_path(self, key: str) -> Path | None:
        return self.path(key)

    @contextlib.contextmanager
    def local_copy(self, key: str, tmp_dir: Path) -> Iterator[Path]:
        yield self.path(key)

    def presigned_url(self, key: str, ttl_seconds: int) -> str | None:
        return None

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_task(self, tenant_id: str, task_id: str) -> None:
        """Remove every file of one task (video, thumbnail, spritesheet, uploaded images)."""
        shutil.rmtree(self.path(blob_key(tenant_id, task_id, "")), ignore_errors=True)


class ObjectBlobStore:
    """An S3-compatible bucket (``s3://bucket/prefix``) through obstore."""

    def __init__(
        self, bucket: str, *, prefix: str = "", endpoint: str | None = None, region: str | None = None
    ) -> None:
        from obstore.store import S3Store

        options: dict[str, Any] = {}
        if endpoint:
            options["endpoint"] = endpoint
            if endpoint.startswith("http://"):
                options["client_options"] = {"allow_http": True}
        for setting, variable in (
            ("access_key_id", "AWS_ACCESS_KEY_ID"),
            ("secret_access_key", "AWS_SECRET_ACCESS_KEY"),
            ("session_token", "AWS_SESSION_TOKEN"),
        ):
            if os.environ.get(variable):
                options[setting] = os.environ[variable]
        options["region"] = (
            region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        )
        self._store = S3Store(bucket, prefix=prefix or None, **options)

    def put_file(self, key: str, source: Path) -> None:
        import obstore

        obstore.put(self._store, key, source, attributes=_attributes(key))
        source.unlink(missing_ok=True)

    def put_bytes(self, tenant_id: str, task_id: str, name: str, content: bytes) -> str:
        import obstore

        key = blob_key(tenant_id, task_id, name)
        obstore.put(self._store, key, content, attributes=_attributes(key))
        return key

    def read_bytes(self, key: str) -> bytes:
        import obstore

        return bytes(obstore.get(self._store, key).bytes())  # obstore.Bytes → bytes for PyAV/Pillow

    def exists(self, key: str) -> bool:
        import obstore

        try:
            obstore.head(self._store, key)
        except FileNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        import obstore

        return int(obstore.head(self._store, key)["size"])

    def read_range(self, key: str, start: int, end: int) -> bytes:
        import obstore

        return bytes(obstore.get_range(self._store, key, start=start, end=end))

    def local_path(self, key: str) -> Path | None:
        return None

    @contextlib.contextmanager
    def local_copy(self, key: str, tmp_dir: Path) -> Iterator[Path]:
        import obstore

        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="blob-", suffix=Path(key).suffix, dir=tmp_dir)
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in obstore.get(self._store, key).stream():
                    out.write(chunk)
            yield path
        finally:
            path.unlink(missing_ok=True)

    def presigned_url(self, key: str, ttl_seconds: int) -> str | None:
        import obstore

        return str(obstore.sign(self._store, "GET", key, timedelta(seconds=ttl_seconds)))

    def delete(self, key: str) -> None:
        import obstore

        obstore.delete(self._store, key)  # S3 DELETE of a missing object succeeds

    def delete_task(self, tenant_id: str, task_id: str) -> None:
        import obstore

        prefix = blob_key(tenant_id, task_id, "")
        paths = [meta["path"] for batch in obstore.list(self._store, prefix=prefix) for meta in batch]
        if paths:
            obstore.delete(self._store, paths)


def _attributes(key: str) -> dict[str, str]:
    """Content-Type for objects a browser fetches directly through a presigned URL."""
    kind = mimetypes.guess_type(key)[0]
    return {"Content-Type": kind} if kind else {}


def open_blob_store(
    storage_url: str | None, *, default_root: Path, endpoint: str | None = None, region: str | None = None
) -> LocalBlobStore | ObjectBlobStore:
    """``None`` or ``file:///path`` → local disk; ``s3://bucket/prefix`` → a bucket."""
    if not storage_url:
        return LocalBlobStore(default_root)
    parsed = urlparse(storage_url)
    if parsed.scheme == "file":
        return LocalBlobStore(Path(parsed.path))
    if parsed.scheme == "s3" and parsed.netloc:
        return ObjectBlobStore(parsed.netloc, prefix=parsed.path.strip("/"), endpoint=endpoint, region=region)
    raise ValueError(f"unsupported storage_url {storage_url!r}: use file:///path or s3://bucket/prefix")
