"""Test support: a real Videoloom server in a subprocess, synthetic clips, frame comparisons."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np

from videoloom.media import VideoWriter

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def clip_frame(index: int, width: int, height: int) -> np.ndarray:
    """A frame of a moving scene: a drifting textured background and a sliding box."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    shift = index * 4.0
    r = 128 + 90 * np.sin((x + shift) / 37.0) * np.cos(y / 53.0)
    g = 128 + 90 * np.sin((x + shift) / 23.0 + y / 71.0)
    b = 128 + 90 * np.cos((x - y + shift) / 41.0)
    frame = np.stack([r, g, b], axis=-1)
    bx = int((index * 9) % max(1, width - height // 4))
    frame[height // 3 : height // 3 + height // 4, bx : bx + height // 4] = (240, 40, 40)
    return np.clip(frame, 0, 255).astype(np.uint8)


def make_clip(
    path: Path, *, seconds: float = 10, width: int = 1280, height: int = 720, fps: int = 24
) -> Path:
    with VideoWriter(
        path, width=width, height=height, fps=Fraction(fps), preset="ultrafast", crf=16
    ) as writer:
        for i in range(round(seconds * fps)):
            writer.write(clip_frame(i, width, height))
    return path


def decode_all(path_or_bytes: Path | bytes) -> tuple[list[np.ndarray], Any]:
    source: Any = (
        path_or_bytes if isinstance(path_or_bytes, Path) else __import__("io").BytesIO(path_or_bytes)
    )
    with av.open(source) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    return frames, rate


class ServerProcess:
    """``videoloom serve`` in a subprocess with its own data directory and port."""

    def __init__(
        self,
        data_dir: Path,
        *,
        extra_env: dict[str, str] | None = None,
        moto: MotoServer | None = None,
        **settings: str,
    ) -> None:
        self.data_dir = data_dir
        self.moto = moto
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "VIDEOLOOM_DATA_DIR": str(data_dir),
            "VIDEOLOOM_PORT": str(self.port),
            "VIDEOLOOM_LEASE_SECONDS": "3",
            "VIDEOLOOM_POLL_INTERVAL_SECONDS": "0.2",
            "VIDEOLOOM_ENCODER_PRESET": "ultrafast",
            **(extra_env or {}),
            **{f"VIDEOLOOM_{k.upper()}": v for k, v in settings.items()},
        }
        self.storage_prefix = settings.get("storage_url", "").partition(f"{MotoServer.bucket}/")[2]
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "videoloom", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    def start(self, *, own_group: bool = False) -> ServerProcess:
        """``own_group``: in a process group of its own, to signal it with its children."""
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "videoloom", "serve"],
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=own_group,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log_path.read_text()}")

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def stored_files(self) -> list[str]:
        """Every blob the server has stored, wherever its storage is."""
        if self.moto is not None:
            return self.moto.keys(self.storage_prefix)
        return [str(p) for p in (self.data_dir / "blobs").rglob("*") if p.is_file()]

    def client(self, key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60, follow_redirects=True)


def wait_for_task(client: httpx.Client, task_id: str, *, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get("/v1/video/query", params={"id": task_id})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in ("completed", "failed"):
            return body
        time.sleep(0.25)
    raise AssertionError(f"task {task_id} did not finish in {timeout} s")


def upload(client: httpx.Client, path: Path) -> dict[str, Any]:
    with open(path, "rb") as handle:
        response = client.post("/v1/videos/uploads", files={"file": (path.name, handle, "video/mp4")})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- the scale-out backends: PostgreSQL and an S3-compatible server on loopback -----------------

POSTGRES_ADMIN_DSN = os.environ.get(
    "VIDEOLOOM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def create_postgres_database() -> str:
    """A fresh, empty database on the local PostgreSQL; returns its SQLAlchemy URL."""
    import asyncio
    import uuid

    import asyncpg

    name = f"videoloom_test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


class MotoServer:
    """``moto_server`` (an S3-compatible server) on a loopback port, with one bucket."""

    bucket = "videoloom-test"

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoServer:
        moto = Path(sys.executable).with_name("moto_server")
        self.proc = subprocess.Popen(
            [str(moto), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.endpoint, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        self.s3().create_bucket(Bucket=self.bucket)
        return self

    def s3(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )

    def keys(self, prefix: str) -> list[str]:
        listing = self.s3().list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for item in listing.get("Contents", [])]

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def settings(self, prefix: str) -> dict[str, str]:
        """ServerProcess settings (and AWS credentials) that put blobs in this bucket."""
        return {
            "storage_url": f"s3://{self.bucket}/{prefix}",
            "s3_endpoint": self.endpoint,
        }


AWS_TEST_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}
