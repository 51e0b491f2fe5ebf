"""Shared parts of the reliability suite and the soak script.

Loopback only: every server, listener and client here lives on 127.0.0.0/8 or ::1.
"""

from __future__ import annotations

import io
import ipaddress
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import httpx
from PIL import Image

from tests.support import ServerProcess

HERE = Path(__file__).resolve().parent
SENTINEL = HERE / "_egress_sentinel.py"

# The reliability servers send bursts no real client would; the limits under test elsewhere
# (rate, quotas, queue bound) would answer 429 and hide what these tests look at.
NO_LIMITS = {
    "rate_limit_per_minute": "0",
    "max_active_tasks_per_tenant": "0",
    "max_queued_tasks": "0",
}


class GuardedServer(ServerProcess):
    """``videoloom serve`` under the egress sentinel (``_egress_sentinel.py``).

    The sentinel refuses, and logs, any name resolution or connection whose target is not
    on loopback, so a broken SSRF guard cannot make this machine send traffic elsewhere.
    """

    def __init__(self, data_dir: Path, *, deny: str = "", **settings: str) -> None:
        super().__init__(data_dir, **{**NO_LIMITS, **settings})
        self.egress_log = data_dir.parent / f"{data_dir.name}-egress.jsonl"
        self.env["EGRESS_SENTINEL_LOG"] = str(self.egress_log)
        if deny:
            self.env["EGRESS_SENTINEL_DENY"] = deny

    def start(self) -> GuardedServer:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(SENTINEL), "serve"], env=self.env, stdout=log, stderr=log
            )
        _wait_healthy(self)
        return self

    def egress_attempts(self) -> list[dict[str, Any]]:
        """What the sentinel refused: each a non-loopback resolution or connection attempt."""
        if not self.egress_log.is_file():
            return []
        return [json.loads(line) for line in self.egress_log.read_text().splitlines() if line.strip()]


def plain_server(data_dir: Path, **settings: str) -> ServerProcess:
    """The production command (uvloop and all), without the creation limits."""
    return ServerProcess(data_dir, **{**NO_LIMITS, **settings})


def _wait_healthy(server: ServerProcess, timeout: float = 30) -> None:
    assert server.proc is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log_path.read_text()}")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not start:\n{server.log_path.read_text()}")


def create_key(server: ServerProcess, name: str) -> str:
    return server.cli("keys", "create", "--name", name).stdout.strip()


# --- media ----------------------------------------------------------------------------------


def png_bytes(width: int = 64, height: int = 36) -> bytes:
    image = Image.new("RGB", (width, height))
    image.putdata([((x * 4) % 256, (y * 7) % 256, 128) for y in range(height) for x in range(width)])
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def count_frames(data: bytes) -> int:
    """Decode every frame of an MP4 held in memory; raises on a damaged file."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        return sum(1 for _ in container.decode(stream))


def expected_frames(task: dict[str, Any]) -> int:
    return round(float(task["duration"]) * float(task["fps"]))


def wait_terminal(
    client: httpx.Client, ids: list[str], *, timeout: float, interval: float = 0.25
) -> dict[str, dict[str, Any]]:
    """Poll until every id is completed or failed; ids still running after ``timeout`` stay so."""
    states: dict[str, dict[str, Any]] = {}
    pending = list(ids)
    deadline = time.monotonic() + timeout
    while pending:
        still = []
        for task_id in pending:
            response = client.get("/v1/video/query", params={"id": task_id})
            if response.status_code != 200:
                states[task_id] = {"id": task_id, "http_status": response.status_code, "body": response.text}
                continue
            body = response.json()
            states[task_id] = body
            if body["status"] not in ("completed", "failed"):
                still.append(task_id)
        pending = still
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(interval)
    return states


# --- loopback listeners ---------------------------------------------------------------------


@dataclass
class Hit:
    """One connection a listener accepted, and the request line it read (if any)."""

    client: tuple[Any, ...]
    at: float
    request_line: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self) -> None:
        listener = self.server.listener
        with listener.lock:
            if listener.hits:
                listener.hits[-1].request_line = self.requestline
                listener.hits[-1].headers = dict(self.headers.items())
        status, headers, body = listener.route(self.path)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    listener: LoopbackListener

    def verify_request(self, request: Any, client_address: Any) -> bool:
        # Every accepted connection counts, even one that never sends a valid request.
        with self.listener.lock:
            self.listener.hits.append(Hit(client=tuple(client_address), at=time.time()))
        return True

    def handle_error(self, request: object, client_address: object) -> None:
        pass


class _Server6(_Server):
    address_family = socket.AF_INET6


class LoopbackListener:
    """A threaded HTTP server on one loopback address that answers a real PNG and records
    every connection. ``redirect_to`` makes it answer ``status`` + ``Location`` instead."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        ip = ipaddress.ip_address(host)
        if not ip.is_loopback:
            raise ValueError(f"listeners live on loopback only, not {host}")
        self.host = host
        self.lock = threading.Lock()
        self.hits: list[Hit] = []
        self.png = png_bytes()
        self.redirects: dict[str, tuple[int, str]] = {}
        self.default_redirect: tuple[int, str] | None = None
        server_class = _Server6 if ip.version == 6 else _Server
        self._server = server_class((host, port), _Handler)
        self._server.listener = self
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True

    def route(self, path: str) -> tuple[int, dict[str, str], bytes]:
        rule = self.redirects.get(path.split("?", 1)[0], self.default_redirect)
        if rule is not None:
            status, location = rule
            return status, {"Location": location, "Content-Type": "text/plain"}, b"moved"
        return 200, {"Content-Type": "image/png"}, self.png

    def __enter__(self) -> LoopbackListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def url(self, path: str = "/image.png") -> str:
        return f"http://{self.netloc}{path}"

    def snapshot(self) -> list[Hit]:
        with self.lock:
            return list(self.hits)


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@contextmanager
def loopback_pair() -> Iterator[tuple[LoopbackListener, LoopbackListener | None]]:
    """Listeners on 127.0.0.1 and (where the kernel has it) [::1], on the same port number,
    so a URL misrouted between the two families still lands on a listener."""
    for _ in range(20):
        v4 = LoopbackListener("127.0.0.1")
        if not ipv6_loopback_available():
            with v4:
                yield v4, None
            return
        try:
            v6 = LoopbackListener("::1", v4.port)
        except OSError:
            v4._server.server_close()
            continue
        with v4, v6:
            yield v4, v6
        return
    raise RuntimeError("could not bind 127.0.0.1 and [::1] on one port")
