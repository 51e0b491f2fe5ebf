"""SafeFetcher and reference-image loading against real HTTP servers on loopback only.

Safety: every connection these tests can cause goes to 127.0.0.0/8. Made-up host names are
resolved by a fake resolver (a dict) that only knows loopback addresses; private, link-local
and metadata addresses are covered by test_guard.py, never fetched.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import io
import ipaddress
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image

from videoloom.core.errors import AddressNotAllowed, FetchError
from videoloom.net import (
    AddressPolicy,
    FetchLimits,
    SafeFetcher,
    load_reference_image,
    system_resolver,
)

HOST = "images.example.test"
LOOPBACK_ONLY = AddressPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))


def _png_bytes(size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", size, (10, 200, 30, 255)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png_bytes()
TEXT = b"this is not an image\n" * 10
BIG = b"x" * 5000


@dataclass
class Seen:
    path: str
    host: str | None
    headers: dict[str, str]


@dataclass
class Server:
    address: str
    port: int
    requests: list[Seen] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.address}:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        state = self.server.state
        state.requests.append(
            Seen(self.path, self.headers.get("Host"), {k.lower(): v for k, v in self.headers.items()})
        )
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        path = parts.path
        if path == "/image.png":
            self._send(200, PNG, "image/png")
        elif path == "/text.txt":
            self._send(200, TEXT, "text/plain")
        elif path == "/large":
            self._send(200, BIG, "application/octet-stream")
        elif path == "/large-chunked":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b"3e8\r\n" + b"y" * 1000 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/endless-chunked":  # never ends: only an early abort gets out of it
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while not state.stop.wait(0.01):
                self.wfile.write(b"3e8\r\n" + b"y" * 1000 + b"\r\n")
                self.wfile.flush()
        elif path == "/lying-length":  # declares 10 MB, sends 10 bytes, then stalls
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(10 * 1024 * 1024))
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            state.stop.wait(5)
        elif path == "/gzip-bomb":
            self._send(200, gzip.compress(b"\0" * 2_000_000), "image/png", Content_Encoding="gzip")
        elif path == "/gzip-small":
            self._send(200, gzip.compress(PNG), "image/png", Content_Encoding="gzip")
        elif path == "/brotli":
            self._send(200, b"\x0b\x02\x80hello\x03", "text/plain", Content_Encoding="br")
        elif path == "/slow":  # headers at once, then one byte every 0.1 s: only a deadline helps
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                if state.stop.wait(0.1):
                    return
                self.wfile.write(b"z")
                self.wfile.flush()
        elif path == "/hang":  # no response at all for a long time
            state.stop.wait(5)
        elif path == "/redirect":
            status = int(query.get("status", ["302"])[0])
            self._send(status, b"", "text/plain", Location=query["to"][0])
        elif path.startswith("/hops/"):
            remaining = int(path.rsplit("/", 1)[1])
            if remaining == 0:
                self._send(200, PNG, "image/png")
            else:
                self._send(302, b"", "text/plain", Location=f"/hops/{remaining - 1}")
        elif path == "/set-cookie":
            self._send(200, PNG, "image/png", Set_Cookie="session=s3cr3t; Path=/")
        elif path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[1]), b"nope", "text/plain")
        else:
            self._send(404, b"not found", "text/plain")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    state: Server

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients aborting mid-body (too_large, timeout) are expected


def _start(address: str) -> tuple[_HTTPServer, threading.Thread]:
    server = _HTTPServer((address, 0), _Handler)
    server.state = Server(address, server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    return server, thread


@pytest.fixture(scope="module")
def _servers() -> Iterator[tuple[Server, Server | None]]:
    started = [_start("127.0.0.1")]
    with contextlib.suppress(OSError):  # Linux answers on all of 127/8; others may not
        started.append(_start("127.0.0.2"))
    yield started[0][0].state, (started[1][0].state if len(started) > 1 else None)
    for server, thread in started:
        server.state.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def server(_servers: tuple[Server, Server | None]) -> Server:
    _servers[0].requests.clear()
    return _servers[0]


@pytest.fixture
def second_server(_servers: tuple[Server, Server | None]) -> Server | None:
    if _servers[1] is not None:
        _servers[1].requests.clear()
    return _servers[1]


class FakeResolver:
    """Host names → loopback addresses. Unknown names fail; real DNS is never asked."""

    def __init__(self, mapping: dict[str, list[str]]) -> None:
        for addresses in mapping.values():
            assert all(ipaddress.ip_address(a).is_loopback for a in addresses)
        self.mapping = mapping
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.mapping:
            raise FetchError(f"unknown host {host!r}", code="resolution_failed")
        return list(self.mapping[host])


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver({HOST: ["127.0.0.1"], "other.example.test": ["127.0.0.1"]})


@pytest.fixture
async def fetcher(resolver: FakeResolver) -> AsyncIterator[SafeFetcher]:
    async with SafeFetcher(policy=LOOPBACK_ONLY, resolver=resolver, limits=FetchLimits(timeout_s=5)) as f:
        yield f


# --- policy before any connection ------------------------------------------------------------


async def test_default_policy_refuses_loopback_literal_before_connecting(
    server: Server, resolver: FakeResolver
) -> None:
    async with SafeFetcher(policy=AddressPolicy(), resolver=resolver) as fetcher:
        for url in (
            server.url("/image.png"),
            f"http://[::1]:{server.port}/image.png",
            f"http://2130706433:{server.port}/image.png",
            f"http://127.1:{server.port}/image.png",
        ):
            with pytest.raises(AddressNotAllowed) as info:
                await fetcher.fetch(url)
            assert info.value.code == "address_not_allowed"
            assert "loopback" in info.value.message
    assert server.requests == []
    assert resolver.calls == []  # IP literals are not resolved


async def test_default_policy_refuses_name_resolving_to_loopback(
    server: Server, resolver: FakeResolver
) -> None:
    async with SafeFetcher(policy=AddressPolicy(), resolver=resolver) as fetcher:
        with pytest.raises(AddressNotAllowed) as info:
            await fetcher.fetch(server.url("/image.png", HOST))
    assert HOST in info.value.message and "127.0.0.1" in info.value.message
    assert server.requests == []


async def test_any_refused_address_refuses_the_host(server: Server) -> None:
    for addresses in (["127.0.0.1", "127.0.0.2"], ["127.0.0.2", "127.0.0.1"]):
        resolver = FakeResolver({HOST: addresses})
        async with SafeFetcher(policy=LOOPBACK_ONLY, resolver=resolver) as fetcher:
            with pytest.raises(AddressNotAllowed, match=r"127\.0\.0\.2"):
                await fetcher.fetch(server.url("/image.png", HOST))
        assert resolver.calls == [(HOST, server.port)]
    assert server.requests == []


# --- successful fetches -------------------------------------------------------------------


async def test_fetch_through_name_connects_to_checked_address_with_host_header(
    server: Server, resolver: FakeResolver, fetcher: SafeFetcher
) -> None:
    url = server.url("/image.png?size=small", HOST)
    result = await fetcher.fetch(url)
    assert result.content == PNG
    assert result.content_type == "image/png"
    assert result.url == url
    assert resolver.calls == [(HOST, server.port)]  # resolved exactly once
    assert [(r.path, r.host) for r in server.requests] == [("/image.png?size=small", f"{HOST}:{server.port}")]
    seen = server.requests[0].headers
    assert "cookie" not in seen and "authorization" not in seen
    assert seen.get("accept-encoding") == "identity"


async def test_allow_private_fetches_loopback_literal(server: Server) -> None:
    async with SafeFetcher(policy=AddressPolicy(allow_private=True)) as fetcher:
        result = await fetcher.fetch(server.url("/text.txt"))
    assert result.content == TEXT
    assert server.requests[0].host == f"127.0.0.1:{server.port}"


async def test_cookies_are_never_kept(server: Server, fetcher: SafeFetcher) -> None:
    await fetcher.fetch(server.url("/set-cookie", HOST))
    await fetcher.fetch(server.url("/image.png", HOST))
    assert "cookie" not in server.requests[1].headers


async def test_gzip_body_is_decoded(server: Server, fetcher: SafeFetcher) -> None:
    result = await fetcher.fetch(server.url("/gzip-small", HOST))
    assert result.content == PNG


async def test_system_resolver_handles_literals_without_dns() -> None:
    assert await system_resolver("127.0.0.1", 80) == ["127.0.0.1"]


# --- redirects ----------------------------------------------------------------------------


async def test_redirect_is_followed_and_revalidated(
    server: Server, resolver: FakeResolver, fetcher: SafeFetcher
) -> None:
    target = server.url("/image.png", "other.example.test")
    result = await fetcher.fetch(server.url(f"/redirect?to={target}&status=301", HOST))
    assert result.content == PNG
    assert result.url == target
    assert resolver.calls == [(HOST, server.port), ("other.example.test", server.port)]
    assert [r.host for r in server.requests] == [
        f"{HOST}:{server.port}",
        f"other.example.test:{server.port}",
    ]


async def test_redirect_to_refused_address_is_not_followed(
    server: Server, second_server: Server | None, fetcher: SafeFetcher
) -> None:
    port = second_server.port if second_server else server.port
    target = f"http://127.0.0.2:{port}/image.png"
    with pytest.raises(AddressNotAllowed) as info:
        await fetcher.fetch(server.url(f"/redirect?to={target}"))
    assert info.value.code == "address_not_allowed"
    assert "127.0.0.2" in info.value.message
    assert len(server.requests) == 1  # only the first hop
    if second_server is not None:
        assert second_server.requests == []


async def test_redirect_to_name_resolving_to_refused_address_is_not_followed(
    server: Server, second_server: Server | None
) -> None:
    resolver = FakeResolver({HOST: ["127.0.0.1"], "inner.example.test": ["127.0.0.2"]})
    port = second_server.port if second_server else server.port
    target = f"http://inner.example.test:{port}/image.png"
    async with SafeFetcher(policy=LOOPBACK_ONLY, resolver=resolver) as fetcher:
        with pytest.raises(AddressNotAllowed, match=r"inner\.example\.test"):
            await fetcher.fetch(server.url(f"/redirect?to={target}&status=307", HOST))
    assert len(server.requests) == 1
    if second_server is not None:
        assert second_server.requests == []


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://images.example.test/x", "gopher://127.0.0.1:70/"]
)
async def test_redirect_to_other_scheme_is_refused(server: Server, fetcher: SafeFetcher, target: str) -> None:
    with pytest.raises(FetchError) as info:
        await fetcher.fetch(server.url(f"/redirect?to={target}"))
    assert info.value.code == "unsupported_url_scheme"
    assert len(server.requests) == 1


async def test_redirect_limit(server: Server, resolver: FakeResolver) -> None:
    async with SafeFetcher(
        policy=LOOPBACK_ONLY, resolver=resolver, limits=FetchLimits(max_redirects=2)
    ) as fetcher:
        assert (await fetcher.fetch(server.url("/hops/2", HOST))).content == PNG
        server.requests.clear()
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(server.url("/hops/3", HOST))
    assert info.value.code == "too_many_redirects"
    assert len(server.requests) == 3  # the original request and two followed redirects
    async with SafeFetcher(
        policy=LOOPBACK_ONLY, resolver=resolver, limits=FetchLimits(max_redirects=0)
    ) as fetcher:
        with pytest.raises(FetchError, match="too many redirects"):
            await fetcher.fetch(server.url("/hops/1", HOST))


# --- size, time and HTTP errors -------------------------------------------------------------


@pytest.mark.parametrize("path", ["/large", "/large-chunked", "/gzip-bomb"])
async def test_body_over_limit_is_refused(server: Server, resolver: FakeResolver, path: str) -> None:
    async with SafeFetcher(
        policy=LOOPBACK_ONLY, resolver=resolver, limits=FetchLimits(max_bytes=1000)
    ) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(server.url(path, HOST))
    assert info.value.code == "too_large"
    assert "1000" in info.value.message


@pytest.mark.parametrize("path", ["/endless-chunked", "/lying-length"])
async def test_body_over_limit_is_refused_early(server: Server, resolver: FakeResolver, path: str) -> None:
    # Without an up-front Content-Length check and a check while streaming, these would run
    # into the deadline instead of failing fast with too_large.
    async with SafeFetcher(
        policy=LOOPBACK_ONLY,
        resolver=resolver,
        limits=FetchLimits(max_bytes=5000, timeout_s=3),
    ) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(server.url(path, HOST))
    assert info.value.code == "too_large"
    assert time.monotonic() - started < 1.5


async def test_per_call_max_bytes_lowers_the_limit(server: Server, fetcher: SafeFetcher) -> None:
    assert len((await fetcher.fetch(server.url("/large", HOST))).content) == len(BIG)
    with pytest.raises(FetchError) as info:
        await fetcher.fetch(server.url("/large", HOST), max_bytes=len(BIG) - 1)
    assert info.value.code == "too_large"
    assert (await fetcher.fetch(server.url("/large", HOST), max_bytes=len(BIG))).content == BIG


@pytest.mark.parametrize("path", ["/slow", "/hang"])
async def test_whole_fetch_deadline(server: Server, resolver: FakeResolver, path: str) -> None:
    async with SafeFetcher(
        policy=LOOPBACK_ONLY, resolver=resolver, limits=FetchLimits(timeout_s=0.5)
    ) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(server.url(path, HOST))
        elapsed = time.monotonic() - started
    assert info.value.code == "timeout"
    assert 0.4 < elapsed < 2.0


async def test_slow_resolver_counts_against_the_deadline(server: Server) -> None:
    async def slow(host: str, port: int) -> list[str]:
        await asyncio.sleep(5)
        return ["127.0.0.1"]

    async with SafeFetcher(policy=LOOPBACK_ONLY, resolver=slow, limits=FetchLimits(timeout_s=0.3)) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(server.url("/image.png", HOST))
    assert info.value.code == "timeout"
    assert server.requests == []


async def test_http_error_status_without_leaking_path_or_query(server: Server, fetcher: SafeFetcher) -> None:
    with pytest.raises(FetchError) as info:
        await fetcher.fetch(server.url("/status/404?token=SECRET-TOKEN", HOST))
    assert info.value.code == "http_error"
    assert "404" in info.value.message
    assert HOST in info.value.message
    assert "SECRET" not in info.value.message
    assert "/status" not in info.value.message
    with pytest.raises(FetchError, match="500"):
        await fetcher.fetch(server.url("/status/500", HOST))


async def test_unsupported_content_encoding(server: Server, fetcher: SafeFetcher) -> None:
    with pytest.raises(FetchError) as info:
        await fetcher.fetch(server.url("/brotli", HOST))
    assert info.value.code == "unsupported_encoding"


async def test_connection_refused_is_a_fetch_error(fetcher: SafeFetcher) -> None:
    import socket

    with socket.socket() as probe:  # a port on 127.0.0.1 that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError) as info:
        await fetcher.fetch(f"http://{HOST}:{port}/x.png")
    assert info.value.code == "connection_failed"
    assert isinstance(info.value.__cause__, httpx.HTTPError)


# --- URL validation (no connection is made) -------------------------------------------------


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("file:///etc/passwd", "unsupported_url_scheme"),
        ("ftp://images.example.test/x", "unsupported_url_scheme"),
        ("gopher://images.example.test/", "unsupported_url_scheme"),
        ("images.example.test/x.png", "unsupported_url_scheme"),
        ("http://user:hunter2@images.example.test/x", "invalid_url"),
        ("http:///x", "invalid_url"),
        ("http://bad host.example.test/x", "invalid_url"),
        ("http://[::1/x", "invalid_url"),
        ("http://images.example.test:0/x", "invalid_url"),
        ("http://images.example.test:70000/x", "invalid_url"),
    ],
)
async def test_bad_urls_are_refused_without_network(
    resolver: FakeResolver, fetcher: SafeFetcher, url: str, code: str
) -> None:
    with pytest.raises(FetchError) as info:
        await fetcher.fetch(url)
    assert info.value.code == code
    assert "hunter2" not in info.value.message
    assert resolver.calls == []


async def test_resolution_failures(server: Server) -> None:
    async def empty(host: str, port: int) -> list[str]:
        return []

    async def broken(host: str, port: int) -> list[str]:
        raise OSError("resolver down")

    for bad in (FakeResolver({}), empty, broken):
        async with SafeFetcher(policy=LOOPBACK_ONLY, resolver=bad) as fetcher:
            with pytest.raises(FetchError) as info:
                await fetcher.fetch(server.url("/image.png", HOST))
        assert info.value.code == "resolution_failed"
    assert server.requests == []


# --- HTTPS: connect to the IP, verify the real host name (mock transport, no traffic) ---------


async def test_https_connects_to_ip_with_sni_and_host_header(resolver: FakeResolver) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, content=PNG, headers={"Content-Type": "image/png"})

    async with SafeFetcher(
        policy=LOOPBACK_ONLY, resolver=resolver, transport=httpx.MockTransport(handler)
    ) as fetcher:
        result = await fetcher.fetch(f"https://{HOST}/a/b.png?sig=1")
        await fetcher.fetch(f"https://{HOST}:8443/c.png")
    assert result.content == PNG and result.url == f"https://{HOST}/a/b.png?sig=1"
    first, second = sent
    assert str(first.url) == "https://127.0.0.1/a/b.png?sig=1"
    assert first.headers["Host"] == HOST
    assert first.extensions["sni_hostname"] == HOST
    assert str(second.url) == "https://127.0.0.1:8443/c.png"
    assert second.headers["Host"] == f"{HOST}:8443"
    assert resolver.calls == [(HOST, 443), (HOST, 8443)]


# --- reference images -----------------------------------------------------------------------


async def test_load_reference_image_over_http(server: Server, fetcher: SafeFetcher) -> None:
    image = await load_reference_image(server.url("/image.png", HOST), fetcher, max_bytes=100_000)
    assert image.mode == "RGB" and image.size == (8, 6)
    assert image.getpixel((0, 0)) == (10, 200, 30)


async def test_load_reference_image_rejects_non_image(server: Server, fetcher: SafeFetcher) -> None:
    with pytest.raises(FetchError) as info:
        await load_reference_image(server.url("/text.txt", HOST), fetcher, max_bytes=100_000)
    assert info.value.code == "invalid_image"


async def test_load_reference_image_respects_max_bytes(server: Server, fetcher: SafeFetcher) -> None:
    with pytest.raises(FetchError) as info:
        await load_reference_image(server.url("/image.png", HOST), fetcher, max_bytes=len(PNG) - 1)
    assert info.value.code == "too_large"


async def test_load_reference_image_from_data_url(fetcher: SafeFetcher) -> None:
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    image = await load_reference_image(url, fetcher, max_bytes=100_000)
    assert image.mode == "RGB" and image.size == (8, 6)
    # Line-wrapped base64 (as some encoders write it) is accepted too.
    wrapped = base64.encodebytes(PNG).decode()
    image = await load_reference_image("data:image/png;base64," + wrapped, fetcher, max_bytes=100_000)
    assert image.size == (8, 6)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("data:image/png;base64,not*base64!", "invalid_data_url"),
        ("data:image/png;base64,aGVsbG8", "invalid_data_url"),
        ("data:image/png;base64,aGVs*bG8=", "invalid_data_url"),  # lenient decoders accept it
        ("data:image/png,plain", "invalid_data_url"),
        ("data:text/plain;base64,aGVsbG8=", "invalid_data_url"),
        ("data:image/png;base64,aGVsbG8=", "invalid_image"),  # valid base64, not an image
    ],
)
async def test_load_reference_image_bad_data_urls(fetcher: SafeFetcher, url: str, code: str) -> None:
    with pytest.raises(FetchError) as info:
        await load_reference_image(url, fetcher, max_bytes=100_000)
    assert info.value.code == code


async def test_load_reference_image_data_url_size_cap(fetcher: SafeFetcher) -> None:
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    with pytest.raises(FetchError) as info:
        await load_reference_image(url, fetcher, max_bytes=len(PNG) - 1)
    assert info.value.code == "too_large"
    await load_reference_image(url, fetcher, max_bytes=len(PNG))
    # 300 bytes encode to exactly as many characters as 299 may: only the decoded size tells.
    exact = "data:image/png;base64," + base64.b64encode(PNG + b"\0" * (300 - len(PNG))).decode()
    with pytest.raises(FetchError) as info:
        await load_reference_image(exact, fetcher, max_bytes=299)
    assert info.value.code == "too_large"


async def test_load_reference_image_pixel_cap_and_truncation(fetcher: SafeFetcher) -> None:
    big = _png_bytes((200, 100))
    url = "data:image/png;base64," + base64.b64encode(big).decode()
    with pytest.raises(FetchError) as info:
        await load_reference_image(url, fetcher, max_bytes=1_000_000, max_pixels=19_999)
    assert info.value.code == "invalid_image" and "pixels" in info.value.message
    assert (await load_reference_image(url, fetcher, max_bytes=1_000_000, max_pixels=20_000)).size == (
        200,
        100,
    )
    truncated = "data:image/png;base64," + base64.b64encode(big[: len(big) // 2]).decode()
    with pytest.raises(FetchError) as info:
        await load_reference_image(truncated, fetcher, max_bytes=1_000_000)
    assert info.value.code == "invalid_image"


def test_fetch_limits_validation() -> None:
    for bad in ({"max_bytes": 0}, {"timeout_s": 0}, {"max_redirects": -1}):
        with pytest.raises(ValueError):
            FetchLimits(**bad)  # type: ignore[arg-type]
