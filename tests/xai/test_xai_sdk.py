"""The official ``xai-sdk``, unchanged, against ``videoloom serve`` with a gRPC port (loopback)."""

from __future__ import annotations

import base64
import datetime
import functools
import http.server
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
import xai_sdk
from PIL import Image
from xai_sdk.proto import deferred_pb2, video_pb2, video_pb2_grpc
from xai_sdk.video import VideoGenerationError, VideoResponse

from tests.support import ServerProcess, decode_all, free_port, make_clip, psnr

pytestmark = pytest.mark.slow

MODEL = "grok-video-3"
POLL = {"interval": datetime.timedelta(seconds=0.2), "timeout": datetime.timedelta(minutes=3)}
ALLOWED_HOST = "127.0.0.2"  # the one loopback address the server may fetch video URLs from


class GrpcServer:
    def __init__(self, srv: ServerProcess, grpc_port: int, keys: dict[str, str]) -> None:
        self.srv = srv
        self.grpc_port = grpc_port
        self.keys = keys
        self.idle: IdleChannel | None = None

    @property
    def host(self) -> str:
        return f"localhost:{self.grpc_port}"

    def sdk(self, key: str) -> xai_sdk.Client:
        return xai_sdk.Client(api_key=key, api_host=self.host, use_insecure_channel=True, timeout=120)

    def raw(self, method: str, request: Any, key: str | None) -> Any:
        """One call on a bare channel: for what the SDK refuses to send (bad enums, no key)."""
        metadata = (("authorization", f"Bearer {key}"),) if key else ()
        with grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}") as channel:
            return getattr(video_pb2_grpc.VideoStub(channel), method)(request, metadata=metadata, timeout=60)


def start_server(data_dir: Path, names: tuple[str, ...], **settings: str) -> GrpcServer:
    grpc_port = free_port()
    srv = ServerProcess(data_dir, grpc_port=str(grpc_port), **settings)
    keys = {name: srv.cli("keys", "create", "--name", name).stdout.strip() for name in names}
    srv.start()
    return GrpcServer(srv, grpc_port, keys)


class IdleChannel:
    """A connection that makes no calls and pings every 10 s; it records its states."""

    def __init__(self, port: int) -> None:
        options = [
            ("grpc.keepalive_time_ms", 10_000),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
        ]
        self.states: list[grpc.ChannelConnectivity] = []
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=options)
        self.channel.subscribe(self.states.append, try_to_connect=True)
        grpc.channel_ready_future(self.channel).result(timeout=10)
        self.opened = time.monotonic()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrpcServer]:
    data_dir = tmp_path_factory.mktemp("xai") / "data"
    running = start_server(data_dir, ("alice", "bob"), url_allow_networks=f'["{ALLOWED_HOST}/32"]')
    running.idle = IdleChannel(running.grpc_port)  # checked by the module's last test
    yield running
    running.idle.channel.close()
    running.srv.stop()


@pytest.fixture(scope="module")
def alice(server: GrpcServer) -> xai_sdk.Client:
    return server.sdk(server.keys["alice"])


@pytest.fixture(scope="module")
def bob(server: GrpcServer) -> xai_sdk.Client:
    return server.sdk(server.keys["bob"])


@pytest.fixture(scope="module")
def generated(alice: xai_sdk.Client) -> VideoResponse:
    return alice.video.generate(
        prompt="a calm ocean at sunset, slow pan right",
        model=MODEL,
        duration=4,
        aspect_ratio="16:9",
        resolution="720p",
        **POLL,
    )


def download(url: str) -> bytes:
    response = httpx.get(url, follow_redirects=True, timeout=60)  # no key: the URL is signed
    assert response.status_code == 200, response.text
    return response.content


def request_id_of(url: str) -> str:
    return url.split("/v1/videos/", 1)[1].split("/content", 1)[0]


def wait_done(client: xai_sdk.Client, request_id: str) -> video_pb2.GetDeferredVideoResponse:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        answer = client.video.get(request_id)
        if answer.status != deferred_pb2.PENDING:
            return answer
        time.sleep(0.2)
    raise AssertionError(f"{request_id} still pending")


def rpc_error(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


# --- generate and extend ----------------------------------------------------------------------


def test_generate_returns_a_downloadable_4s_720p_mp4(generated: VideoResponse) -> None:
    assert generated.url.startswith("http://127.0.0.1:") and "signature=" in generated.url
    assert generated.duration == 4 and generated.respect_moderation and generated.model == MODEL
    frames, rate = decode_all(download(generated.url))
    assert rate == 24 and len(frames) == 96
    assert frames[0].shape == (720, 1280, 3)


def test_extend_by_url_appends_4s_and_keeps_the_first_4s(
    alice: xai_sdk.Client, generated: VideoResponse
) -> None:
    extended = alice.video.extend(
        prompt="the camera keeps drifting right", model=MODEL, video_url=generated.url, duration=4, **POLL
    )
    assert extended.duration == 8
    source, _ = decode_all(download(generated.url))
    frames, rate = decode_all(download(extended.url))
    assert rate == 24 and len(frames) == 192 and frames[0].shape == (720, 1280, 3)
    worst = min(psnr(a, b) for a, b in zip(source, frames[:96], strict=True))
    assert worst >= 35, worst


def test_extend_by_task_id_defaults_to_6s(alice: xai_sdk.Client, generated: VideoResponse) -> None:
    extended = alice.video.extend(
        prompt="slow zoom in", model=MODEL, video_url=request_id_of(generated.url), **POLL
    )
    assert extended.duration == 10


def test_pending_then_done_with_progress(alice: xai_sdk.Client) -> None:
    started = alice.video.start(prompt="a forest in fog", model=MODEL, duration=15, resolution="1080p")
    first = alice.video.get(started.request_id)
    assert first.status in (deferred_pb2.PENDING, deferred_pb2.DONE)
    if first.status == deferred_pb2.PENDING:
        assert 0 <= first.response.progress < 100 and first.response.model == MODEL
    done = wait_done(alice, started.request_id)
    assert done.status == deferred_pb2.DONE and done.response.progress == 100
    assert done.response.video.duration == 15


def test_defaults_follow_xai_480p_16x9_8s(alice: xai_sdk.Client) -> None:
    response = alice.video.generate(prompt="a quiet street", model=MODEL, **POLL)
    frames, _ = decode_all(download(response.url))
    assert response.duration == 8 and len(frames) == 192 and frames[0].shape == (480, 854, 3)


def test_image_is_the_first_frame(alice: xai_sdk.Client) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 360), (220, 30, 30)).save(buffer, format="PNG")
    image = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    response = alice.video.generate(
        prompt="hold still", model=MODEL, image_url=image, duration=2, aspect_ratio="1:1", **POLL
    )
    frames, _ = decode_all(download(response.url))
    assert frames[0].shape == (480, 480, 3)
    red, green, blue = frames[0].reshape(-1, 3).mean(axis=0)
    assert red > 180 and green < 70 and blue < 70


def test_video_to_video_applies_an_edit(alice: xai_sdk.Client, generated: VideoResponse) -> None:
    response = alice.video.generate(
        prompt="make it black and white", model=MODEL, video_url=request_id_of(generated.url), **POLL
    )
    frames, _ = decode_all(download(response.url))
    assert response.duration == 4 and len(frames) == 96
    sample = frames[48].astype(np.int16)
    assert np.abs(sample[..., 0] - sample[..., 1]).mean() < 3


def test_failed_task_raises_the_sdks_generation_error(alice: xai_sdk.Client) -> None:
    with pytest.raises(VideoGenerationError) as caught:
        alice.video.generate(
            prompt="x",
            model=MODEL,
            duration=1,
            reference_image_urls=["http://unresolvable.invalid/reference.png"],
            **POLL,
        )
    assert caught.value.code and caught.value.message


# --- across dialects -----------------------------------------------------------------------


def test_a_grpc_task_is_visible_over_http(server: GrpcServer, alice: xai_sdk.Client) -> None:
    started = alice.video.start(prompt="a lighthouse", model=MODEL, duration=2, resolution="720p")
    assert wait_done(alice, started.request_id).status == deferred_pb2.DONE
    with server.srv.client(server.keys["alice"]) as http:
        video = http.get(f"/v1/videos/{started.request_id}").json()
    assert video["id"] == started.request_id and video["status"] == "completed"
    assert video["seconds"] == "2" and video["size"] == "1280x720" and video["model"] == MODEL


def test_an_http_video_extends_over_grpc(server: GrpcServer, alice: xai_sdk.Client) -> None:
    with server.srv.client(server.keys["alice"]) as http:
        created = http.post(
            "/v1/videos", json={"prompt": "waves", "model": MODEL, "seconds": "4", "size": "1280x720"}
        ).json()
        deadline = time.monotonic() + 180
        while http.get(f"/v1/videos/{created['id']}").json()["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        original = http.get(f"/v1/videos/{created['id']}/content").content
    extended = alice.video.extend(
        prompt="more waves", model=MODEL, video_url=created["id"], duration=4, **POLL
    )
    assert extended.duration == 8
    source, _ = decode_all(original)
    frames, _ = decode_all(download(extended.url))
    assert len(frames) == 192
    assert min(psnr(a, b) for a, b in zip(source, frames[:96], strict=True)) >= 35


# --- video URLs ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("clips")
    make_clip(folder / "clip.mp4", seconds=2, width=320, height=180)
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer((ALLOWED_HOST, 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://{ALLOWED_HOST}:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_an_http_video_url_is_fetched_through_the_guard(alice: xai_sdk.Client, clip_server: str) -> None:
    extended = alice.video.extend(
        prompt="go on", model=MODEL, video_url=f"{clip_server}/clip.mp4", duration=2, **POLL
    )
    frames, _ = decode_all(download(extended.url))
    assert extended.duration == 4 and len(frames) == 96 and frames[0].shape == (180, 320, 3)


def test_a_data_url_video_is_accepted(alice: xai_sdk.Client, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "tiny.mp4", seconds=1, width=160, height=96)
    url = "data:video/mp4;base64," + base64.b64encode(clip.read_bytes()).decode()
    extended = alice.video.extend(prompt="go on", model=MODEL, video_url=url, duration=1, **POLL)
    assert extended.duration == 2


def test_refused_addresses_are_invalid_argument(alice: xai_sdk.Client) -> None:
    error = rpc_error(
        lambda: alice.video.extend_start(prompt="x", model=MODEL, video_url="http://127.0.0.1:9/clip.mp4")
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "video.url" in error.details()


def test_a_tampered_signed_url_is_refused(alice: xai_sdk.Client, generated: VideoResponse) -> None:
    tampered = generated.url[:-4] + ("0000" if not generated.url.endswith("0000") else "1111")
    error = rpc_error(lambda: alice.video.extend_start(prompt="x", model=MODEL, video_url=tampered))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "video.url" in error.details() and "signature" in error.details()


# --- errors ------------------------------------------------------------------------------------


def test_a_wrong_key_is_unauthenticated(server: GrpcServer) -> None:
    wrong = server.sdk("vl-not-a-key")
    error = rpc_error(lambda: wrong.video.generate(prompt="x", model=MODEL, duration=1, **POLL))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    error = rpc_error(lambda: wrong.video.get("grok:00000000-0000-4000-8000-000000000000"))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_missing_key_is_unauthenticated(server: GrpcServer) -> None:
    request = video_pb2.GenerateVideoRequest(prompt="x", model=MODEL)
    error = rpc_error(lambda: server.raw("GenerateVideo", request, None))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED and "authorization" in error.details()


@pytest.mark.parametrize("duration", [0, 16])
def test_a_bad_generate_duration_names_the_field(alice: xai_sdk.Client, duration: int) -> None:
    error = rpc_error(lambda: alice.video.generate(prompt="x", model=MODEL, duration=duration, **POLL))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "duration" in error.details()
    assert dict(error.trailing_metadata())["videoloom-error-field"] == "duration"


def test_a_bad_extend_duration_names_the_field(alice: xai_sdk.Client, generated: VideoResponse) -> None:
    error = rpc_error(
        lambda: alice.video.extend(prompt="x", model=MODEL, video_url=generated.url, duration=11, **POLL)
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "duration" in error.details()


@pytest.mark.parametrize("field", ["aspect_ratio", "resolution"])
def test_a_bad_enum_names_the_field(server: GrpcServer, field: str) -> None:
    request = video_pb2.GenerateVideoRequest(prompt="x", model=MODEL, **{field: 42})
    error = rpc_error(lambda: server.raw("GenerateVideo", request, server.keys["alice"]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and field in error.details()


def test_a_bad_aspect_ratio_string_is_refused_by_the_sdk_itself(alice: xai_sdk.Client) -> None:
    with pytest.raises(ValueError, match="aspect ratio"):
        alice.video.start(prompt="x", model=MODEL, aspect_ratio="5:4")  # type: ignore[arg-type]


def test_unknown_model_and_unsupported_fields_are_named(alice: xai_sdk.Client) -> None:
    error = rpc_error(lambda: alice.video.start(prompt="x", model="no-such-model"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "model" in error.details()
    error = rpc_error(
        lambda: alice.video.start(prompt="x", model=MODEL, storage_options={"filename": "out.mp4"})
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "storage_options" in error.details()
    error = rpc_error(lambda: alice.video.start(prompt=" ", model=MODEL))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "prompt" in error.details()
    error = rpc_error(
        lambda: alice.video.extend_start(prompt="", model=MODEL, video_url="http://127.0.0.1:9/x.mp4")
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "prompt" in error.details()


def test_other_tenants_and_unknown_ids_are_not_found(bob: xai_sdk.Client, generated: VideoResponse) -> None:
    alice_id = request_id_of(generated.url)
    for request_id in (alice_id, "grok:00000000-0000-4000-8000-000000000000", "nonsense"):
        error = rpc_error(lambda request_id=request_id: bob.video.get(request_id))
        assert error.code() == grpc.StatusCode.NOT_FOUND, request_id
    # Even with alice's valid signed URL, bob cannot extend her video.
    error = rpc_error(lambda: bob.video.extend_start(prompt="x", model=MODEL, video_url=generated.url))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_extending_an_unfinished_video_is_failed_precondition(alice: xai_sdk.Client) -> None:
    started = alice.video.start(prompt="a long scene", model=MODEL, duration=15, resolution="1080p")
    error = rpc_error(lambda: alice.video.extend_start(prompt="x", model=MODEL, video_url=started.request_id))
    if error.code() != grpc.StatusCode.FAILED_PRECONDITION:  # it may have finished already on a fast machine
        pytest.fail(f"{error.code()}: {error.details()}")
    wait_done(alice, started.request_id)


# --- expiry and limits: a second server with tiny retention and rate limit ---------------------


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrpcServer]:
    data_dir = tmp_path_factory.mktemp("xai-strict") / "data"
    running = start_server(
        data_dir,
        ("carol", "dave"),
        retention_hours=str(3 / 3600),  # results expire 3 s after completion
        retention_sweep_seconds="0.5",
        rate_limit_per_minute="3",
    )
    yield running
    running.srv.stop()


def test_an_expired_result_is_expired(strict: GrpcServer) -> None:
    carol = strict.sdk(strict.keys["carol"])
    done = carol.video.generate(prompt="brief", model=MODEL, duration=1, **POLL)
    request_id = request_id_of(done.url)
    deadline = time.monotonic() + 30
    while (answer := carol.video.get(request_id)).status != deferred_pb2.EXPIRED:
        assert answer.status == deferred_pb2.DONE and time.monotonic() < deadline
        time.sleep(0.5)
    error = rpc_error(lambda: carol.video.extend_start(prompt="x", model=MODEL, video_url=request_id))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_the_rate_limit_is_resource_exhausted(strict: GrpcServer) -> None:
    dave = strict.sdk(strict.keys["dave"])
    for _ in range(3):
        dave.video.start(prompt="quick", model=MODEL, duration=1)
    error = rpc_error(lambda: dave.video.start(prompt="one too many", model=MODEL, duration=1))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert int(dict(error.trailing_metadata())["retry-after"]) >= 1


# --- last: the idle connection opened with the server -------------------------------------------


def test_idle_clients_that_ping_are_not_sent_away(server: GrpcServer) -> None:
    """The SDK pings every 30 s even when idle; gRPC's defaults would answer GOAWAY too_many_pings.

    A connection pinging every 10 s without calls would get its GOAWAY after three strikes
    (~40 s); it must still be the same, ready connection after 50 s.
    """
    idle = server.idle
    assert idle is not None
    time.sleep(max(0.0, idle.opened + 50 - time.monotonic()))
    ready = idle.states.index(grpc.ChannelConnectivity.READY)
    assert idle.states[ready:] == [grpc.ChannelConnectivity.READY], idle.states
