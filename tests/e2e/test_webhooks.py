"""Webhooks end to end: the official SDK manages endpoints; real videos finish and fail;
a loopback receiver gets events that ``client.webhooks.unwrap`` accepts.

Safety: every delivery goes to a receiver on 127.0.0.1, reachable only because this
server runs with ``allow_private_urls``; the shared ``server`` fixture (without it)
must refuse such URLs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import BadRequestError, InvalidWebhookSignatureError, NotFoundError

from tests.support import ServerProcess, wait_for_task
from tests.webhook_receiver import Received, Receiver
from videoloom.core.webhooks import new_secret

pytestmark = pytest.mark.slow

OPERATOR_SECRET = new_secret()
NOT_AN_IMAGE = "data:image/png;base64,bm90IGFuIGltYWdl"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
def hooks_server(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[ServerProcess]:
    operator = {"url": receiver.url("/operator"), "secret": OPERATOR_SECRET, "event_types": ["video.failed"]}
    srv = ServerProcess(
        tmp_path_factory.mktemp("webhooks") / "data",
        allow_private_urls="true",
        webhook_initial_backoff_seconds="0.2",
        webhook_timeout_seconds="5",
        webhook_max_age_seconds="300",
        webhook_endpoints=json.dumps([operator]),
    )
    srv.keys = {  # type: ignore[attr-defined]
        name: srv.cli("keys", "create", "--name", name).stdout.strip() for name in ("carol", "dave")
    }
    srv.start()
    yield srv
    srv.stop()


def _sdk(server: ServerProcess, name: str) -> openai.OpenAI:
    key = server.keys[name]  # type: ignore[attr-defined]
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=key, max_retries=0)


@pytest.fixture(scope="module")
def carol(hooks_server: ServerProcess) -> Iterator[openai.OpenAI]:
    with _sdk(hooks_server, "carol") as client:
        yield client


@pytest.fixture(scope="module")
def dave(hooks_server: ServerProcess) -> Iterator[openai.OpenAI]:
    with _sdk(hooks_server, "dave") as client:
        yield client


def _unwrap(client: openai.OpenAI, request: Received, secret: str) -> Any:
    return client.webhooks.unwrap(request.body, request.headers, secret=secret)


def test_endpoints_are_managed_with_the_sdk(carol: openai.OpenAI, receiver: Receiver) -> None:
    created = carol.webhooks.create(
        name="ci", url=receiver.url("/crud"), event_types=["video.completed", "video.failed"]
    )
    assert created.id.startswith("whe_") and created.object == "webhook_endpoint"
    assert created.signing_secret.startswith("whsec_")
    assert created.signing_secret_hint == "whsec_****" + created.signing_secret.rstrip("=")[-4:]
    assert created.event_types == ["video.completed", "video.failed"] and created.name == "ci"
    assert created.url == receiver.url("/crud") and created.updated_at == created.created_at

    fetched = carol.webhooks.retrieve(created.id)
    assert fetched.id == created.id and fetched.signing_secret_hint == created.signing_secret_hint
    raw = carol.webhooks.with_raw_response.retrieve(created.id).http_response.json()
    assert "signing_secret" not in raw  # only create and rotate_secret show the secret

    others = [
        carol.webhooks.create(name=f"e{n}", url=receiver.url("/crud"), event_types=["video.failed"])
        for n in range(2)
    ]
    page = carol.webhooks.list(limit=2)
    assert page.has_more is True and [e.id for e in page.data] == [others[1].id, others[0].id]
    listed = [e.id for e in carol.webhooks.list(limit=2)]  # auto-paging follows ?after=<last id>
    assert listed[:3] == [others[1].id, others[0].id, created.id]

    updated = carol.webhooks.update(created.id, name="renamed", event_types=["video.failed"])
    assert updated.name == "renamed" and updated.event_types == ["video.failed"]
    assert updated.url == created.url and (updated.updated_at or 0) >= (created.updated_at or 0)
    assert carol.webhooks.retrieve(created.id).name == "renamed"

    assert carol.webhooks.event_types.list().data == ["video.completed", "video.failed"]

    for endpoint in (created, *others):
        deleted = carol.webhooks.delete(endpoint.id)
        assert deleted.deleted is True and deleted.id == endpoint.id
        assert deleted.object == "webhook_endpoint.deleted"
    with pytest.raises(NotFoundError):
        carol.webhooks.retrieve(created.id)
    with pytest.raises(NotFoundError):
        carol.webhooks.delete(created.id)


def test_invalid_endpoints_are_refused_naming_the_field(carol: openai.OpenAI, receiver: Receiver) -> None:
    with pytest.raises(BadRequestError) as info:
        carol.webhooks.create(name="x", url=receiver.url("/x"), event_types=["batch.completed"])
    assert info.value.param == "event_types" and "batch.completed" in info.value.message
    with pytest.raises(BadRequestError) as info:
        carol.webhooks.create(name="x", url="ftp://example.com/hook", event_types=["video.failed"])
    assert info.value.param == "url"
    with pytest.raises(BadRequestError) as info:
        carol.webhooks.create(name="x", url="https://user:pw@example.com/", event_types=["video.failed"])
    assert info.value.param == "url"
    with pytest.raises(BadRequestError) as info:
        carol.webhooks.create(name=" ", url=receiver.url("/x"), event_types=["video.failed"])
    assert info.value.param == "name"
    endpoint = carol.webhooks.create(name="x", url=receiver.url("/x"), event_types=["video.failed"])
    with pytest.raises(BadRequestError) as info:
        carol.webhooks.update(endpoint.id, url="gopher://example.com")
    assert info.value.param == "url"
    with pytest.raises(BadRequestError) as info:
        carol.webhooks.test(endpoint.id, event_type="batch.completed")
    assert info.value.param == "event_type"
    carol.webhooks.delete(endpoint.id)


def test_another_tenant_cannot_see_or_touch_endpoints(
    carol: openai.OpenAI, dave: openai.OpenAI, receiver: Receiver
) -> None:
    mine = carol.webhooks.create(name="carol's", url=receiver.url("/private"), event_types=["video.failed"])
    with pytest.raises(NotFoundError):
        dave.webhooks.retrieve(mine.id)
    with pytest.raises(NotFoundError):
        dave.webhooks.update(mine.id, name="stolen")
    with pytest.raises(NotFoundError):
        dave.webhooks.rotate_secret(mine.id)
    with pytest.raises(NotFoundError):
        dave.webhooks.test(mine.id, event_type="video.failed")
    with pytest.raises(NotFoundError):
        dave.webhooks.delete(mine.id)
    assert mine.id not in [e.id for e in dave.webhooks.list()]
    assert carol.webhooks.retrieve(mine.id).name == "carol's"
    assert receiver.requests("/private") == []
    carol.webhooks.delete(mine.id)


def test_test_events_and_secret_rotation(carol: openai.OpenAI, receiver: Receiver) -> None:
    endpoint = carol.webhooks.create(
        name="rot", url=receiver.url("/rotation"), event_types=["video.completed"]
    )
    result = carol.webhooks.test(endpoint.id, event_type="video.completed")
    assert result.status_code == 200 and result.success is True
    assert result.object == "webhook_endpoint.test" and result.webhook_endpoint_id == endpoint.id
    assert result.event_type == "video.completed"
    [first] = receiver.requests("/rotation")
    event = _unwrap(carol, first, endpoint.signing_secret)
    assert event.type == "video.completed" and event.object == "event" and event.id.startswith("evt_")

    kept = carol.webhooks.rotate_secret(endpoint.id, keep_old_secret_active_for_24_hours=True)
    assert kept.signing_secret != endpoint.signing_secret and kept.signing_secret.startswith("whsec_")
    assert kept.signing_secret_hint == "whsec_****" + kept.signing_secret.rstrip("=")[-4:]
    carol.webhooks.test(endpoint.id, event_type="video.completed")
    both = receiver.requests("/rotation")[1]
    assert len(both.headers["webhook-signature"].split(" ")) == 2
    for secret in (endpoint.signing_secret, kept.signing_secret):
        assert _unwrap(carol, both, secret).type == "video.completed"

    dropped = carol.webhooks.rotate_secret(endpoint.id)  # default: the old secret stops at once
    carol.webhooks.test(endpoint.id, event_type="video.completed")
    single = receiver.requests("/rotation")[2]
    assert len(single.headers["webhook-signature"].split(" ")) == 1
    assert _unwrap(carol, single, dropped.signing_secret).type == "video.completed"
    for old in (endpoint.signing_secret, kept.signing_secret):
        with pytest.raises(InvalidWebhookSignatureError):
            _unwrap(carol, single, old)

    receiver.answer("/rotation-500", 500)
    failing = carol.webhooks.update(endpoint.id, url=receiver.url("/rotation-500"))
    assert failing.url.endswith("/rotation-500")
    assert carol.webhooks.test(endpoint.id, event_type="video.failed").status_code == 500
    carol.webhooks.delete(endpoint.id)


def test_finished_and_failed_videos_are_announced(
    hooks_server: ServerProcess, carol: openai.OpenAI, dave: openai.OpenAI, receiver: Receiver
) -> None:
    events = carol.webhooks.create(
        name="all", url=receiver.url("/events"), event_types=["video.completed", "video.failed"]
    )
    receiver.fail_first("/flaky", 2, delay=1.1)  # the retry's timestamp must be a later second
    flaky = carol.webhooks.create(name="flaky", url=receiver.url("/flaky"), event_types=["video.completed"])
    daves = dave.webhooks.create(name="dave", url=receiver.url("/dave"), event_types=["video.completed"])

    with hooks_server.client(hooks_server.keys["carol"]) as http:  # type: ignore[attr-defined]
        made = http.post("/v1/video/create", json={"model": "grok-video-3", "prompt": "x", "duration": 1})
        assert made.status_code == 200, made.text
        broken = http.post(
            "/v1/video/create",
            json={"model": "grok-video-3", "prompt": "x", "duration": 1, "images": [NOT_AN_IMAGE]},
        )
        assert broken.status_code == 200, broken.text
        done = wait_for_task(http, made.json()["id"])
        failed = wait_for_task(http, broken.json()["id"])
    assert done["status"] == "completed", done
    assert failed["status"] == "failed" and failed["error"]["code"] == "image_fetch_failed", failed

    got = receiver.wait_for(lambda rs: len(rs) >= 2, path="/events")
    by_type = {_unwrap(carol, r, events.signing_secret).type: r for r in got}
    assert set(by_type) == {"video.completed", "video.failed"}
    completed = _unwrap(carol, by_type["video.completed"], events.signing_secret)
    assert completed.data.id == done["id"] and completed.object == "event"
    assert completed.id.startswith("evt_") and isinstance(completed.created_at, int)
    assert _unwrap(carol, by_type["video.failed"], events.signing_secret).data.id == failed["id"]
    for request in got:
        tampered = request.body.replace(b'"data":{"id":"', b'"data":{"id":"x')
        assert tampered != request.body
        with pytest.raises(InvalidWebhookSignatureError):
            carol.webhooks.unwrap(tampered, request.headers, secret=events.signing_secret)

    tries = receiver.wait_for(lambda rs: any(r.status == 200 for r in rs), path="/flaky")
    assert [r.status for r in tries] == [500, 500, 200]
    assert len({r.headers["webhook-id"] for r in tries}) == 1  # the same message each time
    stamps = [int(r.headers["webhook-timestamp"]) for r in tries]
    assert stamps[0] < stamps[1] < stamps[2]  # signed afresh for every attempt
    assert all(abs(stamp - r.at) <= 2 for stamp, r in zip(stamps, tries, strict=True))
    assert len({r.body for r in tries}) == 1
    flaky_event = _unwrap(carol, tries[2], flaky.signing_secret)
    assert flaky_event.type == "video.completed" and flaky_event.data.id == done["id"]

    operator = receiver.wait_for(lambda rs: len(rs) >= 1, path="/operator")
    [op_event] = [_unwrap(carol, r, OPERATOR_SECRET) for r in operator]
    assert op_event.type == "video.failed" and op_event.data.id == failed["id"]
    assert receiver.requests("/dave") == []  # another tenant's videos are not dave's events
    dave.webhooks.delete(daves.id)


def test_loopback_urls_are_refused_without_allow_private(server: ServerProcess) -> None:
    with openai.OpenAI(
        base_url=server.base_url + "/v1",
        api_key=server.keys["alice"],  # type: ignore[attr-defined]
        max_retries=0,
    ) as client:
        for url in (f"http://127.0.0.1:{server.port}/hook", "http://[::1]:9/hook", "http://localhost:9/"):
            with pytest.raises(BadRequestError) as info:
                client.webhooks.create(name="local", url=url, event_types=["video.completed"])
            assert info.value.param == "url" and info.value.code == "address_not_allowed"
            assert "url" in info.value.message
        assert client.webhooks.list().data == []


def test_routes_answer_the_openai_error_envelope(hooks_server: ServerProcess) -> None:
    response = httpx.post(
        hooks_server.base_url + "/v1/webhook_endpoints",
        json={"name": "x", "url": "https://example.com", "event_types": ["video.failed"]},
    )
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
