"""SSRF-safe fetching of user-given URLs.

Every hop (the first URL and each redirect) is parsed, its host resolved exactly once, every
resolved address checked with the :class:`AddressPolicy`, and the connection made to the
checked address itself (the original host name travels in the ``Host`` header and, for
HTTPS, as the TLS SNI / certificate hostname). Nothing from httpx escapes: failures are
:class:`FetchError` (or :class:`AddressNotAllowed`) with a stable ``code``. Error messages
name only the scheme, host and port of a URL, never its path, query or credentials.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http.cookiejar import CookieJar, CookiePolicy
from typing import Any

import httpx

from videoloom.core.errors import AddressNotAllowed, FetchError
from videoloom.net._guard import AddressPolicy, parse_ip_literal

__all__ = [
    "FetchLimits",
    "FetchedResource",
    "Resolver",
    "SafeFetcher",
    "system_resolver",
    "validate_url",
]

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) -> IP address strings``; may raise :class:`FetchError`."""

_SCHEMES = {"http": 80, "https": 443}
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HOST_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_.])?$")
_USER_AGENT = "videoloom-fetcher/0.1"


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the system resolver; addresses deduplicated, in resolver order."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"could not resolve host {host!r}", code="resolution_failed") from exc
    addresses: list[str] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


@dataclass(frozen=True, kw_only=True)
class FetchLimits:
    max_bytes: int = 10 * 1024 * 1024
    """Largest body accepted (after any gzip/deflate decoding)."""
    timeout_s: float = 10.0
    """Deadline for the whole fetch, resolution and redirects included."""
    max_redirects: int = 3

    def __post_init__(self) -> None:
        if self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        if not self.timeout_s > 0:
            raise ValueError("timeout_s must be positive")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")


@dataclass(frozen=True)
class FetchedResource:
    url: str
    """Final URL after redirects (with the original host name, not the connected address)."""
    content_type: str | None
    content: bytes


class _NoCookies(CookiePolicy):
    """Never store or send cookies: one user's fetch must not affect another's."""

    netscape = True
    rfc2965 = False
    hide_cookie2 = False

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: Any) -> bool:
        return False

    def path_return_ok(self, path: str, request: Any) -> bool:
        return False


@dataclass(frozen=True)
class _Target:
    url: httpx.URL  # as the user (or redirect) gave it, with the host name
    host: str  # ASCII host name, or the IP address text for IP literals
    port: int
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None  # set for IP literals

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` — what error messages may show of a URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = _SCHEMES[self.url.scheme]
        port = "" if self.port == default else f":{self.port}"
        return f"{self.url.scheme}://{host}{port}"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _SCHEMES[self.url.scheme] else f"{host}:{self.port}"


def _parse_target(url: httpx.URL | str) -> _Target:
    """Validate one hop's URL (scheme, credentials, host, port); no network."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        scheme = parsed.scheme
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchError("the URL is not valid", code="invalid_url") from exc
    if scheme not in _SCHEMES:
        shown = f"{scheme!r}" if scheme else "missing"
        raise FetchError(
            f"URL scheme {shown} is not supported; use http or https",
            code="unsupported_url_scheme",
        )
    if parsed.userinfo:
        raise FetchError("URLs with embedded credentials are not allowed", code="invalid_url")
    try:
        host = parsed.raw_host.decode("ascii")
        port = _SCHEMES[scheme] if parsed.port is None else parsed.port
    except (UnicodeDecodeError, ValueError) as exc:
        raise FetchError("the URL is not valid", code="invalid_url") from exc
    if not host:
        raise FetchError("the URL has no host", code="invalid_url")
    if not 0 < port < 65536:
        raise FetchError("the URL has an invalid port", code="invalid_url")
    ip = parse_ip_literal(host)
    if ip is None and not HOST_NAME_PATTERN.match(host):
        raise FetchError("the URL has an invalid host name", code="invalid_url")
    if ip is not None:
        host = str(ip)  # canonical form: "127.1" -> "127.0.0.1", zone ids dropped
    return _Target(url=parsed, host=host, port=port, ip=ip)


def validate_url(url: str, *, policy: AddressPolicy) -> None:
    """Cheap request-time check that :class:`SafeFetcher` would try ``url``; no network, no DNS.

    Checks scheme (http/https), credentials, host and port; an IP-literal host (or
    ``localhost``) must pass ``policy``. Host names are checked again, after resolution,
    on every request. Raises :class:`FetchError` / :class:`AddressNotAllowed`.
    """
    if not isinstance(url, str) or not url.strip():
        raise FetchError("the URL is empty", code="invalid_url")
    target = _parse_target(url.strip())
    ip = target.ip
    name = target.host.lower().rstrip(".")
    if ip is None and (name == "localhost" or name.endswith(".localhost")):
        ip = parse_ip_literal("127.0.0.1")  # RFC 6761: always the loopback interface
    if ip is not None:
        policy.check(str(ip))


class SafeFetcher:
    """Fetches user-given http(s) URLs without letting them reach refused addresses.

    ``transport`` is for tests (e.g. ``httpx.MockTransport``); it is closed by :meth:`aclose`.
    Connections are never reused between requests, and cookies are never kept.
    """

    def __init__(
        self,
        *,
        policy: AddressPolicy,
        limits: FetchLimits = FetchLimits(),
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._policy = policy
        self._limits = limits
        self._resolver = resolver
        if transport is None:
            transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_keepalive_connections=0), retries=0)
        self._client = httpx.AsyncClient(
            transport=transport,
            trust_env=False,  # no proxies or .netrc credentials from the environment
            follow_redirects=False,
            cookies=CookieJar(policy=_NoCookies()),
            timeout=httpx.Timeout(limits.timeout_s),
            headers={
                "User-Agent": _USER_AGENT,
                "Accept": "*/*",
                "Accept-Encoding": "identity",
            },
        )

    @property
    def policy(self) -> AddressPolicy:
        return self._policy

    @property
    def limits(self) -> FetchLimits:
        return self._limits

    async def __aenter__(self) -> SafeFetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str, *, max_bytes: int | None = None) -> FetchedResource:
        """GET ``url`` safely. ``max_bytes`` may lower (never raise) ``limits.max_bytes``."""
        cap = self._limits.max_bytes if max_bytes is None else min(max_bytes, self._limits.max_bytes)
        target = _parse_target(url)
        try:
            async with asyncio.timeout(self._limits.timeout_s):
                return await self._fetch(target, cap)
        except TimeoutError as exc:
            raise FetchError(
                f"fetching from {target.origin} timed out after {self._limits.timeout_s:g} s",
                code="timeout",
            ) from exc

    async def post(self, url: str, *, content: bytes, headers: dict[str, str]) -> int:
        """POST ``content`` to ``url`` safely and return the response's status code.

        The same guard as :meth:`fetch` (resolve once, check every address, connect to the
        checked one, one deadline for everything). Redirects are never followed: a 3xx is
        returned like any other status, for the caller to count as a failure. The response
        body is not read. Raises :class:`FetchError` (``timeout``, ``connection_failed``, …)
        or :class:`AddressNotAllowed` when no status code was received.
        """
        target = _parse_target(url)
        try:
            async with asyncio.timeout(self._limits.timeout_s):
                address = await self._checked_address(target)
                request = self._build_request(
                    target, address, method="POST", content=content, headers=headers
                )
                try:
                    response = await self._client.send(request, stream=True)
                except httpx.TimeoutException as exc:
                    raise TimeoutError from exc
                except httpx.InvalidURL as exc:  # httpx parses a redirect's Location eagerly
                    raise FetchError(
                        f"{target.origin} answered with a redirect to an unusable URL",
                        code="invalid_redirect",
                    ) from exc
                except httpx.HTTPError as exc:
                    raise FetchError(
                        f"could not connect to {target.origin}", code="connection_failed"
                    ) from exc
                await response.aclose()
                return response.status_code
        except TimeoutError as exc:
            raise FetchError(
                f"posting to {target.origin} timed out after {self._limits.timeout_s:g} s",
                code="timeout",
            ) from exc

    async def _fetch(self, target: _Target, cap: int) -> FetchedResource:
        redirects = 0
        while True:
            address = await self._checked_address(target)
            request = self._build_request(target, address)
            try:
                response = await self._client.send(request, stream=True)
            except httpx.TimeoutException as exc:
                raise TimeoutError from exc  # reported by fetch() like the overall deadline
            except httpx.InvalidURL as exc:  # httpx parses a redirect's Location eagerly
                raise FetchError(
                    f"{target.origin} answered with a redirect to an unusable URL", code="invalid_redirect"
                ) from exc
            except httpx.HTTPError as exc:
                raise FetchError(f"could not connect to {target.origin}", code="connection_failed") from exc
            try:
                location = response.headers.get("Location")
                if response.status_code in _REDIRECT_STATUSES and location:
                    redirects += 1
                    if redirects > self._limits.max_redirects:
                        raise FetchError(
                            f"too many redirects (more than {self._limits.max_redirects})",
                            code="too_many_redirects",
                        )
                    try:
                        next_url = target.url.join(location)
                    except (httpx.InvalidURL, TypeError, ValueError) as exc:
                        raise FetchError(
                            f"{target.origin} redirected to an invalid URL", code="invalid_url"
                        ) from exc
                    target = _parse_target(next_url)
                    continue
                if not 200 <= response.status_code < 300:
                    raise FetchError(
                        f"{target.origin} answered HTTP {response.status_code}"
                        + (f" {response.reason_phrase}" if response.reason_phrase else ""),
                        code="http_error",
                    )
                content = await self._read_body(response, target, cap)
                return FetchedResource(
                    url=str(target.url),
                    content_type=response.headers.get("Content-Type"),
                    content=content,
                )
            finally:
                await response.aclose()

    async def _checked_address(self, target: _Target) -> str:
        """Resolve once, check every address, return the one to connect to."""
        if target.ip is not None:
            addresses = [str(target.ip)]
        else:
            try:
                addresses = list(await self._resolver(target.host, target.port))
            except FetchError:
                raise
            except (OSError, UnicodeError, ValueError) as exc:
                raise FetchError(f"could not resolve host {target.host!r}", code="resolution_failed") from exc
            if not addresses:
                raise FetchError(
                    f"host {target.host!r} did not resolve to any address",
                    code="resolution_failed",
                )
        checked: list[str] = []
        for address in addresses:
            try:
                self._policy.check(address)
            except AddressNotAllowed as exc:
                if target.ip is not None:
                    raise
                raise AddressNotAllowed(
                    f"host {target.host!r} resolves to a refused address: {exc.message}"
                ) from exc
            ip = parse_ip_literal(address)
            assert ip is not None  # check() refuses anything that is not an address
            checked.append(str(ip))
        return checked[0]

    def _build_request(
        self,
        target: _Target,
        address: str,
        *,
        method: str = "GET",
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Request:
        extensions: dict[str, Any] = {}
        if target.url.scheme == "https" and target.ip is None:
            extensions["sni_hostname"] = target.host
        connect_url = target.url.copy_with(host=address, port=target.port, fragment=None)
        # The caller's headers never replace Host: it must name the checked target.
        merged = {k: v for k, v in (headers or {}).items() if k.lower() != "host"}
        merged["Host"] = target.host_header
        return self._client.build_request(
            method,
            connect_url,
            content=content,
            headers=merged,
            extensions=extensions,
        )

    async def _read_body(self, response: httpx.Response, target: _Target, cap: int) -> bytes:
        too_large = FetchError(
            f"the resource at {target.origin} is larger than the {cap} byte limit",
            code="too_large",
        )
        length = response.headers.get("Content-Length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = None
            if declared is not None and declared > cap:
                raise too_large
        if response.is_stream_consumed:  # some transports (mocks) hand over bodies already read
            if len(response.content) > cap:
                raise too_large
            return response.content
        decoder = _decoder_for(response.headers.get("Content-Encoding"), target)
        body = bytearray()
        try:
            async for chunk in response.aiter_raw():
                for piece in decoder.feed(chunk, cap - len(body) + 1):
                    body += piece
                    if len(body) > cap:
                        raise too_large
            body += decoder.finish()
        except httpx.TimeoutException as exc:
            raise TimeoutError from exc
        except httpx.HTTPError as exc:
            raise FetchError(
                f"the connection to {target.origin} failed while reading the body",
                code="connection_failed",
            ) from exc
        except zlib.error as exc:
            raise FetchError(
                f"the compressed body from {target.origin} is corrupt", code="fetch_failed"
            ) from exc
        if len(body) > cap:
            raise too_large
        return bytes(body)


class _Identity:
    def feed(self, data: bytes, limit: int) -> list[bytes]:
        return [data]

    def finish(self) -> bytes:
        return b""


class _Inflate:
    """gzip/deflate decoding that never produces more than ``limit`` bytes per step."""

    def __init__(self, wbits: int) -> None:
        self._obj = zlib.decompressobj(wbits)
        self._raw_fallback = wbits == zlib.MAX_WBITS
        self._started = False

    def feed(self, data: bytes, limit: int) -> list[bytes]:
        if not self._started and self._raw_fallback and data:
            self._started = True
            # "deflate" is zlib-wrapped per RFC 9110, but some servers send raw deflate.
            probe = zlib.decompressobj(zlib.MAX_WBITS)
            try:
                probe.decompress(data[:2])
            except zlib.error:
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
        pieces: list[bytes] = []
        produced = 0
        while data:
            out = self._obj.decompress(data, max(limit - produced, 1))
            pieces.append(out)
            produced += len(out)
            if produced >= limit:
                break
            data = self._obj.unconsumed_tail
        return pieces

    def finish(self) -> bytes:
        return self._obj.flush()


def _decoder_for(encoding: str | None, target: _Target) -> _Identity | _Inflate:
    value = (encoding or "").strip().lower()
    if value in ("", "identity"):
        return _Identity()
    if value in ("gzip", "x-gzip"):
        return _Inflate(16 + zlib.MAX_WBITS)
    if value == "deflate":
        return _Inflate(zlib.MAX_WBITS)
    raise FetchError(
        f"{target.origin} sent an unsupported content encoding {value!r}",
        code="unsupported_encoding",
    )
