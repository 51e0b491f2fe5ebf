"""Crash cycles: submit work, ``kill -9`` the server or a worker at a random moment, restart.

Two processes share one data directory: ``videoloom serve`` (API with its embedded worker)
and a separate ``videoloom worker``. Each cycle kills one of them, or both, with SIGKILL.

Used by ``test_crash_cycles.py`` (a few cycles, inside ``make test``) and by
``scripts/soak_crash.py`` (25+ cycles). What must hold at the end:

- **none lost**: every id a 200 answered still answers ``GET /v1/video/query``;
- **none stuck**: every one of them reaches ``completed`` or ``failed`` in bounded time;
- **completed means whole**: its MP4, downloaded through the signed ``video_url``, has every
  byte its ``Content-Length`` promises and decodes with PyAV to exactly duration × fps frames;
- **failed means explained**: a non-empty error code and message (``worker_lost`` once a
  task was killed ``max_attempts`` times);
- **no half file served**: after every kill, each ``video.mp4`` already at a blob path (what
  the content route serves) decodes completely.

Loopback only: the server listens on 127.0.0.1 and no request names any other host.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import httpx

from tests.reliability.harness import count_frames, create_key, expected_frames, plain_server, wait_terminal
from tests.support import ServerProcess, make_clip, upload

PROMPTS = ["keep going", "pan left", "zoom in slowly", "tilt up", "push in", "drift right"]
EXPECTED_FAILURE_CODES = {"worker_lost"}
"""Codes a crash may legitimately cause; anything else failing here is a finding."""


@dataclass(frozen=True)
class Accepted:
    id: str
    kind: str
    cycle: int


@dataclass
class CrashReport:
    cycles: int = 0
    kills: int = 0
    kills_by_target: Counter[str] = field(default_factory=Counter)
    accepted: list[Accepted] = field(default_factory=list)
    refused_in_flight: int = 0
    """Requests cut off by a kill (no answer, so not accepted: nothing to keep)."""
    interrupted: set[str] = field(default_factory=set)
    """Tasks seen ``processing`` just before a kill."""
    final: dict[str, dict[str, Any]] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    bad_files: list[str] = field(default_factory=list)
    unexplained_failures: list[str] = field(default_factory=list)
    unexpected_failure_codes: list[str] = field(default_factory=list)
    damaged_at_kill: list[str] = field(default_factory=list)
    files_checked_at_kill: int = 0
    drain_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def outcomes(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for body in self.final.values():
            status = body.get("status", f"http {body.get('http_status')}")
            code = (body.get("error") or {}).get("code")
            counts[f"{status}:{code}" if code else str(status)] += 1
        return counts

    @property
    def problems(self) -> dict[str, list[str]]:
        found = {
            "lost": self.lost,
            "stuck": self.stuck,
            "bad_files": self.bad_files,
            "unexplained_failures": self.unexplained_failures,
            "unexpected_failure_codes": self.unexpected_failure_codes,
            "damaged_at_kill": self.damaged_at_kill,
        }
        return {name: items for name, items in found.items() if items}

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        kinds = Counter(a.kind for a in self.accepted)
        lines = [
            f"cycles: {self.cycles}, kill -9: {self.kills} ({dict(self.kills_by_target)}), "
            f"wall: {self.wall_seconds:.0f} s "
            f"(final drain {self.drain_seconds:.1f} s)",
            f"accepted: {len(self.accepted)} ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}); "
            f"cut off by a kill before any answer: {self.refused_in_flight}",
            f"processing at a kill: {len(self.interrupted)}",
            f"outcomes: {', '.join(f'{k} {n}' for k, n in sorted(self.outcomes.items()))}",
            f"served files checked right after kills: {self.files_checked_at_kill}",
        ]
        if self.problems:
            lines.append(f"PROBLEMS: {self.problems}")
        else:
            lines.append("none lost, none stuck, no truncated file, every failure explained")
        return "\n".join(lines)


class _Session:
    def __init__(self, root: Path, rng: random.Random, log: Callable[[str], None]) -> None:
        self.root = root
        self.rng = rng
        self.log = log
        self.server: ServerProcess = plain_server(
            root / "data", lease_seconds="2", poll_interval_seconds="0.2", max_attempts="3"
        )
        self.key = create_key(self.server, "crash")
        self.report = CrashReport()
        self.source = ""
        self.clip = make_clip(root / "source.mp4", seconds=2, width=320, height=180)
        self.completed_seen: list[str] = []
        self.file_stamps: dict[Path, tuple[int, int]] = {}
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_log = root / "worker.log"

    def start_worker(self) -> None:
        """A separate ``videoloom worker`` on the same database and blob directory."""
        with open(self.worker_log, "ab") as log:
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "videoloom", "worker"], env=self.server.env, stdout=log, stderr=log
            )

    def stop_worker(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait()

    def client(self, timeout: float = 30) -> httpx.Client:
        client = self.server.client(self.key)
        client.timeout = httpx.Timeout(timeout)
        return client

    # --- submitting --------------------------------------------------------------------

    def submit_one(self, client: httpx.Client, cycle: int) -> None:
        """One random creating request; a 200 makes it an accepted task to account for."""
        rng = self.rng
        choice = rng.choices(
            ["extension", "gateway-extend", "create", "chain", "upload"], weights=[5, 2, 2, 2, 1]
        )[0]
        prompt = rng.choice(PROMPTS)
        if choice == "chain" and self.completed_seen:
            parent = rng.choice(self.completed_seen)
            response = client.post(
                "/v1/videos/extensions",
                json={"video": {"id": parent}, "prompt": prompt, "seconds": str(rng.randint(1, 2))},
            )
        elif choice == "gateway-extend":
            response = client.post(
                f"/v1/videos/{self.source}/extend",
                json={
                    "model": "grok-video-3",
                    "prompt": prompt,
                    "start_time": rng.randint(0, 2),
                    "duration": rng.randint(1, 2),
                },
            )
        elif choice == "create":
            response = client.post(
                "/v1/video/create", json={"model": "grok-video-3", "prompt": prompt, "duration": 1}
            )
        elif choice == "upload":
            with open(self.clip, "rb") as handle:
                response = client.post(
                    "/v1/videos/uploads", files={"file": ("again.mp4", handle, "video/mp4")}
                )
        else:
            choice = "extension"
            response = client.post(
                "/v1/videos/extensions",
                json={"video": {"id": self.source}, "prompt": prompt, "seconds": str(rng.randint(1, 4))},
            )
        if response.status_code == 409:
            return  # the chosen parent is no longer completed (it cannot be: but not a task)
        assert response.status_code == 200, f"{choice}: {response.status_code} {response.text}"
        self.report.accepted.append(Accepted(response.json()["id"], choice, cycle))

    # --- killing -----------------------------------------------------------------------

    def _note_processing(self) -> None:
        """Just before a kill: which tasks are mid-render (best effort, short timeout)."""
        try:
            with self.client(timeout=2) as client:
                listed = client.get("/v1/videos", params={"limit": 100}).json()["data"]
            self.report.interrupted.update(v["id"] for v in listed if v["status"] == "in_progress")
            self.completed_seen = [v["id"] for v in listed if v["status"] == "completed"]
        except (httpx.HTTPError, KeyError, ValueError):
            pass

    def kill(self, target: str) -> None:
        """SIGKILL the API server (and its embedded worker), the separate worker, or both."""
        processes = []
        if target in ("server", "both"):
            processes.append(self.server.proc)
        if target in ("worker", "both"):
            processes.append(self.worker)
        for process in processes:
            assert process is not None and process.poll() is None, f"{target} is not running"
            process.send_signal(signal.SIGKILL)
        for process in processes:
            assert process is not None
            process.wait(timeout=30)
        self.report.kills += 1
        self.report.kills_by_target[target] += 1

    def restart(self, target: str) -> None:
        if target in ("server", "both"):
            self.server.start()
        if target in ("worker", "both"):
            self.start_worker()

    def wait_for_render(self, timeout: float = 3.0) -> None:
        """Until some task is being rendered (or ``timeout``): the kill should catch one."""
        deadline = time.monotonic() + timeout
        with self.client(timeout=2) as client:
            while time.monotonic() < deadline:
                try:
                    listed = client.get("/v1/videos", params={"limit": 20}).json()["data"]
                except (httpx.HTTPError, KeyError, ValueError):
                    return
                if any(v["status"] == "in_progress" for v in listed):
                    return
                time.sleep(0.05)

    def check_served_files(self) -> None:
        """Every video.mp4 at a blob path (where the content route reads) must be whole."""
        for path in sorted((self.root / "data" / "blobs").rglob("video.mp4")):
            stat = path.stat()
            stamp = (stat.st_size, stat.st_mtime_ns)
            if self.file_stamps.get(path) == stamp:
                continue
            self.file_stamps[path] = stamp
            self.report.files_checked_at_kill += 1
            try:
                frames = count_frames(path.read_bytes())
            except (av.FFmpegError, IndexError, OSError) as exc:
                self.report.damaged_at_kill.append(f"{path.parent.name}: {exc!r}")
                continue
            if frames == 0:
                self.report.damaged_at_kill.append(f"{path.parent.name}: no frames")

    def cycle_sequential(self, cycle: int, target: str) -> None:
        """Submit a few tasks, let a worker get into one, kill at a random point of its render."""
        with self.client() as client:
            for _ in range(self.rng.randint(2, 3)):
                self.submit_one(client, cycle)
        self.wait_for_render()
        time.sleep(self.rng.uniform(0.0, 1.0))
        self._note_processing()
        self.kill(target)

    def cycle_in_flight(self, cycle: int, target: str) -> None:
        """Keep submitting while a timer kills at a random moment, mid-request maybe."""
        delay = self.rng.uniform(0.05, 1.5)

        def killer() -> None:
            time.sleep(delay)
            self._note_processing()
            self.kill(target)

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        with self.client(timeout=10) as client:
            for _ in range(8):
                if not thread.is_alive():
                    break
                try:
                    self.submit_one(client, cycle)
                except httpx.TransportError:
                    self.report.refused_in_flight += 1
                    break
                time.sleep(self.rng.uniform(0.0, 0.3))
        thread.join(timeout=30)

    # --- the end -----------------------------------------------------------------------

    def verify(self, drain_timeout: float) -> None:
        report = self.report
        ids = [a.id for a in report.accepted]
        started = time.monotonic()
        with self.client(timeout=60) as client:
            report.final = wait_terminal(client, ids, timeout=drain_timeout)
            report.drain_seconds = time.monotonic() - started
            for task_id in ids:
                body = report.final[task_id]
                if "http_status" in body:
                    report.lost.append(f"{task_id}: HTTP {body['http_status']} {body['body'][:200]}")
                elif body["status"] not in ("completed", "failed"):
                    report.stuck.append(f"{task_id}: {body['state']} progress {body['progress']}")
                elif body["status"] == "failed":
                    error = body.get("error") or {}
                    if not error.get("code") or not error.get("message"):
                        report.unexplained_failures.append(f"{task_id}: {error}")
                    elif error["code"] not in EXPECTED_FAILURE_CODES:
                        report.unexpected_failure_codes.append(f"{task_id}: {error}")
                else:
                    problem = self._check_download(client, body)
                    if problem:
                        report.bad_files.append(f"{task_id}: {problem}")

    def _check_download(self, client: httpx.Client, body: dict[str, Any]) -> str | None:
        signed = httpx.get(body["video_url"], timeout=60)  # the signed URL, no key
        if signed.status_code != 200:
            return f"signed download answered {signed.status_code}"
        declared = int(signed.headers.get("content-length", -1))
        if declared != len(signed.content):
            return f"{len(signed.content)} bytes of the {declared} announced"
        keyed = client.get(f"/v1/videos/{body['id']}/content")
        if keyed.status_code != 200 or keyed.content != signed.content:
            return "the keyed download differs from the signed one"
        try:
            frames = count_frames(signed.content)
        except (av.FFmpegError, IndexError) as exc:
            return f"does not decode: {exc!r}"
        want = expected_frames(body)
        if frames != want:  # frame-accurate: kept frames + duration x fps new ones, exactly
            return f"{frames} frames, expected {want}"
        return None


TARGETS = ("server", "worker", "both")


def run_crash_cycles(
    root: Path,
    *,
    cycles: int,
    seed: int,
    in_flight_every: int = 2,
    drain_timeout: float = 180,
    random_targets: bool = True,
    log: Callable[[str], None] = lambda _: None,
) -> CrashReport:
    """Run ``cycles`` kill -9 cycles; every ``in_flight_every``-th kill lands mid-submission.

    The victim of each kill is the server, the separate worker or both: drawn at random, or
    in turn when ``random_targets`` is false (so a few cycles cover all three).
    """
    started = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    session = _Session(root, random.Random(seed), log)
    server = session.server
    server.start()
    session.start_worker()
    try:
        with session.client() as client:
            session.source = upload(client, session.clip)["id"]
        for cycle in range(1, cycles + 1):
            in_flight = in_flight_every > 0 and cycle % in_flight_every == 0
            target = session.rng.choice(TARGETS) if random_targets else TARGETS[(cycle - 1) % len(TARGETS)]
            (session.cycle_in_flight if in_flight else session.cycle_sequential)(cycle, target)
            session.check_served_files()
            session.report.cycles = cycle
            log(
                f"cycle {cycle}/{cycles}: kill -9 {target} "
                f"({'while submitting' if in_flight else 'mid-render'}); "
                f"{len(session.report.accepted)} accepted, "
                f"{len(session.report.interrupted)} seen rendering at a kill so far"
            )
            session.restart(target)
        session.verify(drain_timeout)
    finally:
        session.stop_worker()
        server.stop()
    session.report.wall_seconds = time.monotonic() - started
    return session.report
