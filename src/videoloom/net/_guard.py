"""Address policy: which IP addresses a user-given URL may make the server connect to.

The policy is applied to *resolved* addresses (and to IP literals in URLs), never to host
names, so it cannot be fooled by a name that resolves somewhere internal. ``SafeFetcher``
connects to exactly the address that was checked, so there is no second resolution that a
DNS-rebinding attacker could answer differently.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

from videoloom.core.errors import AddressNotAllowed

__all__ = ["AddressPolicy", "IPAddress", "IPNetwork", "parse_ip_literal"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_v4 = ipaddress.IPv4Network
_v6 = ipaddress.IPv6Network

# Well-known cloud metadata endpoints, named in refusals so operators see what was attempted.
_METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        ipaddress.IPv4Address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        ipaddress.IPv4Address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.IPv4Address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.IPv4Address("168.63.129.16"),  # Azure WireServer (publicly routable space)
        ipaddress.IPv6Address("fd00:ec2::254"),  # AWS IMDS over IPv6
    }
)

# Ranges refused outright, with the reason given in the error. Checked after the metadata
# addresses and after unwrapping IPv6 forms that embed an IPv4 address.
_REFUSED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_v4("0.0.0.0/8"), "'this network' range (0.0.0.0/8)"),
    (_v4("10.0.0.0/8"), "private network (10.0.0.0/8)"),
    (_v4("100.64.0.0/10"), "shared carrier-grade NAT space (100.64.0.0/10)"),
    (_v4("127.0.0.0/8"), "loopback (127.0.0.0/8)"),
    (_v4("169.254.0.0/16"), "link-local (169.254.0.0/16)"),
    (_v4("172.16.0.0/12"), "private network (172.16.0.0/12)"),
    (_v4("192.0.0.0/24"), "IETF protocol assignments (192.0.0.0/24)"),
    (_v4("192.0.2.0/24"), "documentation range (192.0.2.0/24)"),
    (_v4("192.88.99.0/24"), "6to4 relay anycast (192.88.99.0/24)"),
    (_v4("192.168.0.0/16"), "private network (192.168.0.0/16)"),
    (_v4("198.18.0.0/15"), "benchmarking range (198.18.0.0/15)"),
    (_v4("198.51.100.0/24"), "documentation range (198.51.100.0/24)"),
    (_v4("203.0.113.0/24"), "documentation range (203.0.113.0/24)"),
    (_v4("224.0.0.0/4"), "multicast (224.0.0.0/4)"),
    (_v4("240.0.0.0/4"), "reserved (240.0.0.0/4)"),
)

_REFUSED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_v6("::/128"), "unspecified address"),
    (_v6("::1/128"), "loopback (::1)"),
    (_v6("64:ff9b:1::/48"), "local-use NAT64 (64:ff9b:1::/48)"),
    (_v6("100::/64"), "discard-only range (100::/64)"),
    (_v6("2001::/23"), "IETF protocol assignments (2001::/23)"),
    (_v6("2001:db8::/32"), "documentation range (2001:db8::/32)"),
    (_v6("fc00::/7"), "unique local / private network (fc00::/7)"),
    (_v6("fe80::/10"), "link-local (fe80::/10)"),
    (_v6("fec0::/10"), "deprecated site-local (fec0::/10)"),
    (_v6("ff00::/8"), "multicast (ff00::/8)"),
)

_V4_MAPPED = _v6("::ffff:0:0/96")
_V4_COMPATIBLE = _v6("::/96")
_NAT64 = _v6("64:ff9b::/96")
_SIX_TO_FOUR = _v6("2002::/16")
_TEREDO = _v6("2001::/32")

# Legacy numeric IPv4 spellings that inet_aton (and therefore getaddrinfo) accepts:
# "127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1".
_NUMERIC_HOST = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)


def parse_ip_literal(host: str) -> IPAddress | None:
    """The IP address ``host`` spells, or ``None`` when it is a host name.

    Accepts IPv6 with or without brackets (a zone id is dropped) and the legacy numeric IPv4
    forms (``127.1``, ``2130706433``, ``0x7f.0.0.1``) that the system resolver would turn into
    an address anyway, so such hosts are checked as the address they really are.
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text.rstrip(".")))
        except OSError:
            return None
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 transition form carries, with the form's name."""
    if ip in _V4_MAPPED:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "IPv4-mapped"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    if ip in _V4_COMPATIBLE and int(ip) > 1:  # '::' and '::1' are not IPv4-compatible forms
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "IPv4-compatible"
    if ip in _SIX_TO_FOUR:
        embedded = ip.sixtofour
        assert embedded is not None
        return embedded, "6to4"
    return None


def _refusal_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be connected to, or ``None`` when it is a public address."""
    if ip in _METADATA_ADDRESSES:
        return "cloud metadata endpoint"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            v4, form = embedded
            inner = _refusal_reason(v4)
            if inner is not None:
                return f"{form} IPv6 address embedding {v4}: {inner}"
            if form == "IPv4-compatible":
                return "deprecated IPv4-compatible IPv6 address (::/96)"
            return None  # a public IPv4 address reached through a mapped/NAT64/6to4 form
        if ip in _TEREDO and ip.teredo is not None:
            server, client = ip.teredo
            for v4, role in ((client, "client"), (server, "server")):
                inner = _refusal_reason(v4)
                if inner is not None:
                    return f"Teredo IPv6 address embedding {role} {v4}: {inner}"
        table: tuple[tuple[IPNetwork, str], ...] = _REFUSED_V6
    else:
        if ip == ipaddress.IPv4Address("0.0.0.0"):
            return "unspecified address"
        if ip == ipaddress.IPv4Address("255.255.255.255"):
            return "broadcast address"
        table = _REFUSED_V4
    for network, reason in table:
        if ip in network:
            return reason
    # Backstop: whatever the standard library classifies as non-public.
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private or special-purpose range"
    if ip.is_reserved:
        return "reserved range"
    return None


@dataclass(frozen=True, kw_only=True)
class AddressPolicy:
    """Which addresses outgoing fetches of user-given URLs may connect to.

    By default only public unicast addresses pass. Refused: loopback, private (RFC 1918,
    ``fc00::/7``), link-local (``169.254/16``, ``fe80::/10``), site-local ``fec0::/10``,
    multicast, reserved, documentation and benchmarking ranges, unspecified (``0.0.0.0``,
    ``::``), broadcast, shared CGNAT ``100.64/10``, cloud metadata endpoints
    (``169.254.169.254``, ``fd00:ec2::254``, ``100.100.100.200``, ...), and IPv6 forms that
    embed a refused IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible, NAT64,
    6to4, Teredo).

    ``allowed_networks`` is the operator's allow-list; it is checked first and an address
    inside it passes whatever its category (an IPv4-mapped IPv6 address also passes when
    its IPv4 address is listed). Entries may be given as strings (``"10.0.0.0/8"``); they
    are converted to network objects.

    ``allow_private=True`` (``VIDEOLOOM_ALLOW_PRIVATE_URLS``) lifts the check completely:
    every syntactically valid address passes, including loopback, metadata and unspecified
    addresses. It is meant for closed networks and tests only.
    """

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    def __post_init__(self) -> None:
        networks = tuple(
            n if isinstance(n, ipaddress.IPv4Network | ipaddress.IPv6Network) else ipaddress.ip_network(n)
            for n in self.allowed_networks
        )
        object.__setattr__(self, "allowed_networks", networks)

    def is_allowed(self, address: str) -> bool:
        """``True`` when :meth:`check` would let ``address`` through."""
        try:
            self.check(address)
        except AddressNotAllowed:
            return False
        return True

    def check(self, address: str) -> None:
        """Raise :class:`AddressNotAllowed` unless connecting to ``address`` is allowed.

        ``address`` is an IP address string (IPv6 may carry a zone id or brackets).
        """
        ip = parse_ip_literal(address) if isinstance(address, str) else None
        if ip is None:
            shown = repr(address[:100] if isinstance(address, str) else address)
            raise AddressNotAllowed(f"{shown} is not a valid IP address")
        if self.allow_private:
            return
        if self._in_allow_list(ip):
            return
        reason = _refusal_reason(ip)
        if reason is not None:
            raise AddressNotAllowed(
                f"connections to {address.strip()} are not allowed ({reason}); "
                "only public addresses may be fetched"
            )

    def _in_allow_list(self, ip: IPAddress) -> bool:
        if not self.allowed_networks:
            return False
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)  # the very same destination as the IPv4 address
        return any(
            candidate.version == network.version and candidate in network
            for candidate in candidates
            for network in self.allowed_networks
        )
