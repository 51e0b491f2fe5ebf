"""SafeFetcher.post: the guarded POST webhooks are sent with. Loopback receivers only.

Made-up host names resolve through a fake resolver that knows only loopback addresses.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support import free_port
from tests.webhook_receiver import Receiver
from videoloom.core.errors import AddressNotAllowed, FetchError
from videoloom.net import AddressPolicy, FetchLimits, SafeFetcher, validate_url

LOOPBACK_ONLY = AddressPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))


async def _loopback_resolver(host: str, port: int) -> list[str]:
    if host == "hooks.example.test":
        return ["127.0.0.1"]
    if host == "private.example.test":
        return ["127.0.0.1", "10.0.0.1"]
    raise FetchError(f"could not resolve host {host!r}", code="resolution_failed")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
async def fetcher() -> AsyncIterator[SafeFetcher]:
    async with SafeFetcher(
        policy=LOOPBACK_ONLY, limits=FetchLimits(timeout_s=2), resolver=_loopback_resolver
    ) as f:
        yield f


async def test_post_sends_body_and_headers_and_returns_the_status(
    receiver: Receiver, fetcher: SafeFetcher
) -> None:
    receiver.answer("/created", 201)
    status = await fetcher.post(
        receiver.url("/created"), content=b'{"a":1}', headers={"webhook-id": "msg_1", "Host": "evil.test"}
    )
    assert status == 201
    [seen] = receiver.requests("/created")
    assert seen.body == b'{"a":1}' and seen.headers["webhook-id"] == "msg_1"
    assert seen.headers["host"] == f"127.0.0.1:{receiver.port}"  # a caller cannot replace Host
    assert seen.headers.get("cookie") is None


async def test_post_through_a_name_connects_to_the_checked_address(
    receiver: Receiver, fetcher: SafeFetcher
) -> None:
    url = f"http://hooks.example.test:{receiver.port}/named"
    assert await fetcher.post(url, content=b"x", headers={}) == 200
    assert receiver.requests("/named")[0].headers["host"] == f"hooks.example.test:{receiver.port}"


async def test_post_returns_error_statuses_without_raising(receiver: Receiver, fetcher: SafeFetcher) -> None:
    receiver.answer("/broken", 500)
    assert await fetcher.post(receiver.url("/broken"), content=b"x", headers={}) == 500


async def test_post_does_not_follow_redirects(receiver: Receiver, fetcher: SafeFetcher) -> None:
    receiver.answer("/moved", 307, Location="/target")
    assert await fetcher.post(receiver.url("/moved"), content=b"x", headers={}) == 307
    time.sleep(0.2)
    assert receiver.requests("/target") == []


async def test_post_refuses_addresses_outside_the_policy(receiver: Receiver) -> None:
    async with SafeFetcher(policy=AddressPolicy(), resolver=_loopback_resolver) as strict:
        with pytest.raises(AddressNotAllowed):
            await strict.post(receiver.url("/nope"), content=b"x", headers={})
        with pytest.raises(AddressNotAllowed, match="resolves to a refused address"):
            await strict.post(f"http://hooks.example.test:{receiver.port}/nope", content=b"x", headers={})
    async with SafeFetcher(policy=LOOPBACK_ONLY, resolver=_loopback_resolver) as partly:
        with pytest.raises(AddressNotAllowed):  # one refused address is enough
            await partly.post(f"http://private.example.test:{receiver.port}/nope", content=b"x", headers={})
    assert receiver.requests("/nope") == []


async def test_post_timeout_and_connection_errors_are_fetch_errors(receiver: Receiver) -> None:
    receiver.fail_first("/slow", 1, delay=1.5)
    async with SafeFetcher(policy=LOOPBACK_ONLY, limits=FetchLimits(timeout_s=0.3)) as quick:
        with pytest.raises(FetchError) as info:
            await quick.post(receiver.url("/slow"), content=b"x", headers={})
        assert info.value.code == "timeout"
    port = free_port()  # bound, then closed: nothing listens there
    async with SafeFetcher(policy=LOOPBACK_ONLY, limits=FetchLimits(timeout_s=2)) as f:
        with pytest.raises(FetchError) as info:
            await f.post(f"http://127.0.0.1:{port}/x", content=b"x", headers={})
        assert info.value.code == "connection_failed"


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/hook", "unsupported_url_scheme"),
        ("https://user:pw@example.com/hook", "invalid_url"),
        ("", "invalid_url"),
        ("http://127.0.0.1:8000/hook", "address_not_allowed"),
        ("http://[::1]/hook", "address_not_allowed"),
        ("http://localhost:8000/hook", "address_not_allowed"),
        ("http://169.254.169.254/latest", "address_not_allowed"),
        ("http://10.1.2.3/hook", "address_not_allowed"),
    ],
)
def test_validate_url_refuses_without_network(url: str, code: str) -> None:
    with pytest.raises(FetchError) as info:
        validate_url(url, policy=AddressPolicy())
    assert info.value.code == code


def test_validate_url_accepts_public_and_allowed_targets() -> None:
    validate_url("https://hooks.example.com/videoloom", policy=AddressPolicy())
    validate_url("http://93.184.216.34:8080/x", policy=AddressPolicy())
    validate_url("http://127.0.0.1:8000/hook", policy=AddressPolicy(allow_private=True))
    validate_url("http://localhost:8000/hook", policy=LOOPBACK_ONLY)
