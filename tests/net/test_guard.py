"""Address policy and request-time URL validation. Pure functions: no network, no DNS."""

from __future__ import annotations

import base64
import io
import ipaddress
import socket

import pytest
from PIL import Image

from videoloom.core.errors import AddressNotAllowed, FetchError, InvalidRequest
from videoloom.net import AddressPolicy, parse_ip_literal, validate_image_url

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "100.63.255.255",  # just below 100.64/10
    "100.128.0.0",  # just above 100.64/10
    "172.15.255.255",  # just below 172.16/12
    "172.32.0.0",  # just above 172.16/12
    "169.253.255.255",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",  # IPv4-mapped public
    "2002:808:808::1",  # 6to4 embedding a public address
    "64:ff9b::808:808",  # NAT64 of a public address
]

REFUSED = [
    # (address, words the reason must contain)
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("169.254.0.1", "link-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "this network"),
    ("::", "unspecified"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.255", "carrier-grade NAT"),
    ("169.254.169.254", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("100.100.100.200", "metadata"),
    ("fec0::1", "site-local"),
    ("192.0.2.1", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("2001:db8::1", "documentation"),
    # IPv4-mapped / -compatible IPv6 forms are judged by their IPv4 address
    ("::ffff:127.0.0.1", "IPv4-mapped"),
    ("::ffff:10.0.0.1", "IPv4-mapped"),
    ("::ffff:169.254.169.254", "metadata"),
    ("::ffff:7f00:1", "loopback"),
    ("::10.0.0.1", "IPv4-compatible"),
    ("::8.8.8.8", "IPv4-compatible"),  # deprecated form, refused whatever it embeds
    ("64:ff9b::7f00:1", "NAT64"),
    # 6to4 and Teredo embedding private IPv4 addresses
    ("2002:a00:1::1", "6to4"),
    ("2002:c0a8:101::", "192.168.1.1"),
    ("2002:7f00:1::", "loopback"),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "Teredo"),  # client 10.0.0.1
    # bracketed and legacy numeric spellings are parsed to what they mean
    ("[::1]", "loopback"),
    ("127.1", "loopback"),
    ("2130706433", "loopback"),
    ("0x7f.0.0.1", "loopback"),
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    AddressPolicy().check(address)
    assert AddressPolicy().is_allowed(address)


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_non_public_addresses_are_refused(address: str, reason: str) -> None:
    with pytest.raises(AddressNotAllowed) as info:
        AddressPolicy().check(address)
    error = info.value
    assert isinstance(error, FetchError)
    assert error.code == "address_not_allowed"
    assert address.strip("[]").split("%")[0] in error.message or "0x7f" in address
    assert reason.lower() in error.message.lower()
    assert not AddressPolicy().is_allowed(address)


@pytest.mark.parametrize("address", [a for a, _ in REFUSED] + PUBLIC)
def test_allow_private_lifts_every_refusal(address: str) -> None:
    AddressPolicy(allow_private=True).check(address)


@pytest.mark.parametrize("garbage", ["", "example.com", "1.2.3.4.5", "::g", "256.1.1.1", "10.0.0.1/8"])
def test_non_addresses_are_refused_even_with_allow_private(garbage: str) -> None:
    for policy in (AddressPolicy(), AddressPolicy(allow_private=True)):
        with pytest.raises(AddressNotAllowed, match="not a valid IP address"):
            policy.check(garbage)


def test_allow_list_admits_exactly_the_listed_network() -> None:
    policy = AddressPolicy(allowed_networks=(ipaddress.ip_network("10.1.2.3/32"),))
    policy.check("10.1.2.3")
    policy.check("::ffff:10.1.2.3")  # the same destination, spelled as IPv6
    for other in ("10.1.2.4", "10.1.2.2", "127.0.0.1", "169.254.169.254", "::ffff:10.1.2.4"):
        with pytest.raises(AddressNotAllowed):
            policy.check(other)
    policy.check("8.8.8.8")  # public addresses still pass


def test_allow_list_accepts_strings_and_ipv6() -> None:
    policy = AddressPolicy(allowed_networks=("fd00:1::/64", "192.168.10.0/24"))  # type: ignore[arg-type]
    assert all(isinstance(n, ipaddress.IPv4Network | ipaddress.IPv6Network) for n in policy.allowed_networks)
    policy.check("fd00:1::5")
    policy.check("192.168.10.200")
    with pytest.raises(AddressNotAllowed):
        policy.check("fd00:2::5")
    with pytest.raises(AddressNotAllowed):
        policy.check("192.168.11.1")


def test_allow_list_can_admit_metadata_but_only_when_listed() -> None:
    policy = AddressPolicy(allowed_networks=(ipaddress.ip_network("169.254.0.0/16"),))
    policy.check("169.254.169.254")
    with pytest.raises(AddressNotAllowed):
        AddressPolicy(allowed_networks=(ipaddress.ip_network("10.0.0.0/8"),)).check("169.254.169.254")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("127.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("example.com", None),
        ("1e100.net", None),
        ("localhost", None),
        ("0x", None),
    ],
)
def test_parse_ip_literal(host: str, expected: str | None) -> None:
    result = parse_ip_literal(host)
    assert (None if result is None else str(result)) == expected


# --- validate_image_url: cheap, synchronous, no network -------------------------------------


def _png_data_url() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 10, 10)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(
    "url",
    [
        "https://images.example.test/cat.png",
        "http://images.example.test:8080/a/b.jpg?x=1",
        "https://8.8.8.8/x.png",
        "http://[2606:4700:4700::1111]/x.png",
        "HTTPS://IMAGES.EXAMPLE.TEST/X.PNG",
    ],
)
def test_validate_accepts_http_urls(url: str) -> None:
    validate_image_url(url, policy=AddressPolicy())


def test_validate_accepts_png_data_url() -> None:
    validate_image_url(_png_data_url(), policy=AddressPolicy())
    validate_image_url(_png_data_url().replace("image/png;", "image/png;name=x.png;"), policy=AddressPolicy())


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://127.0.0.1/x.png", "address_not_allowed"),
        ("http://127.0.0.1:8000/x.png", "address_not_allowed"),
        ("http://[::1]/x.png", "address_not_allowed"),
        ("http://[::ffff:127.0.0.1]/x.png", "address_not_allowed"),
        ("http://169.254.169.254/latest/meta-data/", "address_not_allowed"),
        ("http://[fd00:ec2::254]/", "address_not_allowed"),
        ("http://10.0.0.1/x.png", "address_not_allowed"),
        ("http://0.0.0.0/x.png", "address_not_allowed"),
        ("http://2130706433/x.png", "address_not_allowed"),
        ("http://127.1/x.png", "address_not_allowed"),
        ("http://localhost/x.png", "address_not_allowed"),
        ("http://api.localhost:9000/x.png", "address_not_allowed"),
        ("file:///etc/passwd", "unsupported_url_scheme"),
        ("ftp://images.example.test/x.png", "unsupported_url_scheme"),
        ("gopher://images.example.test/", "unsupported_url_scheme"),
        ("javascript:alert(1)", "unsupported_url_scheme"),
        ("images.example.test/x.png", "unsupported_url_scheme"),
        ("", "invalid_url"),
        ("http://", "invalid_url"),
        ("http:///x.png", "invalid_url"),
        ("http://user:hunter2@images.example.test/x.png", "invalid_url"),
        ("http://[::1/x.png", "invalid_url"),
        ("http://images.example.test:0/x.png", "invalid_url"),
        ("data:text/plain;base64,aGVsbG8=", "invalid_data_url"),
        ("data:;base64,aGVsbG8=", "invalid_data_url"),
        ("data:image/png,rawbytes", "invalid_data_url"),
        ("data:image/png;base64,", "invalid_data_url"),
        ("data:image/png;base64,not*base64!", "invalid_data_url"),
        ("data:image/png;base64,aGVsbG8", "invalid_data_url"),  # bad padding
        ("data:image/png;base64,aGVs*bG8=", "invalid_data_url"),  # stray character
        ("data:image/png;base64", "invalid_data_url"),
    ],
)
def test_validate_rejects(url: str, code: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        validate_image_url(url, policy=AddressPolicy())
    assert info.value.code == code
    assert info.value.param is None
    assert info.value.status_code == 400
    assert "hunter2" not in info.value.message


def test_validate_loopback_allowed_by_policy() -> None:
    validate_image_url("http://127.0.0.1:8000/x.png", policy=AddressPolicy(allow_private=True))
    validate_image_url("http://[::1]/x.png", policy=AddressPolicy(allow_private=True))
    listed = AddressPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))
    validate_image_url("http://127.0.0.1:8000/x.png", policy=listed)
    validate_image_url("http://localhost:8000/x.png", policy=listed)
    with pytest.raises(InvalidRequest):
        validate_image_url("http://127.0.0.2:8000/x.png", policy=listed)


def test_validate_does_not_resolve_names(monkeypatch: pytest.MonkeyPatch) -> None:
    # A made-up name is only resolved at fetch time; validation must not touch DNS.
    def no_dns(*args: object, **kwargs: object) -> None:
        raise AssertionError("validate_image_url must not resolve names")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(socket, "gethostbyname", no_dns)
    validate_image_url("http://does-not-exist.invalid/x.png", policy=AddressPolicy())
