"""One blob deleted on its own (a relay's published input), on local disk and in a bucket."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import AWS_TEST_ENV, MotoServer
from videoloom.storage.blobs import BlobStore, blob_key, open_blob_store


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BlobStore:
    if request.param == "local":
        return open_blob_store(None, default_root=tmp_path / "blobs")
    moto: MotoServer = request.getfixturevalue("moto")
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    return open_blob_store(
        f"s3://{moto.bucket}/{tmp_path.name}", default_root=tmp_path, endpoint=moto.endpoint
    )


def test_delete_removes_one_blob_and_leaves_the_tasks_others(store: BlobStore) -> None:
    clip = store.put_bytes("tenant", "grok:1", "relay-input.mp4", b"clip")
    video = store.put_bytes("tenant", "grok:1", "video.mp4", b"video")
    assert clip == blob_key("tenant", "grok:1", "relay-input.mp4")
    store.delete(clip)
    assert not store.exists(clip)
    assert store.read_bytes(video) == b"video"
    store.delete(clip)  # already gone: no error
