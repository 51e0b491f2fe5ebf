"""The user CLI, run as a real subprocess (``python -m videoloom …``) against a running server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import ServerProcess, decode_all, free_port, make_clip

pytestmark = pytest.mark.slow


def cli(
    server: ServerProcess,
    *args: str,
    key: str | None = "alice",
    cwd: Path | None = None,
    timeout: float = 240,
) -> subprocess.CompletedProcess[str]:
    """Run ``videoloom ARGS`` with the server and key given the documented way: environment variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOLOOM_")}
    env["VIDEOLOOM_BASE_URL"] = server.base_url
    if key is not None:
        env["VIDEOLOOM_API_KEY"] = server.keys.get(key, key)  # type: ignore[attr-defined]
    return subprocess.run(
        [sys.executable, "-m", "videoloom", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result.stdout


@pytest.fixture(scope="module")
def uploaded(server: ServerProcess, clip_10s: Path) -> str:
    return ok(cli(server, "upload", str(clip_10s), "-q")).strip()


def test_upload_extend_at_4_wait_download(server: ServerProcess, uploaded: str, tmp_path: Path) -> None:
    assert re.fullmatch(r"grok:[0-9a-f-]{36}", uploaded), uploaded

    new_id = ok(
        cli(server, "extend", uploaded, "--at", "4", "--prompt", "zoom in slowly", "--duration", "2", "-q")
    ).strip()
    assert new_id.startswith("grok:") and new_id != uploaded

    waited = cli(server, "wait", new_id)
    ok(waited)
    # Not a terminal: one plain progress line per change, on stderr, ending at 100 %.
    progress = re.findall(rf"{re.escape(new_id)} \S+ +(\d+)% (\w+)", waited.stderr)
    assert progress, waited.stderr
    assert progress[-1] == ("100", "completed")
    assert f"completed {new_id}" in waited.stdout

    ok(cli(server, "download", new_id, "-o", "out.mp4", cwd=tmp_path))
    frames, rate = decode_all(tmp_path / "out.mp4")
    assert rate == 24
    assert abs(len(frames) - (4 + 2) * 24) <= 1, len(frames)
    assert frames[0].shape == (720, 1280, 3)

    status = json.loads(ok(cli(server, "status", new_id, "--json")))
    assert status["state"] == "completed"
    assert status["parent_id"] == uploaded and status["start_time"] == 4

    thumbnail = json.loads(
        ok(cli(server, "download", new_id, "--variant", "thumbnail", "--json", cwd=tmp_path))
    )
    assert Path(tmp_path / thumbnail["path"]).read_bytes()[:2] == b"\xff\xd8"  # a JPEG

    listing = json.loads(ok(cli(server, "list", "--json")))
    assert new_id in [v["id"] for v in listing["data"]]


def test_extend_with_wait_then_lineage_tree(server: ServerProcess, uploaded: str) -> None:
    first = json.loads(
        ok(
            cli(
                server,
                "extend",
                uploaded,
                "--at",
                "3",
                "--prompt",
                "pan left",
                "--duration",
                "1",
                "--wait",
                "--json",
            )
        )
    )
    assert first["state"] == "completed" and first["video_url"]
    second = json.loads(
        ok(
            cli(
                server,
                "extend",
                first["id"],
                "--at",
                "2",
                "--prompt",
                "fade to black",
                "--duration",
                "1",
                "--json",
            )
        )
    )
    # Polling is the fallback when the event stream is unavailable; it must work on its own too.
    polled = cli(server, "wait", second["id"], "--poll", "--json")
    assert json.loads(ok(polled))["state"] == "completed"
    assert "100% completed" in polled.stderr

    chain = json.loads(ok(cli(server, "lineage", second["id"], "--json")))
    assert [t["id"] for t in chain] == [uploaded, first["id"], second["id"]]
    tree = ok(cli(server, "lineage", second["id"]))
    lines = [line for line in tree.splitlines() if "grok:" in line]
    assert [uploaded in lines[0], first["id"] in lines[1], second["id"] in lines[2]] == [True] * 3
    assert "└──" in tree and '"fade to black"' in tree


def test_errors_print_the_servers_message_and_exit_codes(server: ServerProcess, uploaded: str) -> None:
    wrong_key = cli(server, "status", uploaded, key="vl-not-a-key")
    assert wrong_key.returncode == 1
    assert "invalid or revoked API key" in wrong_key.stderr and "Traceback" not in wrong_key.stderr

    unknown = cli(server, "status", "grok:00000000-0000-4000-8000-000000000000")
    assert unknown.returncode == 1
    assert "no video with id" in unknown.stderr and "Traceback" not in unknown.stderr

    other_tenant = cli(server, "status", uploaded, key="bob")
    assert other_tenant.returncode == 1 and "no video with id" in other_tenant.stderr

    bad_start = cli(server, "extend", uploaded, "--at", "99", "--prompt", "x")
    assert bad_start.returncode == 1 and "start_time" in bad_start.stderr

    usage = cli(server, "extend", uploaded, "--at", "4")  # no --prompt
    assert usage.returncode == 2 and "--prompt" in usage.stderr

    unreachable = subprocess.run(
        [
            sys.executable,
            "-m",
            "videoloom",
            "status",
            uploaded,
            "--base-url",
            f"http://127.0.0.1:{free_port()}",
            "--api-key",
            "vl-x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unreachable.returncode == 4 and "cannot reach the server" in unreachable.stderr


def test_a_failed_task_exits_3_with_its_reason(server: ServerProcess, uploaded: str) -> None:
    # A data: URL is only checked for syntax on arrival; the worker finds it is not an image
    # and fails the task (image_fetch_failed). Nothing is fetched from anywhere.
    not_an_image = "data:image/png;base64,aGVsbG8="
    failed = cli(
        server,
        "extend",
        uploaded,
        "--at",
        "1",
        "--duration",
        "1",
        "--prompt",
        "x",
        "--image",
        not_an_image,
        "--wait",
        "--json",
    )
    assert failed.returncode == 3, failed.stderr
    assert "image_fetch_failed" in failed.stderr
    answer: dict[str, Any] = json.loads(failed.stdout)
    assert answer["state"] == "failed" and answer["error"]["code"] == "image_fetch_failed"


def test_delete_then_status_is_not_found(server: ServerProcess, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "small.mp4", seconds=1, width=320, height=180)
    victim = ok(cli(server, "upload", str(clip), "--json"))
    video_id = json.loads(victim)["id"]
    assert json.loads(ok(cli(server, "delete", video_id, "--json"))) == {
        "id": video_id,
        "object": "video.deleted",
        "deleted": True,
    }
    gone = cli(server, "status", video_id)
    assert gone.returncode == 1 and "no video with id" in gone.stderr
