"""The server-side CLI: first-start key, keys create/list/revoke."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import ServerProcess


def test_first_start_prints_one_key_with_a_curl_example(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    proc = subprocess.Popen(
        [sys.executable, "-m", "videoloom", "serve"],
        env=server.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "curl" in line:
                break
        text = "".join(lines)
        key = next(w for w in text.split() if w.startswith("vl-"))
        assert f"curl http://127.0.0.1:{server.port}/v1/models -H 'Authorization: Bearer {key}'" in text
        for _ in range(100):
            try:
                response = httpx.get(
                    f"{server.base_url}/v1/models", headers={"Authorization": f"Bearer {key}"}
                )
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert response.status_code == 200
        names = {m["id"]: m["engine"] for m in response.json()["data"]}
        assert names == {"grok-video-3": "motion", "sora-2": "motion", "motion-1": "motion"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    # The key is stored hashed: its plaintext is nowhere in the database file.
    assert key.encode() not in (tmp_path / "data" / "videoloom.db").read_bytes()


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    created = server.cli("keys", "create", "--name", "ci")
    key = created.stdout.strip()
    assert key.startswith("vl-") and "\n" not in key
    duplicate = server.cli("keys", "create", "--name", "ci", check=False)
    assert duplicate.returncode != 0 and "already exists" in duplicate.stderr
    listing = server.cli("keys", "list").stdout
    assert "ci" in listing and key not in listing and key[:10] in listing
    server.start()
    try:
        assert (
            httpx.get(f"{server.base_url}/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code
            == 200
        )
        server.cli("keys", "revoke", "ci")
        # The server remembers verified keys for key_cache_seconds (2 s): the revocation lands by then.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            response = httpx.get(f"{server.base_url}/v1/models", headers={"Authorization": f"Bearer {key}"})
            if response.status_code == 401:
                break
            time.sleep(0.2)
        assert response.status_code == 401
    finally:
        server.stop()
    assert "revoked" in server.cli("keys", "list").stdout
    missing = server.cli("keys", "revoke", "nobody", check=False)
    assert missing.returncode != 0 and "nobody" in missing.stderr
