"""Receiving an uploaded video into a temporary file, within the size limit."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from fastapi import UploadFile

from videoloom.container import Container
from videoloom.core.errors import InvalidRequest, PayloadTooLarge
from videoloom.core.tasks import Task

__all__ = ["receive_upload"]

_CHUNK = 1024 * 1024


async def receive_upload(
    container: Container, tenant_id: str, file: UploadFile, *, model: str | None, param: str = "file"
) -> Task:
    limit = container.settings.max_upload_bytes
    if file.size is not None and file.size > limit:
        raise PayloadTooLarge(f"the upload is larger than {limit} bytes", param=param)
    tmp_dir = container.settings.tmp_dir
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="incoming-", dir=tmp_dir)
    path = Path(name)
    try:
        received = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := await file.read(_CHUNK):
                received += len(chunk)
                if received > limit:
                    raise PayloadTooLarge(f"the upload is larger than {limit} bytes", param=param)
                out.write(chunk)
        if received == 0:
            raise InvalidRequest("the uploaded file is empty", param=param, code="invalid_video")
        return await container.service.create_upload(
            tenant_id, path, model=model or container.registry.default_model, param=param
        )
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
