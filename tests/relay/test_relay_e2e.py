"""The relay engine end to end: a real ``videoloom serve`` in front of fake upstreams on 127.0.0.1.

Every answer the server gives and every line it logs is kept; the last test checks that no
upstream key appears in any of them (nor in the database file).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest

from tests.media.sources import SOUND_RATE, decode_audio, dominant_hz
from tests.relay.fake_upstream import NEW_HZ, SIZE, Channel, FakeUpstreams, upstream_frame
from tests.support import ServerProcess, decode_all, make_clip, psnr, upload, wait_for_task
from videoloom.core.signing import sign_content
from videoloom.media import fit_frame

pytestmark = pytest.mark.slow

UPSTREAM_MATCH_DB = 28
"""Frames that are the upstream's, after two H.264 encodes and a resize."""

CHANNELS = [
    # name, kind, behaviour, models it serves, extra settings
    ("xai-main", "xai", "ok", {"grok-relay": "grok-imagine-video"}, {}),
    ("openai-main", "openai", "ok", {"openai-relay": "sora-2-pro"}, {}),
    ("flaky", "xai", "429", {"failover-relay": "grok-imagine-video"}, {"priority": 0}),
    ("steady", "xai", "ok", {"failover-relay": "grok-imagine-video"}, {"priority": 1}),
    ("reject", "xai", "400", {"reject-relay": "grok-imagine-video"}, {}),
    ("stuck", "xai", "never", {"slow-relay": "grok-imagine-video"}, {"timeout_s": 2}),
    ("expiring", "xai", "expire_link", {"expiring-relay": "grok-imagine-video"}, {}),
    ("xai-signed", "xai", "ok", {"signed-relay": "grok-imagine-video"}, {"video_transport": "signed_url"}),
    ("seed-gw", "openai", "ok", {"seed-relay": "sora-2"}, {"extend_route": "seed"}),
    ("slow-xai", "xai", "slow", {"resume-relay": "grok-imagine-video"}, {}),
]


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml_value(v)}' for k, v in value.items()) + " }"
    return json.dumps(value)


def _models_file(path: Path, fakes: FakeUpstreams) -> Path:
    lines = []
    models = sorted({m for *_, served, _ in CHANNELS for m in served})
    for model in ["grok-relay", *[m for m in models if m != "grok-relay"]]:
        lines += [f"[models.{model}]", 'engine = "relay"', "max_duration = 10", ""]
    lines += ["[models.motion-1]", 'engine = "motion"', ""]
    for name, kind, _, served, extra in CHANNELS:
        table = {
            "kind": kind,
            "base_url": fakes.url(name),
            "api_key_env": f"RELAY_TEST_KEY_{name.upper().replace('-', '_')}",
            "models": served,
            "poll_interval_s": 0.2,
            "max_poll_interval_s": 0.4,
            **extra,
        }
        lines += [f"[channels.{name}]", *(f"{k} = {_toml_value(v)}" for k, v in table.items()), ""]
    path.write_text("\n".join(lines))
    return path


@pytest.fixture(scope="module")
def fakes() -> Iterator[FakeUpstreams]:
    upstreams = FakeUpstreams(
        [
            Channel(name=n, kind=k, key=f"sk-{n}-{secrets.token_hex(16)}", behaviour=b)
            for n, k, b, *_ in CHANNELS
        ]
    )
    upstreams.start()
    yield upstreams
    upstreams.stop()


def _server(root: Path, fakes: FakeUpstreams) -> ServerProcess:
    """A server over every fake channel; its public base URL is its own loopback address, where
    the ``signed_url`` upstream fetches the clips it is given."""
    keys = {f"RELAY_TEST_KEY_{c.name.upper().replace('-', '_')}": c.key for c in fakes.channels.values()}
    server = ServerProcess(
        root / "data",
        extra_env={**keys, "VIDEOLOOM_MODELS_FILE": str(_models_file(root / "models.toml", fakes))},
    )
    server.env["VIDEOLOOM_PUBLIC_BASE_URL"] = server.base_url
    return server


@pytest.fixture(scope="module")
def relay_server(tmp_path_factory: pytest.TempPathFactory, fakes: FakeUpstreams) -> Iterator[ServerProcess]:
    server = _server(tmp_path_factory.mktemp("relay"), fakes)
    server.keys = {  # type: ignore[attr-defined]
        name: server.cli("keys", "create", "--name", name, "--tenant", tenant).stdout.strip()
        for name, tenant in (("alice", "alice"), ("carol", "team"), ("dave", "team"))
    }
    server.start()
    yield server
    server.stop()


ANSWERS: list[bytes] = []
"""Every response body the server sent in these tests."""


def _client(server: ServerProcess, name: str) -> httpx.Client:
    client = server.client(server.keys[name])  # type: ignore[attr-defined]

    def keep(response: httpx.Response) -> None:
        response.read()
        ANSWERS.append(response.content)

    client.event_hooks["response"] = [keep]
    return client


@pytest.fixture(scope="module")
def alice(relay_server: ServerProcess) -> Iterator[httpx.Client]:
    with _client(relay_server, "alice") as client:
        yield client


@pytest.fixture(scope="module")
def carol(relay_server: ServerProcess) -> Iterator[httpx.Client]:
    with _client(relay_server, "carol") as client:
        yield client


@pytest.fixture(scope="module")
def dave(relay_server: ServerProcess) -> Iterator[httpx.Client]:
    with _client(relay_server, "dave") as client:
        yield client


@pytest.fixture(scope="module")
def source_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "source-6s.mp4", seconds=6, width=640, height=360)


def _create(client: httpx.Client, model: str, *, duration: int = 2) -> dict[str, Any]:
    response = client.post(
        "/v1/video/create", json={"model": model, "prompt": "a lighthouse at dusk", "duration": duration}
    )
    assert response.status_code == 200, response.text
    return wait_for_task(client, response.json()["id"], timeout=60)


def _video(client: httpx.Client, task: dict[str, Any]) -> tuple[list[np.ndarray], Any]:
    response = client.get(f"/v1/videos/{task['id']}/content")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "video/mp4"
    return decode_all(response.content)


def _sound(client: httpx.Client, task: dict[str, Any], tmp_path: Path) -> np.ndarray:
    """The output's sound (channels × samples at 48 kHz); fails when it has none."""
    path = tmp_path / f"{task['id'].replace(':', '_')}.mp4"
    path.write_bytes(client.get(f"/v1/videos/{task['id']}/content").content)
    sound = decode_audio(path)
    assert sound is not None, "the output has no sound"
    samples, start, codec = sound
    assert codec == "aac" and abs(start) <= 0.03
    return samples


def _hz_between(samples: np.ndarray, start: float, end: float) -> float:
    return dominant_hz(samples[:, round(start * SOUND_RATE) : round(end * SOUND_RATE)])


def _silent_between(samples: np.ndarray, start: float, end: float) -> bool:
    part = samples[:, round(start * SOUND_RATE) : round(end * SOUND_RATE)].astype(np.float64)
    return float(np.sqrt(np.mean(part**2))) < 0.01


def _extend(
    client: httpx.Client, model: str, source_id: str, *, start_time: int, seconds: int
) -> dict[str, Any]:
    response = client.post(
        "/v1/videos/extensions",
        json={
            "model": model,
            "prompt": "the camera keeps moving",
            "video": {"id": source_id},
            "seconds": str(seconds),
            "start_time": start_time,
        },
    )
    assert response.status_code == 200, response.text
    return wait_for_task(client, response.json()["id"], timeout=60)


def _matches_upstream(frames: list[np.ndarray], made_at: tuple[int, int]) -> float:
    """The worst PSNR of ``frames`` against the upstream's own frames (made at ``made_at``)."""
    height, width = frames[0].shape[:2]
    return min(psnr(f, fit_frame(upstream_frame(i, *made_at), width, height)) for i, f in enumerate(frames))


# --- create and extend ------------------------------------------------------------------------


def test_create_relays_to_xai_and_stores_the_result_locally(
    alice: httpx.Client, fakes: FakeUpstreams, tmp_path: Path
) -> None:
    done = _create(alice, "grok-relay", duration=2)
    assert done["status"] == "completed", done
    assert done["engine"]["channel"] == "xai-main"
    assert done["engine"]["upstream_request_id"] in fakes.channels["xai-main"].jobs
    submitted = fakes.channels["xai-main"].submits[-1]
    assert submitted["model"] == "grok-imagine-video" and submitted["duration"] == 2
    assert submitted["aspect_ratio"] == "16:9" and submitted["resolution"] == "720p"

    frames, rate = _video(alice, done)
    assert rate == 24 and len(frames) == 48
    assert frames[0].shape == (720, 1280, 3)  # the default 720P, made from the upstream's 320×180
    worst = _matches_upstream(frames, SIZE)
    assert worst >= UPSTREAM_MATCH_DB, f"the output is not the upstream's video: {worst:.1f} dB"
    thumbnail = alice.get(f"/v1/videos/{done['id']}/content", params={"variant": "thumbnail"})
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    # The upstream's sound comes with its pictures.
    sound = _sound(alice, done, tmp_path)
    assert abs(sound.shape[1] / SOUND_RATE - 2.0) <= 0.03
    assert _hz_between(sound, 0.5, 1.5) == pytest.approx(NEW_HZ, abs=2)


def test_extend_mid_source_through_an_append_only_xai_upstream(
    alice: httpx.Client, fakes: FakeUpstreams, source_clip: Path, tmp_path: Path
) -> None:
    source = upload(alice, source_clip)
    source_frames = decode_all(source_clip)[0]
    done = _extend(alice, "grok-relay", source["id"], start_time=4, seconds=2)
    assert done["status"] == "completed", done
    assert done["parent_id"] == source["id"] and done["start_time"] == 4
    assert done["engine"]["upstream_returned"] == "whole_clip"

    # The upstream got the kept part (4 s before the cut), frame for frame.
    sent = fakes.channels["xai-main"].submits[-1]
    assert sent["path"] == "extensions" and sent["duration"] == 2
    assert len(sent["clip"]) == 96
    assert min(psnr(a, b) for a, b in zip(sent["clip"], source_frames[:96], strict=True)) >= 35

    frames, rate = _video(alice, done)
    assert rate == 24 and len(frames) == 96 + 48
    assert frames[0].shape == (360, 640, 3)
    kept = min(psnr(frames[i], source_frames[i]) for i in range(96))
    assert kept >= 35, f"the kept part differs from the source: {kept:.1f} dB"
    new = frames[96:]
    assert _matches_upstream(new, (640, 360)) >= UPSTREAM_MATCH_DB, "the new part is not the upstream's"
    # …and not the rest of the source (frames 96+ of the source were cut off).
    assert psnr(new[10], source_frames[106]) < 20
    # The source is silent; the new seconds have the sound of the upstream's new part, not of
    # the clip it repeated at the start of its answer.
    sound = _sound(alice, done, tmp_path)
    assert _silent_between(sound, 0.1, 3.9)
    assert _hz_between(sound, 4.5, 5.5) == pytest.approx(NEW_HZ, abs=2)
    assert abs(sound.shape[1] / SOUND_RATE - 6.0) <= 0.05


def test_openai_kind_creates_and_extends(
    alice: httpx.Client, fakes: FakeUpstreams, source_clip: Path, tmp_path: Path
) -> None:
    upstream = fakes.channels["openai-main"]
    created = _create(alice, "openai-relay", duration=1)
    assert created["status"] == "completed", created
    submitted = upstream.submits[-1]
    assert submitted["model"] == "sora-2-pro"
    # OpenAI accepts 4, 8 or 12 s and its own sizes: the smallest cover is asked for, then trimmed.
    assert submitted["seconds"] == "4" and submitted["size"] == "1280x720"
    assert upstream.content_types[-1] == "multipart/form-data"  # as OpenAI documents it
    frames, _ = _video(alice, created)
    assert len(frames) == 24 and _matches_upstream(frames, SIZE) >= UPSTREAM_MATCH_DB

    source = upload(alice, source_clip)
    extended = _extend(alice, "openai-relay", source["id"], start_time=3, seconds=2)
    assert extended["status"] == "completed", extended
    assert extended["engine"]["upstream_returned"] == "new_part"
    assert len(upstream.submits[-1]["clip"]) == 72  # sent as an uploaded file (multipart)
    assert upstream.submits[-1]["seconds"] == "4"
    frames, _ = _video(alice, extended)
    assert len(frames) == 72 + 48
    source_frames = decode_all(source_clip)[0]
    assert min(psnr(frames[i], source_frames[i]) for i in range(72)) >= 35
    assert _matches_upstream(frames[72:], (640, 360)) >= UPSTREAM_MATCH_DB
    sound = _sound(alice, extended, tmp_path)  # an answer of the new part only: its sound from 0
    assert _silent_between(sound, 0.1, 2.9) and _hz_between(sound, 3.5, 4.5) == pytest.approx(NEW_HZ, abs=2)


def test_an_extend_of_a_long_source_sends_only_the_last_15_seconds_before_the_cut(
    alice: httpx.Client, fakes: FakeUpstreams, tmp_path: Path
) -> None:
    long_clip = make_clip(tmp_path / "source-20s.mp4", seconds=20, width=320, height=180)
    source_frames = decode_all(long_clip)[0]
    source = upload(alice, long_clip)
    done = _extend(alice, "grok-relay", source["id"], start_time=18, seconds=2)
    assert done["status"] == "completed", done
    assert done["engine"]["clip_seconds"] == 15.0

    sent = fakes.channels["xai-main"].submits[-1]["clip"]
    assert len(sent) == 15 * 24  # 18 s kept, the upstream takes at most 15
    # Frames 72…431 of the source: the 15 s right before the cut, not its first 15 s.
    assert min(psnr(a, b) for a, b in zip(sent, source_frames[72:432], strict=True)) >= 35
    assert psnr(sent[0], source_frames[0]) < 30

    frames, _ = _video(alice, done)
    assert len(frames) == 432 + 48
    assert min(psnr(frames[i], source_frames[i]) for i in range(0, 432, 6)) >= 35  # the whole kept part
    assert _matches_upstream(frames[432:], SIZE) >= UPSTREAM_MATCH_DB


def test_the_seed_route_uploads_the_clip_then_extends_that_video(
    alice: httpx.Client, fakes: FakeUpstreams, source_clip: Path
) -> None:
    gateway = fakes.channels["seed-gw"]
    source = upload(alice, source_clip)
    done = _extend(alice, "seed-relay", source["id"], start_time=3, seconds=2)
    assert done["status"] == "completed", done

    sent = gateway.submits[-1]
    assert sent["path"] == "extend" and sent["model"] == "sora-2"
    assert sent["duration"] == 4  # OpenAI's smallest duration covering 2 s
    uploaded = gateway.uploads[sent["video_id"]]  # it extended the clip uploaded just before
    source_frames = decode_all(source_clip)[0]
    assert len(uploaded) == 72
    assert min(psnr(a, b) for a, b in zip(uploaded, source_frames[:72], strict=True)) >= 35
    assert done["engine"]["upstream_returned"] == "whole_clip"  # this gateway answers the upload + new

    frames, _ = _video(alice, done)
    assert len(frames) == 72 + 48
    assert min(psnr(frames[i], source_frames[i]) for i in range(72)) >= 35
    assert _matches_upstream(frames[72:], (640, 360)) >= UPSTREAM_MATCH_DB


def _relay_input(base: str, task_id: str, expires: int, signature: str) -> httpx.Response:
    return httpx.get(
        f"{base}/v1/videos/{task_id}/relay-input", params={"expires": expires, "signature": signature}
    )


def test_signed_url_transport_gives_the_upstream_a_link_to_videoloom_itself(
    relay_server: ServerProcess, alice: httpx.Client, fakes: FakeUpstreams, source_clip: Path
) -> None:
    upstream = fakes.channels["xai-signed"]
    source = upload(alice, source_clip)
    done = _extend(alice, "signed-relay", source["id"], start_time=3, seconds=2)
    assert done["status"] == "completed", done
    task_id, base = done["id"], relay_server.base_url

    # The upstream was sent a link to this server's relay-input route, fetched it (from
    # 127.0.0.1, with no key of ours) and got the kept part, frame for frame.
    sent = upstream.submits[-1]
    url = sent["video_url"]
    assert url.startswith(f"{base}/v1/videos/{task_id}/relay-input?expires=")
    assert upstream.fetched[-1] == (url, 200)
    source_frames = decode_all(source_clip)[0]
    assert len(sent["clip"]) == 72
    assert min(psnr(a, b) for a, b in zip(sent["clip"], source_frames[:72], strict=True)) >= 35
    frames, _ = _video(alice, done)
    assert len(frames) == 72 + 48 and _matches_upstream(frames[72:], (640, 360)) >= UPSTREAM_MATCH_DB

    query = parse_qs(urlsplit(url).query)
    expires, signature = int(query["expires"][0]), query["signature"][0]
    assert 1700 <= expires - time.time() <= 1800  # the channel's timeout_s (default 1800), under 1 h
    # The upstream has answered: the clip is no longer kept nor served (its link answers 404,
    # not 401: the signature is still good).
    clip_file = f"{task_id.replace(':', '_')}/relay-input.mp4"
    assert not any(path.endswith(clip_file) for path in relay_server.stored_files())
    assert httpx.get(url).status_code == 404

    secret = bytes.fromhex((relay_server.data_dir / "secret.key").read_text().strip())
    later = int(time.time()) + 600
    signed_here = _relay_input(base, task_id, later, sign_content(secret, task_id, "relay_input", later))
    assert signed_here.status_code == 404  # past the signature check: the refusals below are its doing
    past = int(time.time()) - 5
    refused = [
        _relay_input(base, task_id, past, sign_content(secret, task_id, "relay_input", past)),  # expired
        _relay_input(base, task_id, expires, signature[:-1] + ("0" if signature[-1] != "0" else "1")),
        _relay_input(base, task_id, expires + 60, signature),  # a longer life is a forgery too
        _relay_input(base, source["id"], expires, signature),  # another task's files
        httpx.get(f"{base}/v1/videos/{task_id}/content", params={"expires": expires, "signature": signature}),
    ]
    for answer in refused:
        assert answer.status_code == 401, (answer.request.url, answer.text)
        assert answer.json()["error"]["code"] == "invalid_signature"
    video = parse_qs(urlsplit(done["video_url"]).query)  # nor does a video link open the clip
    assert _relay_input(base, task_id, int(video["expires"][0]), video["signature"][0]).status_code == 401
    assert httpx.get(f"{base}/v1/videos/{task_id}/relay-input").status_code == 400  # no signature
    ANSWERS.extend(answer.content for answer in refused)


def test_a_server_killed_while_polling_resumes_the_upstream_request_after_restart(
    fakes: FakeUpstreams, tmp_path: Path
) -> None:
    upstream = fakes.channels["slow-xai"]
    submits, downloads = len(upstream.submits), upstream.downloads
    server = _server(tmp_path, fakes)
    key = server.cli("keys", "create", "--name", "crash").stdout.strip()
    server.start()
    try:
        with server.client(key) as client:
            created = client.post(
                "/v1/video/create", json={"model": "resume-relay", "prompt": "a slow tide", "duration": 1}
            ).json()
            # The submit is on record (engine field) while the task runs; wait until it is
            # polled too, then kill the server mid-poll.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                state = client.get("/v1/video/query", params={"id": created["id"]}).json()
                request_id = (state.get("engine") or {}).get("upstream_request_id")
                if request_id and upstream.jobs[request_id]["polls"] >= 1:
                    break
                time.sleep(0.05)
            assert request_id and state["state"] == "processing", state
        server.stop(kill=True)
        assert len(upstream.submits) == submits + 1

        server.start()
        with server.client(key) as client:
            done = wait_for_task(client, created["id"], timeout=60)
            assert done["status"] == "completed", done
            frames, _ = _video(client, done)
        assert done["attempts"] == 2
        assert done["engine"]["upstream_request_id"] == request_id and done["engine"]["resumed"] is True
        assert len(upstream.submits) == submits + 1, "the restarted server submitted the job again"
        assert upstream.downloads == downloads + 1
        assert len(frames) == 24 and _matches_upstream(frames, SIZE) >= UPSTREAM_MATCH_DB
    finally:
        server.stop()


# --- failures ---------------------------------------------------------------------------------


def test_a_429_from_the_first_channel_falls_over_to_the_second(
    alice: httpx.Client, fakes: FakeUpstreams
) -> None:
    before = len(fakes.channels["flaky"].submits)
    done = _create(alice, "failover-relay", duration=1)
    assert done["status"] == "completed", done
    assert done["engine"]["channel"] == "steady"
    assert len(fakes.channels["flaky"].submits) == before + 1  # tried first (priority 0), refused
    assert fakes.channels["steady"].submits


def test_a_400_fails_the_task_with_the_upstreams_message(alice: httpx.Client, fakes: FakeUpstreams) -> None:
    done = _create(alice, "reject-relay", duration=2)
    assert done["status"] == "failed"
    assert done["error"]["code"] == "upstream_rejected"
    assert "prompt rejected by moderation" in done["error"]["message"]
    assert fakes.channels["reject"].key not in done["error"]["message"]
    video = alice.get(f"/v1/videos/{done['id']}").json()  # the OpenAI shape says the same
    assert video["status"] == "failed" and video["error"]["code"] == "upstream_rejected"


def test_an_upstream_that_never_finishes_fails_within_its_timeout(alice: httpx.Client) -> None:
    started = time.monotonic()
    done = _create(alice, "slow-relay", duration=2)
    elapsed = time.monotonic() - started
    assert done["status"] == "failed"
    assert done["error"]["code"] == "upstream_timeout"
    assert "2 s" in done["error"]["message"]
    assert 2 <= elapsed < 12, elapsed


def test_an_expired_upstream_link_does_not_break_content(alice: httpx.Client, fakes: FakeUpstreams) -> None:
    done = _create(alice, "expiring-relay", duration=1)
    assert done["status"] == "completed", done
    job_id = done["engine"]["upstream_request_id"]
    gone = httpx.get(f"{fakes.url('expiring')}/files/{job_id}.mp4", timeout=10)
    assert gone.status_code == 404  # the upstream's link is dead now…
    for _ in range(2):  # …and Videoloom serves its own copy, as often as asked
        frames, _ = _video(alice, done)
        assert len(frames) == 24
    signed = httpx.get(done["video_url"], timeout=30)
    assert signed.status_code == 200 and len(decode_all(signed.content)[0]) == 24


# --- usage --------------------------------------------------------------------------------------


def test_usage_counts_generated_seconds_per_key_and_zero_for_failures(
    relay_server: ServerProcess,
    alice: httpx.Client,
    carol: httpx.Client,
    dave: httpx.Client,
    source_clip: Path,
) -> None:
    assert _create(carol, "grok-relay", duration=2)["status"] == "completed"
    source = upload(carol, source_clip)
    assert _extend(carol, "grok-relay", source["id"], start_time=4, seconds=3)["status"] == "completed"
    assert _create(carol, "motion-1", duration=1)["status"] == "completed"
    assert _create(dave, "reject-relay", duration=4)["status"] == "failed"
    assert _create(dave, "slow-relay", duration=2)["status"] == "failed"

    answer = carol.get("/v1/usage")
    assert answer.status_code == 200, answer.text
    usage = answer.json()
    rows = {(e["api_key"], e["model"]): e for e in usage["data"]}
    assert set(rows) == {
        ("carol", "grok-relay"),
        ("carol", "motion-1"),
        ("dave", "reject-relay"),
        ("dave", "slow-relay"),
    }
    relay = rows[("carol", "grok-relay")]
    assert relay["seconds"] == pytest.approx(5.0)  # 2 s created + 3 s new (the kept 4 s are not counted)
    assert relay["tasks"] == 2 and relay["completed"] == 2 and relay["failed"] == 0
    assert relay["channels"] == {"xai-main": pytest.approx(5.0)}
    assert set(relay["resolutions"]) == {"1280x720", "640x360"}
    assert rows[("carol", "motion-1")]["seconds"] == pytest.approx(1.0)
    assert rows[("carol", "motion-1")]["channels"] == {}
    for model in ("reject-relay", "slow-relay"):
        assert rows[("dave", model)]["seconds"] == 0 and rows[("dave", model)]["failed"] == 1
    assert usage["total_seconds"] == pytest.approx(6.0)
    assert dave.get("/v1/usage").json() == usage  # one tenant: both keys see the same report

    # Tenant-scoped: alice (another tenant) sees none of it.
    assert all(e["api_key"] == "alice" for e in alice.get("/v1/usage").json()["data"])
    today = relay["day"]
    assert carol.get("/v1/usage", params={"start": today, "end": today}).json()["total_seconds"] == 6.0
    assert carol.get("/v1/usage", params={"end": "2000-01-01"}).json()["data"] == []
    bad = carol.get("/v1/usage", params={"start": "yesterday"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "start"

    env = {**relay_server.env, "VIDEOLOOM_BASE_URL": relay_server.base_url}
    env["VIDEOLOOM_API_KEY"] = relay_server.keys["carol"]  # type: ignore[attr-defined]
    run = subprocess.run(
        [sys.executable, "-m", "videoloom", "usage", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["total_seconds"] == pytest.approx(6.0)
    table = subprocess.run(
        [sys.executable, "-m", "videoloom", "usage"], env=env, capture_output=True, text=True, timeout=60
    )
    assert table.returncode == 0 and "grok-relay" in table.stdout and "total: 6 s" in table.stdout
    ANSWERS.extend([run.stdout.encode(), table.stdout.encode()])


# --- secrets ------------------------------------------------------------------------------------


def test_no_upstream_key_appears_in_logs_answers_or_the_database(
    relay_server: ServerProcess, fakes: FakeUpstreams
) -> None:
    assert len(ANSWERS) > 20
    log = relay_server.log_path.read_bytes()
    assert b"upstream" in log or b"channel" in log  # the log did record the relay's work
    database = b"".join(p.read_bytes() for p in relay_server.data_dir.glob("videoloom.db*"))
    for channel in fakes.channels.values():
        key = channel.key.encode()
        assert key not in log, f"{channel.name}'s key is in the server log"
        assert key not in database, f"{channel.name}'s key is in the database"
        for answer in ANSWERS:
            assert key not in answer, f"{channel.name}'s key is in an answer"
