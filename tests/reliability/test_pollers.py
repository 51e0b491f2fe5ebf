"""100 concurrent pollers while extends render: zero errors; p50/p99 printed, not asserted.

10 s here; ``scripts/soak_crash.py --poll-seconds 60`` runs the 60 s version.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.reliability.harness import create_key, plain_server
from tests.reliability.pollers import run_pollers
from tests.support import make_clip, upload

pytestmark = pytest.mark.slow

SECONDS = float(os.environ.get("VIDEOLOOM_TEST_POLL_SECONDS", "10"))


async def test_100_pollers_while_two_extends_run_see_no_error(tmp_path: Path) -> None:
    server = plain_server(tmp_path / "data")
    key = create_key(server, "pollers")
    server.start()
    try:
        with server.client(key) as client:
            source = upload(client, make_clip(tmp_path / "src.mp4", seconds=2, width=320, height=180))
        stats = await run_pollers(
            server.base_url, key, [source["id"]], source_id=source["id"], concurrency=100, duration=SECONDS
        )
    finally:
        server.stop()
    print(stats.summary())
    assert stats.requests > 100
    assert len(stats.extends_submitted) >= 2
    assert not stats.errors, (dict(stats.errors), stats.error_samples)
