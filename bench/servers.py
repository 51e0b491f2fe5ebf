"""Servers on 127.0.0.1 for the API benchmarks: ``videoloom serve``, and a bare Starlette app on
the same uvicorn stack (``python -m bench.servers bare --port N``) as the floor to compare with.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Self

import httpx

from bench.common import DATA

# A body shaped like a ``GET /v1/video/query`` answer, so both serialize similar JSON.
BARE_BODY: dict[str, Any] = {
    "id": "grok:00000000-0000-4000-8000-000000000000",
    "status": "processing",
    "status_update_time": 1764000000,
    "model": "grok-video-3",
    "progress": 42,
    "created_at": 1764000000,
    "kind": "extend",
    "state": "processing",
    "prompt": "the camera keeps moving",
    "video_url": None,
    "thumbnail_url": None,
    "completed_at": None,
    "expires_at": None,
    "parent_id": "grok:00000000-0000-4000-8000-000000000001",
    "start_time": 10,
    "duration": 30.0,
    "width": 1280,
    "height": 720,
    "fps": 24.0,
    "size": "720P",
    "aspect_ratio": "16:9",
    "upscale": False,
    "error": None,
    "worker_id": "bench:1:00000000",
    "started_at": 1764000000,
    "attempts": 1,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not start:\n{log.read_text()[-3000:]}")


class Server:
    """A server subprocess; ``stop()`` sends SIGTERM (then SIGKILL after 30 s)."""

    def __init__(self, args: list[str], env: dict[str, str], health: str, name: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = DATA / f"{name}.log"
        DATA.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [*args, *(["--port", str(self.port)] if "--port" not in args else [])],
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait_http(self.base_url + health, self.proc, self.log)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


class Videoloom(Server):
    """``videoloom serve`` (API + embedded worker) with its own data directory and one API key."""

    def __init__(self, **settings: str) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="videoloom-bench-"))
        env = {
            "VIDEOLOOM_DATA_DIR": str(self.data_dir),
            **{f"VIDEOLOOM_{k.upper()}": v for k, v in settings.items()},
        }
        created = subprocess.run(
            [sys.executable, "-m", "videoloom", "keys", "create", "--name", "bench"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        self.key = created.stdout.strip().splitlines()[-1]
        super().__init__([sys.executable, "-m", "videoloom", "serve"], env, "/healthz", "videoloom-server")

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {self.key}"}, timeout=120
        )

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class Bare(Server):
    """The floor: a bare Starlette JSON endpoint, run by uvicorn the way ``videoloom serve`` runs."""

    def __init__(self, body: dict[str, Any] | None = None) -> None:
        """``body``: the JSON to answer (default ``BARE_BODY``); the API benchmark passes the exact
        answer Videoloom gives for the task it polls, so both send the same bytes' worth."""
        args = [sys.executable, "-m", "bench.servers", "bare"]
        if body is not None:
            self.body_file = Path(tempfile.mkdtemp(prefix="videoloom-bare-")) / "body.json"
            self.body_file.write_text(json.dumps(body))
            args += ["--body", str(self.body_file)]
        super().__init__(args, {}, "/status", "bare-server")


def wrk(
    url: str, *, seconds: int = 8, connections: int = 100, headers: dict[str, str] | None = None
) -> dict[str, float]:
    """``wrk -t1 -c<connections> -d<seconds>s --latency``: requests/s, p50 and p99 in ms."""
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: `apt-get install -y wrk` (make bench does it)")
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
    }


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def _serve_bare(port: int, body_file: str | None) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def status(request: Request) -> JSONResponse:
        return JSONResponse(body)

    body = json.loads(Path(body_file).read_text()) if body_file else BARE_BODY

    app = Starlette(routes=[Route("/status", status)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info")  # as `videoloom serve` (text logs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["bare"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", help="a JSON file to answer instead of BARE_BODY")
    arguments = parser.parse_args()
    _serve_bare(arguments.port, arguments.body)
