"""Run ``videoloom serve`` under an egress sentinel: a test harness, not part of Videoloom.

The reliability tests hand the server hostile URLs. Even if the SSRF guard under test were
broken, this process must not resolve a name through DNS or connect anywhere but loopback.
An audit hook (PEP 578) sees every ``getaddrinfo``/``gethostbyname``/``connect``/``sendto``
that Python's socket module makes and refuses (raises ``PermissionError``) any whose target
is not a loopback IP literal or ``localhost`` (answered from /etc/hosts); each refusal is
appended as a JSON line to ``$EGRESS_SENTINEL_LOG`` so the tests can assert there were none.

uvloop is blocked so that uvicorn runs the standard asyncio loop, whose sockets go through
the audited socket module (uvloop resolves and connects inside libuv, out of the hook's
sight). ``EGRESS_SENTINEL_DENY`` (comma-separated hosts) additionally refuses some loopback
targets; the sentinel's own self-test uses it to prove that refusals happen and are logged.

Usage: ``python _egress_sentinel.py serve`` with the usual ``VIDEOLOOM_*`` environment.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import time

_LOG = os.environ.get("EGRESS_SENTINEL_LOG", "")
_DENY = {h.strip().lower() for h in os.environ.get("EGRESS_SENTINEL_DENY", "").split(",") if h.strip()}


def _host_text(host: object) -> str | None:
    if isinstance(host, bytes | bytearray):
        return bytes(host).decode("ascii", "replace")
    return host if isinstance(host, str) else None


def is_loopback_target(host: object) -> bool:
    """True for loopback IP literals (IPv4-mapped included) and ``localhost``; no DNS."""
    if host is None:  # getaddrinfo(None, port): the local wildcard, used for binding
        return True
    text = _host_text(host)
    if text is None:
        return False
    if text.lower() in _DENY:
        return False
    if text.lower() == "localhost":
        return True
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if str(ip) in _DENY:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _refuse(event: str, target: object) -> None:
    record = {"event": event, "target": repr(target), "at": time.time(), "pid": os.getpid()}
    if _LOG:
        fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(record) + "\n").encode())
        finally:
            os.close(fd)
    raise PermissionError(f"egress sentinel: {event} to {target!r} refused (tests talk to loopback only)")


def _hook(event: str, args: tuple[object, ...]) -> None:
    if not event.startswith("socket."):
        return
    names = ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr")
    if event in names:
        if not is_loopback_target(args[0]):
            _refuse(event, args[0])
    elif event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        address = args[1] if len(args) > 1 else None
        if isinstance(address, tuple) and address and not is_loopback_target(address[0]):
            _refuse(event, address)


def main() -> None:
    sys.modules["uvloop"] = None  # type: ignore[assignment]  # uvicorn falls back to asyncio
    sys.addaudithook(_hook)
    from videoloom.cli.main import main as videoloom_main

    sys.argv = ["videoloom", *sys.argv[1:]]
    videoloom_main()


if __name__ == "__main__":
    main()
