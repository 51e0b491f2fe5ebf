"""A webhook receiver for tests: an ``http.server`` thread on 127.0.0.1 that records POSTs.

Loopback only. Per path it can answer a fixed status, or fail the first N requests
with 500 (after an optional delay, so that the next attempt's timestamp is later).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes
    at: float
    """Unix time the request arrived."""
    status: int
    """What the receiver answered."""


@dataclass
class _Rules:
    fixed: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    fail_first: dict[str, tuple[int, float]] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        at = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        receiver = self.server.receiver
        path = self.path
        with receiver.lock:
            seen = sum(1 for r in receiver.received if r.path == path)
            status, extra, delay = 200, {}, 0.0
            if path in receiver.rules.fixed:
                status, extra = receiver.rules.fixed[path]
            elif path in receiver.rules.fail_first:
                failures, delay = receiver.rules.fail_first[path]
                if seen < failures:
                    status = 500
                else:
                    delay = 0.0
            receiver.received.append(
                Received(path, {k.lower(): v for k, v in self.headers.items()}, body, at, status)
            )
        if delay:
            time.sleep(delay)
        payload = b"ok" if status < 300 else b"nope"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    receiver: Receiver

    def handle_error(self, request: object, client_address: object) -> None:
        pass


class Receiver:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.rules = _Rules()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, status: int, **headers: str) -> None:
        self.rules.fixed[path] = (status, headers)

    def fail_first(self, path: str, failures: int, *, delay: float = 0.0) -> None:
        self.rules.fail_first[path] = (failures, delay)

    def requests(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if path is None or r.path == path]

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], *, path: str | None = None, timeout: float = 30
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.requests(path)
            if predicate(got):
                return got
            time.sleep(0.05)
        raise AssertionError(f"the receiver did not get what was expected on {path}: {self.requests(path)}")
