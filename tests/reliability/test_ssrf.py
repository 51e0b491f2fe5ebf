"""SSRF: no crafted reference-image or webhook URL makes the server fetch anything.

End to end, against a real server WITHOUT ``allow_private_urls``, with listeners on 127.0.0.1
and [::1] that answer a real PNG and record every connection, so that any fetch the guard let
through would succeed and be seen. Every crafted URL targets loopback in some spelling (or no
host at all): each request answers 400 naming the image parameter, or creates a task that
fails with a reason, and the listeners receive nothing.

Safety, twice over: (1) ``test_the_corpus_only_targets_loopback`` checks that every host any
parser could read out of the corpus is a loopback address or ``localhost``; (2) every server
here runs under the egress sentinel (``_egress_sentinel.py``), which refuses and records any
name resolution or connection that is not loopback, so even a broken guard sends nothing off
this machine. Private, link-local, CGNAT and metadata addresses are checked against
``AddressPolicy`` / ``validate_image_url`` directly, and names through an injected resolver
with a mock transport: never by connecting, never through real DNS.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import re
import socket
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from tests.reliability.harness import (
    GuardedServer,
    LoopbackListener,
    create_key,
    loopback_pair,
    wait_terminal,
)
from tests.support import make_clip, upload, wait_for_task
from videoloom.core.errors import AddressNotAllowed, FetchError, InvalidRequest
from videoloom.net import AddressPolicy, FetchLimits, SafeFetcher, parse_ip_literal, validate_image_url

# --- the corpus -----------------------------------------------------------------------------

SVG_WITH_LOOPBACK_IMAGE = (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
    'width="10" height="10"><image href="http://127.0.0.1:{p}/svg.png" width="10" height="10"/></svg>'
)


def crafted_urls(p: int) -> list[tuple[str, str]]:
    """(label, URL): every one aims at a loopback listener on port ``p`` (or at nothing)."""
    svg = base64.b64encode(SVG_WITH_LOOPBACK_IMAGE.format(p=p).encode()).decode()
    return [
        ("plain", f"http://127.0.0.1:{p}/image.png"),
        ("https", f"https://127.0.0.1:{p}/image.png"),
        ("upper-scheme", f"HTTP://127.0.0.1:{p}/image.png"),
        ("short-127.1", f"http://127.1:{p}/image.png"),
        ("short-127.0.1", f"http://127.0.1:{p}/image.png"),
        ("decimal", f"http://2130706433:{p}/image.png"),
        ("hex", f"http://0x7f000001:{p}/image.png"),
        ("hex-upper", f"http://0X7F000001:{p}/image.png"),
        ("hex-dotted", f"http://0x7f.0.0.1:{p}/image.png"),
        ("hex-short", f"http://0x7f.1:{p}/image.png"),
        ("octal-dotted", f"http://0177.0.0.1:{p}/image.png"),
        ("octal-whole", f"http://017700000001:{p}/image.png"),
        ("zero-padded", f"http://127.000.000.001:{p}/image.png"),
        ("other-loopback", f"http://127.255.255.254:{p}/image.png"),
        ("trailing-dot", f"http://127.0.0.1.:{p}/image.png"),
        ("ideographic-dots", f"http://127\u30020\u30020\u30021:{p}/image.png"),
        ("fullwidth-digits", f"http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:{p}/image.png"),
        ("ipv6", f"http://[::1]:{p}/image.png"),
        ("ipv6-long", f"http://[0:0:0:0:0:0:0:1]:{p}/image.png"),
        ("ipv6-zero-padded", f"http://[0000:0000:0000:0000:0000:0000:0000:0001]:{p}/image.png"),
        ("ipv4-mapped-dotted", f"http://[::ffff:127.0.0.1]:{p}/image.png"),
        ("ipv4-mapped-hex", f"http://[::ffff:7f00:1]:{p}/image.png"),
        ("ipv4-mapped-upper", f"http://[::FFFF:7F00:0001]:{p}/image.png"),
        ("ipv6-zone-name", f"http://[::1%25lo]:{p}/image.png"),
        ("ipv6-zone-index", f"http://[::1%251]:{p}/image.png"),
        ("localhost", f"http://localhost:{p}/image.png"),
        ("localhost-upper", f"http://LOCALHOST:{p}/image.png"),
        ("localhost-dot", f"http://localhost.:{p}/image.png"),
        ("localhost-subdomain", f"http://img.localhost:{p}/image.png"),
        ("userinfo-user", f"http://user@127.0.0.1:{p}/image.png"),
        ("userinfo-user-pass", f"http://user:pass@127.0.0.1:{p}/image.png"),
        ("userinfo-host-port", f"http://127.0.0.1:{p}@127.0.0.1:{p}/image.png"),
        ("userinfo-name", f"http://localhost@127.0.0.1:{p}/image.png"),
        ("backslash-userinfo", f"http://127.0.0.1:{p}\\@localhost/image.png"),
        ("fragment-at", f"http://127.0.0.1:{p}#@localhost/image.png"),
        ("percent-host", f"http://%31%32%37.0.0.1:{p}/image.png"),
        ("percent-dots", f"http://127%2E0%2E0%2E1:{p}/image.png"),
        ("crlf-path", f"http://127.0.0.1:{p}/image.png%0d%0aHost:%20localhost"),
        ("single-slash", f"http:/127.0.0.1:{p}/image.png"),
        ("scheme-relative", f"//127.0.0.1:{p}/image.png"),
        ("leading-space", f" http://127.0.0.1:{p}/image.png"),
        ("file", "file:///etc/passwd"),
        ("file-host", "file://127.0.0.1/etc/passwd"),
        ("gopher", f"gopher://127.0.0.1:{p}/_GET%20/image.png"),
        ("ftp", "ftp://127.0.0.1/image.png"),
        ("dict", f"dict://127.0.0.1:{p}/info"),
        ("data-html", f"data:text/html,<img src='http://127.0.0.1:{p}/x.png'>"),
        ("javascript", f"javascript:fetch('http://127.0.0.1:{p}/image.png')"),
        ("data-svg-ref", f"data:image/svg+xml;base64,{svg}"),
    ]


def _strip_port(hostport: str) -> str:
    if hostport.startswith("["):
        return hostport[: hostport.find("]") + 1] if "]" in hostport else hostport
    return hostport.split(":", 1)[0]


def _host_readings(url: str) -> set[str]:
    """Every host a lenient or a strict parser could read out of ``url``."""
    readings: set[str] = set()
    for text in {url, url.strip(), url.replace("\\", "/")}:
        for variant in (text, unicodedata.normalize("NFKC", text)):
            try:
                split = urlsplit(variant)
                if split.hostname:
                    readings.add(split.hostname)
                # the part after the last '@' (what RFC 3986 says) and before the first one
                readings.update(_strip_port(part) for part in split.netloc.split("@"))
            except ValueError:
                pass
            with contextlib.suppress(httpx.InvalidURL, ValueError, TypeError):
                readings.add(httpx.URL(variant).host)
        # WHATWG-style leniency for special schemes: any number of slashes or backslashes.
        lenient = re.match(r"^\s*(?:https?|ftp|gopher|dict):[/\\]*([^/?#\\]*)", text, re.I)
        if lenient:
            readings.update(_strip_port(part) for part in lenient.group(1).split("@"))
    readings |= {unquote(r) for r in readings}
    return {r for r in readings if r}


def _is_loopback_host(host: str) -> bool:
    # Read as the most lenient parser would: percent-decoded, and as IDNA maps characters
    # (full-width forms to ASCII, ideographic full stops to '.'). The raw spellings are names
    # no resolver may be asked for: the egress sentinel refuses such look-ups.
    name = unicodedata.normalize("NFKC", unquote(host))
    name = name.replace("\u3002", ".").replace("\uff61", ".").strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True  # RFC 6761, and the sentinel refuses anything but 'localhost' itself
    name = name.split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        try:  # inet_aton's legacy forms: 127.1, 0x7f.1, 0177.0.0.1, 2130706433
            ip = ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def test_the_corpus_only_targets_loopback() -> None:
    """Hygiene: were the guard to let any of these through, it would reach loopback only."""
    corpus = crafted_urls(8080)
    assert len(corpus) >= 30
    for label, url in corpus:
        if url.lower().startswith(("data:", "javascript:", "file:///")):
            continue  # no network host (the URLs inside them name 127.0.0.1)
        readings = _host_readings(url)
        assert readings, (label, url)
        # A parser that took the userinfo 'user' for the host would ask the resolver for
        # 'user': the egress sentinel refuses that lookup before it reaches any DNS server.
        bad = {r for r in readings if not _is_loopback_host(r) and r != "user"}
        assert not bad, (label, url, bad)


# --- the server without allow_private ---------------------------------------------------------


@pytest.fixture(scope="module")
def listeners() -> Iterator[tuple[LoopbackListener, LoopbackListener | None]]:
    with loopback_pair() as pair:
        yield pair


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GuardedServer, httpx.Client, str]]:
    root = tmp_path_factory.mktemp("ssrf")
    server = GuardedServer(root / "data")
    key = create_key(server, "mallory")
    server.start()
    try:
        with server.client(key) as client:
            source = upload(client, make_clip(root / "src.mp4", seconds=1, width=320, height=180))
            yield server, client, source["id"]
    finally:
        server.stop()
    attempts = server.egress_attempts()
    assert not attempts, f"the server tried to leave loopback: {attempts}"


def _post_image(client: httpx.Client, route: str, source_id: str, url: str) -> httpx.Response:
    if route == "video/create":
        body = {"model": "grok-video-3", "prompt": "ssrf probe", "duration": 1, "images": [url]}
        return client.post("/v1/video/create", json=body)
    if route == "videos/{id}/extend":
        body = {"model": "grok-video-3", "prompt": "ssrf probe", "duration": 1, "images": [url]}
        return client.post(f"/v1/videos/{source_id}/extend", json=body)
    if route == "videos input_reference":  # multipart, as the OpenAI SDK sends it
        fields = {"prompt": "ssrf probe", "seconds": "1", "input_reference[image_url]": url}
        return client.post("/v1/videos", files={k: (None, v) for k, v in fields.items()})
    if route == "videos/extensions input_reference":
        fields = {
            "prompt": "ssrf probe",
            "seconds": "1",
            "video[id]": source_id,
            "input_reference[image_url]": url,
        }
        return client.post("/v1/videos/extensions", files={k: (None, v) for k, v in fields.items()})
    raise AssertionError(route)


IMAGE_ROUTES = [
    "video/create",
    "videos/{id}/extend",
    "videos input_reference",
    "videos/extensions input_reference",
]
CORPUS_LABELS = [label for label, _ in crafted_urls(1)]


def _assert_no_hits(listeners: tuple[LoopbackListener, LoopbackListener | None], what: str) -> None:
    for listener in listeners:
        if listener is not None:
            hits = listener.snapshot()
            assert not hits, f"{what}: the listener on {listener.netloc} was reached: {hits}"


@pytest.mark.parametrize("route", IMAGE_ROUTES)
@pytest.mark.parametrize("label", CORPUS_LABELS)
def test_crafted_image_url_is_never_fetched(
    guarded: tuple[GuardedServer, httpx.Client, str],
    listeners: tuple[LoopbackListener, LoopbackListener | None],
    route: str,
    label: str,
) -> None:
    _server, client, source_id = guarded
    url = dict(crafted_urls(listeners[0].port))[label]
    started = time.monotonic()
    response = _post_image(client, route, source_id, url)
    if response.status_code == 400:
        error = response.json()["error"]
        assert error["message"], error
        assert str(error["param"]).startswith(("images", "input_reference")), error
    else:
        assert response.status_code == 200, response.text
        task_id = response.json()["id"]
        done = wait_for_task(client, task_id, timeout=60)
        assert done["status"] == "failed", f"{label} via {route} was fetched and used: {done}"
        assert done["error"]["code"] and "images[0]" in done["error"]["message"], done["error"]
    assert time.monotonic() - started < 60
    _assert_no_hits(listeners, f"{label} via {route}")


@pytest.mark.parametrize("label", CORPUS_LABELS)
def test_crafted_webhook_url_is_never_called(
    guarded: tuple[GuardedServer, httpx.Client, str],
    listeners: tuple[LoopbackListener, LoopbackListener | None],
    label: str,
) -> None:
    """The other user-given URL: webhook endpoints (create, then the test delivery)."""
    _server, client, _ = guarded
    url = dict(crafted_urls(listeners[0].port))[label]
    response = client.post(
        "/v1/webhook_endpoints", json={"name": f"probe {label}", "url": url, "event_types": ["video.failed"]}
    )
    if response.status_code == 400:
        assert response.json()["error"]["param"] == "url", response.text
    else:
        assert response.status_code == 200, response.text
        endpoint = response.json()["id"]
        try:
            tested = client.post(
                f"/v1/webhook_endpoints/{endpoint}/test", json={"event_type": "video.failed"}
            )
            assert tested.status_code == 422, tested.text
        finally:
            client.delete(f"/v1/webhook_endpoints/{endpoint}")
    _assert_no_hits(listeners, f"webhook {label}")


def test_nothing_reached_the_listeners_or_left_loopback(
    guarded: tuple[GuardedServer, httpx.Client, str],
    listeners: tuple[LoopbackListener, LoopbackListener | None],
) -> None:
    server, client, _ = guarded
    # Let any straggling task (and the webhook dispatcher's video.failed events) run out.
    listed = client.get("/v1/videos", params={"limit": 100}).json()["data"]
    states = wait_terminal(client, [v["id"] for v in listed], timeout=60)
    assert all(s.get("status") in ("completed", "failed") for s in states.values()), states
    time.sleep(1)
    _assert_no_hits(listeners, "after the whole corpus")
    assert server.egress_attempts() == []
    assert client.get("/healthz").status_code == 200


# --- redirects: a server that allow-lists 127.0.0.1 only -------------------------------------


@pytest.fixture(scope="module")
def allowlisted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GuardedServer, httpx.Client]]:
    root = tmp_path_factory.mktemp("ssrf-allow")
    server = GuardedServer(root / "data", url_allow_networks='["127.0.0.1/32"]')
    key = create_key(server, "operator")
    server.start()
    try:
        with server.client(key) as client:
            yield server, client
    finally:
        server.stop()
    attempts = server.egress_attempts()
    assert not attempts, f"the server tried to leave loopback: {attempts}"


@pytest.fixture(scope="module")
def redirect_targets() -> Iterator[dict[str, LoopbackListener | None]]:
    """The allowed listener (127.0.0.1) and the ones redirects point at (127.0.0.2, [::1])."""
    allowed = LoopbackListener("127.0.0.1")
    forbidden = LoopbackListener("127.0.0.2")
    forbidden6 = None
    with contextlib.suppress(OSError):
        forbidden6 = LoopbackListener("::1")
    with allowed, forbidden:
        if forbidden6 is not None:
            with forbidden6:
                yield {"allowed": allowed, "forbidden": forbidden, "forbidden6": forbidden6}
        else:
            yield {"allowed": allowed, "forbidden": forbidden, "forbidden6": None}


def _create_with_image(client: httpx.Client, url: str) -> dict[str, Any]:
    response = client.post(
        "/v1/video/create",
        json={"model": "grok-video-3", "prompt": "redirect probe", "duration": 1, "images": [url]},
    )
    assert response.status_code == 200, response.text
    return wait_for_task(client, response.json()["id"], timeout=60)


def test_allowlisted_listener_is_fetched_directly(
    allowlisted: tuple[GuardedServer, httpx.Client], redirect_targets: dict[str, LoopbackListener | None]
) -> None:
    """The control: the same listeners do serve an image, so a guard failure would show."""
    _, client = allowlisted
    allowed = redirect_targets["allowed"]
    assert allowed is not None
    done = _create_with_image(client, allowed.url("/direct.png"))
    assert done["status"] == "completed", done
    assert [h.request_line for h in allowed.snapshot()] == ["GET /direct.png HTTP/1.1"]
    allowed.hits.clear()


def _redirect_cases(targets: dict[str, LoopbackListener | None]) -> list[tuple[str, int, str, str]]:
    """(label, status, Location, words the failure reason must contain)."""
    f = targets["forbidden"]
    assert f is not None
    q = f.port
    cases = [
        ("to-127.0.0.2", 302, f"http://127.0.0.2:{q}/image.png", "not allowed"),
        ("to-127.0.0.2-307", 307, f"http://127.0.0.2:{q}/image.png", "not allowed"),
        ("to-127.0.0.2-308", 308, f"http://127.0.0.2:{q}/image.png", "not allowed"),
        ("to-decimal", 301, f"http://2130706434:{q}/image.png", "not allowed"),
        ("to-hex", 303, f"http://0x7f000002:{q}/image.png", "not allowed"),
        ("to-short", 302, f"http://127.2:{q}/image.png", "not allowed"),
        ("to-mapped", 302, f"http://[::ffff:127.0.0.2]:{q}/image.png", "not allowed"),
        ("to-scheme-relative", 302, f"//127.0.0.2:{q}/image.png", "not allowed"),
        ("to-userinfo", 302, f"http://user@127.0.0.2:{q}/image.png", "credentials"),
        ("to-file", 302, "file:///etc/passwd", "scheme"),
        ("to-gopher", 302, f"gopher://127.0.0.2:{q}/_GET", "scheme"),
    ]
    f6 = targets["forbidden6"]
    if f6 is not None:
        cases.append(("to-ipv6-loopback", 302, f"http://[::1]:{f6.port}/image.png", "not allowed"))
    return cases


def test_redirects_to_refused_addresses_are_not_followed(
    allowlisted: tuple[GuardedServer, httpx.Client], redirect_targets: dict[str, LoopbackListener | None]
) -> None:
    server, client = allowlisted
    allowed = redirect_targets["allowed"]
    assert allowed is not None
    allowed.hits.clear()
    cases = _redirect_cases(redirect_targets)
    for label, status, location, _ in cases:
        allowed.redirects[f"/{label}"] = (status, location)
    problems = []
    for label, _status, location, words in cases:
        done = _create_with_image(client, allowed.url(f"/{label}"))
        error = done.get("error") or {}
        if done["status"] != "failed" or error.get("code") != "image_fetch_failed":
            problems.append((label, location, done["status"], error))
        elif "images[0]" not in error["message"] or words not in error["message"]:
            problems.append((label, location, "unclear reason", error["message"]))
    assert not problems, problems
    # The allowed listener saw one request per case (the redirect), the others nothing.
    assert len(allowed.snapshot()) == len(cases)
    for name in ("forbidden", "forbidden6"):
        listener = redirect_targets[name]
        if listener is not None:
            assert not listener.snapshot(), f"{name} was reached: {listener.snapshot()}"
    assert server.egress_attempts() == []


def test_redirect_loops_are_bounded(
    allowlisted: tuple[GuardedServer, httpx.Client], redirect_targets: dict[str, LoopbackListener | None]
) -> None:
    _, client = allowlisted
    allowed = redirect_targets["allowed"]
    assert allowed is not None
    allowed.hits.clear()
    allowed.redirects["/loop"] = (302, allowed.url("/loop"))
    done = _create_with_image(client, allowed.url("/loop"))
    assert done["status"] == "failed" and "redirect" in done["error"]["message"], done
    assert len(allowed.snapshot()) == 4  # the first request and 3 redirects, then it stops


def test_request_time_check_refuses_other_loopback_on_the_allowlisted_server(
    allowlisted: tuple[GuardedServer, httpx.Client], redirect_targets: dict[str, LoopbackListener | None]
) -> None:
    _, client = allowlisted
    forbidden = redirect_targets["forbidden"]
    assert forbidden is not None
    for url in (forbidden.url(), f"http://[::1]:{forbidden.port}/", f"http://127.2:{forbidden.port}/"):
        response = client.post(
            "/v1/video/create", json={"model": "grok-video-3", "prompt": "x", "duration": 1, "images": [url]}
        )
        assert response.status_code == 400, (url, response.text)
        assert response.json()["error"]["param"] == "images[0]"
    assert not forbidden.snapshot()


HOSTLESS_LOCATIONS = ["data:image/png;base64,iVBORw0KGgo=", "javascript:alert(1)", "mailto:a@b.test"]


@pytest.mark.parametrize("location", HOSTLESS_LOCATIONS)
def test_a_redirect_to_a_hostless_url_fails_with_a_clear_reason(
    allowlisted: tuple[GuardedServer, httpx.Client],
    redirect_targets: dict[str, LoopbackListener | None],
    location: str,
) -> None:
    _, client = allowlisted
    allowed = redirect_targets["allowed"]
    assert allowed is not None
    path = f"/hostless-{HOSTLESS_LOCATIONS.index(location)}"
    allowed.redirects[path] = (302, location)
    done = _create_with_image(client, allowed.url(path))
    assert done["status"] == "failed", done  # nothing was fetched: that part holds today
    assert done["error"]["code"] == "image_fetch_failed", done["error"]


def test_webhook_test_event_to_an_endpoint_redirecting_to_a_hostless_url(
    allowlisted: tuple[GuardedServer, httpx.Client], redirect_targets: dict[str, LoopbackListener | None]
) -> None:
    _, client = allowlisted
    allowed = redirect_targets["allowed"]
    assert allowed is not None
    allowed.redirects["/hook-hostless"] = (302, "data:text/plain,hi")
    created = client.post(
        "/v1/webhook_endpoints",
        json={"name": "hostless", "url": allowed.url("/hook-hostless"), "event_types": ["video.failed"]},
    )
    assert created.status_code == 200, created.text
    endpoint = created.json()["id"]
    try:
        try:
            tested = client.post(
                f"/v1/webhook_endpoints/{endpoint}/test", json={"event_type": "video.failed"}
            )
        except httpx.TransportError as exc:
            pytest.fail(f"the server dropped the connection: {exc!r}")
        # httpx cannot even represent the redirect: a clear error, never a 500 or a dropped connection.
        assert tested.status_code == 422, tested.text
        assert tested.json()["error"]["code"] == "invalid_redirect"
    finally:
        client.delete(f"/v1/webhook_endpoints/{endpoint}")


# --- the harness itself: the sentinel refuses and records ------------------------------------


def test_the_egress_sentinel_refuses_and_records(tmp_path: Path) -> None:
    """Prove the safety net is live: with 127.0.0.3 and the name 'localhost' denied to it, a
    server that allows private URLs cannot fetch from either, and both attempts are logged."""
    target = LoopbackListener("127.0.0.3")
    server = GuardedServer(tmp_path / "data", deny="127.0.0.3,localhost", allow_private_urls="true")
    key = create_key(server, "harness")
    with target:
        server.start()
        try:
            with server.client(key) as client:
                by_address = _create_with_image(client, target.url())
                by_name = _create_with_image(client, f"http://localhost:{target.port}/image.png")
        finally:
            server.stop()
    assert by_address["status"] == "failed" and by_name["status"] == "failed"
    assert not target.snapshot()
    events = {(a["event"], a["target"]) for a in server.egress_attempts()}
    assert any("127.0.0.3" in t for _, t in events), events
    assert any(e == "socket.getaddrinfo" and "localhost" in t for e, t in events), events


# --- addresses and names, without any network ------------------------------------------------

REFUSED_ADDRESSES = [
    # loopback, all spellings the parser accepts
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "::1",
    "[::1]",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    # private (RFC 1918, ULA)
    "10.0.0.1",
    "10.1",
    "012.0.0.1",
    "0xa000001",
    "167772161",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.0.1",
    "192.168.1",
    "fc00::1",
    "fd12:3456:789a::1",
    # link-local and metadata endpoints, in every spelling
    "169.254.0.1",
    "169.254.169.254",
    "2852039166",
    "0xa9fea9fe",
    "0251.0376.0251.0376",
    "169.254.43518",
    "[::ffff:169.254.169.254]",
    "::ffff:a9fe:a9fe",
    "64:ff9b::a9fe:a9fe",
    "2002:a9fe:a9fe::1",
    "::169.254.169.254",
    "169.254.170.2",
    "fd00:ec2::254",
    "100.100.100.200",
    "168.63.129.16",
    "fe80::1",
    "fe80::a9fe:a9fe%eth0",
    # CGNAT, this-network, multicast, reserved, broadcast, documentation
    "100.64.0.1",
    "100.127.255.254",
    "0.0.0.0",
    "0",
    "0.1.2.3",
    "::",
    "224.0.0.1",
    "ff02::1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "198.51.100.1",
    "2001:db8::1",
    # IPv4-mapped / translated private addresses
    "::ffff:10.0.0.1",
    "::ffff:192.168.1.1",
    "::ffff:c0a8:101",
    "::ffff:100.64.0.1",
    "64:ff9b::10.0.0.1",
    "2002:c0a8:0101::1",
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo with client 10.0.0.1
]


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_address_policy_refuses(address: str) -> None:
    with pytest.raises(AddressNotAllowed) as refused:
        AddressPolicy().check(address)
    assert "not allowed" in refused.value.message or "not a valid" in refused.value.message


@pytest.mark.parametrize(
    "address", ["10.0.0.1", "169.254.169.254", "192.168.0.1", "100.64.0.1", "fd00:ec2::254", "fe80::1"]
)
def test_image_urls_with_refused_literals_are_400_without_network(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(InvalidRequest) as refused:
        validate_image_url(f"http://{host}/latest/meta-data/", policy=AddressPolicy())
    assert refused.value.code == "address_not_allowed"


def test_the_allow_list_lets_exactly_its_networks_through() -> None:
    policy = AddressPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))
    policy.check("127.0.0.1")
    policy.check("::ffff:127.0.0.1")  # the very same destination
    for address in ("127.0.0.2", "::1", "169.254.169.254", "10.0.0.1", "2130706434"):
        with pytest.raises(AddressNotAllowed):
            policy.check(address)


def test_spellings_parse_to_the_address_the_resolver_would_use() -> None:
    """The guard checks what inet_aton (and so getaddrinfo) would connect to."""
    for spelling, meant in [
        ("2852039166", "169.254.169.254"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("169.254.43518", "169.254.169.254"),
        ("10.1", "10.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("[::ffff:a9fe:a9fe]", "::ffff:169.254.169.254"),
    ]:
        assert parse_ip_literal(spelling) == ipaddress.ip_address(meant), spelling


@pytest.mark.parametrize("url", ["http://%31%32%37.0.0.1/x.png", "http://exa%6dple.test/x.png"])
def test_request_time_check_refuses_hosts_the_fetcher_refuses(url: str) -> None:
    with pytest.raises(InvalidRequest):
        validate_image_url(url, policy=AddressPolicy())


class _RecordingTransport(httpx.AsyncBaseTransport):
    """Stands in for the network: records what would have been sent, sends nothing."""

    def __init__(self, answers: dict[str, httpx.Response]) -> None:
        self.sent: list[httpx.Request] = []
        self.answers = answers

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return self.answers.get(str(request.url.host), httpx.Response(404))


@pytest.mark.parametrize(
    ("url", "dns"),
    [
        (
            "http://metadata.google.internal/computeMetadata/v1/",
            {"metadata.google.internal": ["169.254.169.254"]},
        ),
        ("http://internal.example.test/", {"internal.example.test": ["10.0.0.5"]}),
        ("http://cgnat.example.test/", {"cgnat.example.test": ["100.64.1.1"]}),
        ("http://mapped.example.test/", {"mapped.example.test": ["::ffff:192.168.0.1"]}),
        ("http://ula.example.test/", {"ula.example.test": ["fd00::1"]}),
        # DNS rebinding: one public and one private answer; the host is refused as a whole.
        ("http://rebind.example.test/", {"rebind.example.test": ["93.184.215.14", "169.254.169.254"]}),
        ("http://rebind6.example.test/", {"rebind6.example.test": ["2606:4700::1", "fe80::1"]}),
    ],
)
async def test_names_resolving_to_refused_addresses_are_never_connected(
    url: str, dns: dict[str, list[str]]
) -> None:
    looked_up: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return dns[host]

    transport = _RecordingTransport({})
    async with SafeFetcher(policy=AddressPolicy(), resolver=resolver, transport=transport) as fetcher:
        with pytest.raises(AddressNotAllowed):
            await fetcher.fetch(url)
    assert looked_up == [urlsplit(url).hostname]
    assert transport.sent == []


async def test_a_public_redirect_to_a_metadata_name_is_refused_before_connecting() -> None:
    dns = {"cdn.example.test": ["93.184.215.14"], "metadata.google.internal": ["169.254.169.254"]}

    async def resolver(host: str, port: int) -> list[str]:
        return dns[host]

    transport = _RecordingTransport(
        {
            "93.184.215.14": httpx.Response(
                302, headers={"Location": "http://metadata.google.internal/computeMetadata/v1/"}
            )
        }
    )
    async with SafeFetcher(
        policy=AddressPolicy(), resolver=resolver, transport=transport, limits=FetchLimits(timeout_s=5)
    ) as fetcher:
        with pytest.raises(AddressNotAllowed):
            await fetcher.fetch("http://cdn.example.test/cat.png")
    assert [str(r.url.host) for r in transport.sent] == ["93.184.215.14"]
    assert transport.sent[0].headers["Host"] == "cdn.example.test"


@pytest.mark.parametrize(
    "url",
    [
        "http://example.test@127.0.0.1/x.png",
        "http://user:pw@example.test/x.png",
        "file:///etc/passwd",
        "gopher://example.test/",
        "http://exa%6dple.test/x.png",
    ],
)
async def test_malformed_urls_are_refused_before_any_lookup(url: str) -> None:
    looked_up: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["93.184.215.14"]

    transport = _RecordingTransport({})
    async with SafeFetcher(policy=AddressPolicy(), resolver=resolver, transport=transport) as fetcher:
        with pytest.raises(FetchError):
            await fetcher.fetch(url)
    assert looked_up == [] and transport.sent == []
