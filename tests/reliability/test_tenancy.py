"""Tenancy: every route, called by bob with alice's real ids, answers as for a missing id.

The route list comes from the app itself; a route this file does not know how to call (or
has not classified as taking no id) fails ``test_every_route_is_in_the_matrix``, so the
matrix stays complete as routes are added. For each call: the status is the one an unknown
id gets (404 for reads and writes, 403 where only admins may act), the body equals the body
for an unknown id once the id itself is masked, and no answer carries alice's prompt, URLs,
names, secrets, other ids or a byte of her video. Signed content URLs are bound to one id and
one variant. Mutating calls change nothing of alice's.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import httpx
import pytest
from starlette.routing import Mount

from tests.reliability.harness import GuardedServer, LoopbackListener, create_key
from tests.support import make_clip, upload, wait_for_task
from videoloom.api.app import create_app

pytestmark = pytest.mark.slow

MARK = uuid.uuid4().hex[:12]
ALICE_PROMPT = f"alice private prompt {MARK} zoom in"


@dataclass
class World:
    server: GuardedServer
    alice: httpx.Client
    bob: httpx.Client
    anonymous: httpx.Client
    listener: LoopbackListener
    upload_id: str
    extension_id: str
    failed_id: str
    bob_video_id: str
    endpoint_id: str
    endpoint_secret: str
    endpoint_url: str
    alice_key: str
    video_bytes: bytes
    thumbnail_bytes: bytes

    @property
    def alice_ids(self) -> list[str]:
        return [self.upload_id, self.extension_id, self.failed_id, self.endpoint_id]

    def forbidden_markers(self, echoed: str | None) -> list[bytes]:
        """What no answer to bob may contain (the id bob sent himself may be echoed)."""
        texts = [
            MARK,
            self.endpoint_url,
            self.endpoint_secret,
            self.alice_key,
            *(i for i in self.alice_ids if echoed is None or i not in echoed),
        ]
        chunks = [t.encode() for t in texts]
        middle = len(self.video_bytes) // 2
        chunks.append(self.video_bytes[middle : middle + 48])
        chunks.append(self.thumbnail_bytes[200:248])
        return chunks


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("tenancy")
    server = GuardedServer(root / "data", url_allow_networks='["127.0.0.1/32"]')
    keys = {name: create_key(server, name) for name in ("alice", "bob")}
    server.start()
    with (
        LoopbackListener("127.0.0.1") as listener,
        server.client(keys["alice"]) as alice,
        server.client(keys["bob"]) as bob,
        server.client(None) as anonymous,
    ):
        try:
            clip = make_clip(root / "alice.mp4", seconds=2, width=320, height=180)
            uploaded = upload(alice, clip)
            extension = alice.post(
                "/v1/videos/extensions",
                json={"video": {"id": uploaded["id"]}, "prompt": ALICE_PROMPT, "seconds": "1"},
            ).json()
            failed = alice.post(
                "/v1/video/create",
                json={
                    "model": "grok-video-3",
                    "prompt": ALICE_PROMPT,
                    "duration": 1,
                    "images": ["data:image/png;base64,bm90IGFuIGltYWdl"],
                },
            ).json()
            endpoint_url = listener.url(f"/alice-hook-{MARK}")
            created = alice.post(
                "/v1/webhook_endpoints",
                json={
                    "name": f"alice hook {MARK}",
                    "url": endpoint_url,
                    "event_types": ["video.completed", "video.failed"],
                },
            )
            assert created.status_code == 200, created.text
            endpoint = created.json()
            assert wait_for_task(alice, extension["id"], timeout=120)["status"] == "completed"
            assert wait_for_task(alice, failed["id"], timeout=120)["status"] == "failed"
            bob_video = upload(bob, make_clip(root / "bob.mp4", seconds=1, width=320, height=180))
            video = alice.get(f"/v1/videos/{extension['id']}/content")
            thumbnail = alice.get(f"/v1/videos/{extension['id']}/content", params={"variant": "thumbnail"})
            assert video.status_code == thumbnail.status_code == 200
            yield World(
                server=server,
                alice=alice,
                bob=bob,
                anonymous=anonymous,
                listener=listener,
                upload_id=uploaded["id"],
                extension_id=extension["id"],
                failed_id=failed["id"],
                bob_video_id=bob_video["id"],
                endpoint_id=endpoint["id"],
                endpoint_secret=endpoint["signing_secret"],
                endpoint_url=endpoint_url,
                alice_key=keys["alice"],
                video_bytes=video.content,
                thumbnail_bytes=thumbnail.content,
            )
        finally:
            server.stop()
    assert server.egress_attempts() == []


# --- the route list ---------------------------------------------------------------------------


def enumerate_routes() -> set[tuple[str, str]]:
    """(method, path) of every route of the app, through included routers and mounts."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if hasattr(route, "original_router"):  # FastAPI's included router
                walk(route.original_router.routes, prefix + route.include_context.prefix)
            elif isinstance(route, Mount):
                found.add(("MOUNT", prefix + route.path))
            else:
                for method in getattr(route, "methods", None) or {"*"}:
                    found.add((method, prefix + route.path))

    walk(create_app().routes, "")
    return found


Call = Callable[["World", str], httpx.Response]


def _events(w: World, video_id: str) -> httpx.Response:
    with w.bob.stream("GET", f"/v1/videos/{video_id}/events", timeout=10) as response:
        body = b""
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > 65536:
                break
        return httpx.Response(response.status_code, headers=response.headers, content=body)


# Routes whose path names one object: how bob calls them with an id, which of alice's ids
# to use, and the status an unknown id gets.
VIDEO, ENDPOINT, KEY_NAME = "video", "endpoint", "key"
ID_ROUTES: dict[tuple[str, str], list[tuple[str, Call, int]]] = {
    ("POST", "/v1/videos/{video_id}/extend"): [
        (
            VIDEO,
            lambda w, i: w.bob.post(f"/v1/videos/{i}/extend", json={"model": "grok-video-3", "prompt": "x"}),
            404,
        ),
    ],
    ("GET", "/v1/videos/{video_id}/content"): [
        (VIDEO, lambda w, i: w.bob.get(f"/v1/videos/{i}/content"), 404),
        (VIDEO, lambda w, i: w.bob.get(f"/v1/videos/{i}/content", params={"variant": "thumbnail"}), 404),
        (VIDEO, lambda w, i: w.bob.get(f"/v1/videos/{i}/content", params={"variant": "spritesheet"}), 404),
        (VIDEO, lambda w, i: w.bob.get(f"/v1/videos/{i}/content", headers={"Range": "bytes=0-99"}), 404),
    ],
    ("HEAD", "/v1/videos/{video_id}/content"): [
        (VIDEO, lambda w, i: w.bob.head(f"/v1/videos/{i}/content"), 404),
    ],
    # A relay's input clip opens by its signature only, never by an API key: without one the
    # answer is the same 400 for any id; with a forged one, 401.
    ("GET", "/v1/videos/{video_id}/relay-input"): [
        (VIDEO, lambda w, i: w.bob.get(f"/v1/videos/{i}/relay-input"), 400),
        (
            VIDEO,
            lambda w, i: w.bob.get(
                f"/v1/videos/{i}/relay-input", params={"expires": 9_999_999_999, "signature": "0" * 64}
            ),
            401,
        ),
    ],
    ("HEAD", "/v1/videos/{video_id}/relay-input"): [
        (VIDEO, lambda w, i: w.bob.head(f"/v1/videos/{i}/relay-input"), 400),
    ],
    ("GET", "/v1/videos/{video_id}"): [(VIDEO, lambda w, i: w.bob.get(f"/v1/videos/{i}"), 404)],
    ("DELETE", "/v1/videos/{video_id}"): [(VIDEO, lambda w, i: w.bob.delete(f"/v1/videos/{i}"), 404)],
    ("POST", "/v1/videos/{video_id}/remix"): [
        (VIDEO, lambda w, i: w.bob.post(f"/v1/videos/{i}/remix", json={"prompt": "steal"}), 404),
    ],
    ("GET", "/v1/videos/{video_id}/events"): [(VIDEO, _events, 404)],
    ("GET", "/v1/webhook_endpoints/{webhook_endpoint_id}"): [
        (ENDPOINT, lambda w, i: w.bob.get(f"/v1/webhook_endpoints/{i}"), 404),
    ],
    ("POST", "/v1/webhook_endpoints/{webhook_endpoint_id}"): [
        (
            ENDPOINT,
            lambda w, i: w.bob.post(
                f"/v1/webhook_endpoints/{i}", json={"name": "pwned", "event_types": ["video.failed"]}
            ),
            404,
        ),
    ],
    ("DELETE", "/v1/webhook_endpoints/{webhook_endpoint_id}"): [
        (ENDPOINT, lambda w, i: w.bob.delete(f"/v1/webhook_endpoints/{i}"), 404),
    ],
    ("POST", "/v1/webhook_endpoints/{webhook_endpoint_id}/rotate_secret"): [
        (ENDPOINT, lambda w, i: w.bob.post(f"/v1/webhook_endpoints/{i}/rotate_secret", json={}), 404),
    ],
    ("POST", "/v1/webhook_endpoints/{webhook_endpoint_id}/test"): [
        (
            ENDPOINT,
            lambda w, i: w.bob.post(
                f"/v1/webhook_endpoints/{i}/test", json={"event_type": "video.completed"}
            ),
            404,
        ),
    ],
    ("DELETE", "/v1/admin/keys/{name}"): [(KEY_NAME, lambda w, i: w.bob.delete(f"/v1/admin/keys/{i}"), 403)],
}

# Routes without a path id that still take one (query or body), called the same way.
BODY_ID_ROUTES: dict[tuple[str, str], list[tuple[str, Call, int]]] = {
    ("GET", "/v1/video/query"): [(VIDEO, lambda w, i: w.bob.get("/v1/video/query", params={"id": i}), 404)],
    ("POST", "/v1/video/extend"): [
        (
            VIDEO,
            lambda w, i: w.bob.post(
                "/v1/video/extend", json={"model": "grok-video-3", "prompt": "x", "task_id": i}
            ),
            404,
        ),
    ],
    ("POST", "/v1/videos/extensions"): [
        (
            VIDEO,
            lambda w, i: w.bob.post("/v1/videos/extensions", json={"video": {"id": i}, "prompt": "x"}),
            404,
        ),
        (
            VIDEO,
            lambda w, i: w.bob.post(
                "/v1/videos/extensions",
                files={"video[id]": (None, i), "prompt": (None, "x"), "seconds": (None, "1")},
            ),
            404,
        ),
        (
            VIDEO,
            lambda w, i: w.bob.post(
                "/v1/videos/extensions",
                json={"model": "grok-video-3", "prompt": "x", "duration": 1, "video": {"url": i}},
            ),
            404,
        ),
    ],
    ("POST", "/v1/videos/edits"): [
        (
            VIDEO,
            lambda w, i: w.bob.post(
                "/v1/videos/edits", json={"video": {"id": i}, "prompt": "make it black and white"}
            ),
            404,
        ),
    ],
    # A foreign cursor is refused exactly like an unknown one (400 naming 'after').
    ("GET", "/v1/videos"): [(VIDEO, lambda w, i: w.bob.get("/v1/videos", params={"after": i}), 400)],
    ("GET", "/v1/webhook_endpoints"): [
        (ENDPOINT, lambda w, i: w.bob.get("/v1/webhook_endpoints", params={"after": i}), 0),
    ],
}

# Routes that take no id of anything a tenant owns ("METHOD path"; HEAD goes with GET):
# still called by bob and by nobody below, and checked for leaks.
NO_ID_ROUTES = {
    "GET /openapi.json",
    "GET /docs",
    "GET /docs/oauth2-redirect",
    "GET /redoc",
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "MOUNT /playground",
    "GET /v1/models",
    "GET /v1/webhook_event_types",
    "POST /v1/video/create",  # creating routes: the only ids are in bob's own answer
    "POST /v1/videos",
    "POST /v1/videos/uploads",
    "POST /v1/webhook_endpoints",
    "GET /v1/usage",  # the caller's own tenant only (tests/relay covers the figures)
    "GET /v1/admin/keys",  # admin only: bob gets 403
    "POST /v1/admin/keys",
}


def test_every_route_is_in_the_matrix() -> None:
    routes = enumerate_routes()
    known = {*ID_ROUTES, *BODY_ID_ROUTES} | {tuple(r.split(" ", 1)) for r in NO_ID_ROUTES}
    unknown = [
        f"{method} {path}"
        for method, path in sorted(routes)
        if (method, path) not in known and not (method == "HEAD" and ("GET", path) in known)
    ]
    assert not unknown, (
        "routes the tenancy matrix does not know how to call with a foreign id; add them to "
        f"ID_ROUTES / BODY_ID_ROUTES (or NO_ID_ROUTES if they take no id): {unknown}"
    )
    stale = sorted(f"{m} {p}" for m, p in known if (m, p) not in routes)
    assert not stale, f"the matrix lists routes the app no longer has: {stale}"


# --- calling them -----------------------------------------------------------------------------


def _alice_id(w: World, kind: str) -> list[str]:
    if kind == VIDEO:
        return [w.upload_id, w.extension_id, w.failed_id]
    if kind == ENDPOINT:
        return [w.endpoint_id]
    return ["alice"]


def _unknown_like(real: str) -> str:
    if ":" in real:
        return f"{real.split(':', 1)[0]}:{uuid.uuid4()}"
    if real.startswith("whe_"):
        return "whe_" + secrets.token_hex((len(real) - 4) // 2 + 1)[: len(real) - 4]
    return f"nobody-{secrets.token_hex(4)}"


def _masked(response: httpx.Response, sent: str) -> tuple[int, Any]:
    if not response.content:
        return response.status_code, None
    return response.status_code, re.sub(re.escape(sent), "<ID>", response.text)


def _assert_no_leak(w: World, response: httpx.Response, echoed: str | None, what: str) -> None:
    body = response.content + str(response.headers).encode()
    leaked = [m[:40] for m in w.forbidden_markers(echoed) if m and m in body]
    assert not leaked, f"{what}: the answer carries alice's data {leaked}: {response.text[:300]}"


ALL_RECIPES = [
    pytest.param(key, index, id=f"{key[0]} {key[1]} #{index}")
    for table in (ID_ROUTES, BODY_ID_ROUTES)
    for key, recipes in table.items()
    for index in range(len(recipes))
]


@pytest.mark.parametrize(("route", "index"), ALL_RECIPES)
def test_foreign_ids_answer_like_missing_ones(world: World, route: tuple[str, str], index: int) -> None:
    table = ID_ROUTES if route in ID_ROUTES else BODY_ID_ROUTES
    kind, call, status = table[route][index]
    for alice_id in _alice_id(world, kind):
        foreign = call(world, alice_id)
        missing_id = _unknown_like(alice_id)
        missing = call(world, missing_id)
        if status:
            assert foreign.status_code == status, (alice_id, foreign.status_code, foreign.text)
        assert _masked(foreign, alice_id) == _masked(missing, missing_id), (
            f"alice's {alice_id} is distinguishable from a missing id",
            foreign.text,
            missing.text,
        )
        _assert_no_leak(world, foreign, alice_id, f"{route} with {alice_id}")


def test_lists_show_only_the_callers_own(world: World) -> None:
    videos = world.bob.get("/v1/videos", params={"limit": 100})
    assert videos.status_code == 200
    assert [v["id"] for v in videos.json()["data"]] == [world.bob_video_id]
    endpoints = world.bob.get("/v1/webhook_endpoints")
    assert endpoints.status_code == 200 and endpoints.json()["data"] == []
    for response in (videos, endpoints):
        _assert_no_leak(world, response, None, response.request.url.path)


def test_no_id_routes_leak_nothing(world: World) -> None:
    for route in sorted(NO_ID_ROUTES):
        method, path = route.split(" ", 1)
        for client in (world.bob, world.anonymous):
            if method == "POST":
                response = client.post(path, json={})
            else:
                response = client.get(path + ("/" if method == "MOUNT" else ""))
            assert response.status_code < 500, (route, response.status_code)
            _assert_no_leak(world, response, None, route)
    assert world.bob.get("/v1/admin/keys").status_code == 403
    created = world.bob.post("/v1/admin/keys", json={"name": "bob2", "tenant_id": "alice"})
    assert created.status_code == 403, created.text


def test_bobs_writes_changed_nothing_of_alices(world: World) -> None:
    for video_id in (world.upload_id, world.extension_id, world.failed_id):
        response = world.alice.get("/v1/video/query", params={"id": video_id})
        assert response.status_code == 200, response.text
    endpoint = world.alice.get(f"/v1/webhook_endpoints/{world.endpoint_id}")
    assert endpoint.status_code == 200
    assert endpoint.json()["name"] == f"alice hook {MARK}"
    assert endpoint.json()["event_types"] == ["video.completed", "video.failed"]
    assert endpoint.json()["signing_secret_hint"].endswith(world.endpoint_secret.rstrip("=")[-4:])
    assert world.alice.get(f"/v1/videos/{world.extension_id}/content").content == world.video_bytes
    assert world.alice.get("/v1/models").status_code == 200  # alice's key was not revoked
    # bob's test call sent nothing to alice's endpoint.
    sent = [h.headers for h in world.listener.snapshot()]
    assert not any("video_test" in str(h) for h in sent)


def _signed(w: World, variant: str = "video") -> tuple[str, dict[str, str]]:
    body = w.alice.get("/v1/video/query", params={"id": w.extension_id}).json()
    url = body["video_url"] if variant == "video" else body["thumbnail_url"]
    split = urlsplit(url)
    return split.path, {k: v[0] for k, v in parse_qs(split.query).items()}


def test_signed_urls_open_only_their_own_id_and_variant(world: World) -> None:
    path, query = _signed(world)
    base = world.server.base_url
    own = httpx.get(f"{base}{path}?{urlencode(query)}")
    assert own.status_code == 200 and own.content == world.video_bytes  # the control
    for other in (world.upload_id, world.bob_video_id, _unknown_like(world.extension_id)):
        swapped = httpx.get(f"{base}/v1/videos/{other}/content?{urlencode(query)}")
        assert swapped.status_code == 401, (other, swapped.text)
        _assert_no_leak(world, swapped, other, "swapped signed URL")
    wrong_variant = httpx.get(f"{base}{path}?{urlencode({**query, 'variant': 'thumbnail'})}")
    assert wrong_variant.status_code == 401
    tampered = httpx.get(f"{base}{path}?{urlencode({**query, 'expires': int(query['expires']) + 1})}")
    assert tampered.status_code == 401
    thumb_path, thumb_query = _signed(world, "thumbnail")
    as_video = {k: v for k, v in thumb_query.items() if k != "variant"}
    assert httpx.get(f"{base}{thumb_path}?{urlencode(as_video)}").status_code == 401
    # bob's key does not turn a broken signature into access either.
    broken = world.bob.get(f"/v1/videos/{world.upload_id}/content", params=query)
    assert broken.status_code == 401
    _assert_no_leak(world, broken, world.upload_id, "bob with a swapped signature")


def test_api_keys_are_stored_hashed(world: World) -> None:
    database = world.server.data_dir / "videoloom.db"
    stored = b"".join(p.read_bytes() for p in database.parent.glob("videoloom.db*"))
    assert world.alice_key.encode() not in stored
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        tables = [r[0] for r in connection.execute("select name from sqlite_master where type='table'")]
    assert tables  # the file is the database, not an empty placeholder


def test_ids_that_look_like_alices_are_not_alices(world: World) -> None:
    """Case, whitespace and encoding variants of alice's id reach nothing either."""
    real = world.extension_id
    for variant in (real.upper(), f" {real}", f"{real} ", real.replace(":", "%3A"), f"{real}/", f"../{real}"):
        response = world.bob.get("/v1/video/query", params={"id": variant})
        assert response.status_code in (400, 404), (variant, response.text)
        _assert_no_leak(world, response, variant, f"variant {variant!r}")
        content = world.bob.get(f"/v1/videos/{variant}/content")
        assert content.status_code in (400, 404, 405), (variant, content.status_code)
        _assert_no_leak(world, content, unquote(variant), f"content variant {variant!r}")
