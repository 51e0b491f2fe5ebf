"""The quick start's walkthroughs, run as written against a fresh server.

The blocks between ``<!-- quickstart:NAME -->`` and ``<!-- /quickstart -->`` in
``docs/quickstart.md`` run in one bash each, in order, in one directory. Only
the server's address changes (a free port instead of 8000) and ``.venv/bin/videoloom``
is this interpreter's ``python -m videoloom``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO, ServerProcess, decode_all

pytestmark = pytest.mark.slow

BLOCK = re.compile(r"<!-- quickstart:(\w+) -->\n```sh\n(.*?)```\n<!-- /quickstart -->", re.S)


def blocks() -> dict[str, str]:
    return dict(BLOCK.findall((REPO / "docs" / "quickstart.md").read_text()))


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    server = ServerProcess(tmp_path_factory.mktemp("docs") / "data")
    key = server.cli("keys", "create", "--name", "reader").stdout.strip()
    server.start()
    yield server, key
    server.stop()


def run_block(name: str, server: ServerProcess, key: str, cwd: Path) -> None:
    script = blocks()[name].replace("http://127.0.0.1:8000", server.base_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOLOOM_")}
    env.update(KEY=key, VIDEOLOOM_API_KEY=key, VIDEOLOOM_BASE_URL=server.base_url)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{name} block failed:\n{result.stdout}\n{result.stderr}"


def test_the_walkthroughs_are_marked() -> None:
    assert set(blocks()) == {"clip", "cli", "curl"}


@pytest.mark.skipif(shutil.which("jq") is None or shutil.which("curl") is None, reason="needs curl and jq")
def test_quickstart_runs_as_written(docs_server: tuple[ServerProcess, str], tmp_path: Path) -> None:
    server, key = docs_server
    launcher = tmp_path / ".venv" / "bin" / "videoloom"
    launcher.parent.mkdir(parents=True)
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m videoloom "$@"\n')
    launcher.chmod(0o755)

    run_block("clip", server, key, tmp_path)  # no clip at hand: the server makes one
    assert len(decode_all(tmp_path / "clip.mp4")[0]) == 8 * 24

    run_block("cli", server, key, tmp_path)
    frames, rate = decode_all(tmp_path / "extended.mp4")
    assert rate == 24 and abs(len(frames) - (4 + 6) * 24) <= 1

    run_block("curl", server, key, tmp_path)
    frames, _ = decode_all(tmp_path / "out.mp4")
    assert abs(len(frames) - (4 + 6) * 24) <= 1 and frames[0].shape == (720, 1280, 3)
