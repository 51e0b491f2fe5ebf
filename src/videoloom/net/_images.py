"""Reference images given by URL: request-time validation and safe loading."""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import os
import re
from urllib.parse import unquote_to_bytes

import httpx
from PIL import Image

from videoloom.core.errors import AddressNotAllowed, FetchError, InvalidRequest
from videoloom.net._fetch import HOST_NAME_PATTERN, SafeFetcher
from videoloom.net._guard import AddressPolicy, parse_ip_literal

__all__ = [
    "ALLOWED_IMAGE_FORMATS",
    "DEFAULT_MAX_PIXELS",
    "load_reference_image",
    "validate_image_url",
]

DEFAULT_MAX_PIXELS = 40_000_000
"""Largest image (width × height) decoded; bigger ones are refused as decompression bombs."""

ALLOWED_IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
"""Pillow formats tried when decoding. Exotic formats (EPS runs Ghostscript, ...) are off."""

# data:[<media type>][;param=value]*[;base64],<data>
_DATA_URL = re.compile(
    r"^data:(?P<type>[^;,]*)(?P<params>(?:;[^;,]*)*?)(?P<b64>;base64)?,(?P<data>.*)$",
    re.I | re.S,
)
_MEDIA_TYPE = re.compile(r"^image/[a-z0-9][a-z0-9!#$&^_.+-]*$", re.I)
_ASCII_WHITESPACE = re.compile(rb"[ \t\r\n\f]+")
_LOCAL_NAMES = ("localhost", "localhost.")


def _scheme_of(url: str) -> str:
    head, sep, _ = url.partition(":")
    return head.strip().lower() if sep else ""


def _parse_data_url(url: str) -> tuple[str, bytes]:
    """Split a data URL into (media type, base64 text); raise ``ValueError`` with the reason."""
    match = _DATA_URL.match(url)
    if match is None:
        raise ValueError("malformed data URL; expected data:image/<type>;base64,<data>")
    media_type = match.group("type").strip().lower()
    if not _MEDIA_TYPE.match(media_type):
        shown = repr(media_type[:64]) if media_type else "missing"
        raise ValueError(f"data URL media type {shown} is not an image/* type")
    if match.group("b64") is None:
        raise ValueError("data URL must be base64-encoded (…;base64,…)")
    data = match.group("data")
    try:
        raw = data.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("data URL payload is not valid base64") from None
    if b"%" in raw:
        raw = unquote_to_bytes(raw)
    raw = _ASCII_WHITESPACE.sub(b"", raw)
    if not raw:
        raise ValueError("data URL has no data")
    return media_type, raw


def _decode_base64(raw: bytes) -> bytes:
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("data URL payload is not valid base64") from None


def validate_image_url(url: str, *, policy: AddressPolicy) -> None:
    """Cheap request-time check of an image URL; no network, no DNS.

    Accepts ``http``/``https`` URLs without credentials (an IP-literal host, or ``localhost``,
    must pass ``policy``) and well-formed base64 ``data:image/...`` URLs. Raises
    :class:`InvalidRequest` (``param`` unset: the caller knows the field) otherwise.
    Host names are checked again, after resolution, when the image is fetched.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidRequest("the image URL is empty", code="invalid_url")
    scheme = _scheme_of(url)
    if scheme == "data":
        try:
            _decode_base64(_parse_data_url(url)[1])
        except ValueError as exc:
            raise InvalidRequest(str(exc), code="invalid_data_url") from None
        return
    if scheme not in ("http", "https"):
        raise InvalidRequest(
            "image URLs must use http, https or a data:image/… URL",
            code="unsupported_url_scheme",
        )
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
        userinfo = parsed.userinfo
        port = parsed.port
    except (httpx.InvalidURL, TypeError, ValueError, UnicodeDecodeError):
        raise InvalidRequest("the image URL is not a valid URL", code="invalid_url") from None
    if userinfo:
        raise InvalidRequest("image URLs must not contain credentials (user:password@)", code="invalid_url")
    if not host:
        raise InvalidRequest("the image URL has no host", code="invalid_url")
    if port is not None and not 0 < port < 65536:
        raise InvalidRequest("the image URL has an invalid port", code="invalid_url")
    ip = parse_ip_literal(host)
    if ip is None and not HOST_NAME_PATTERN.match(host):  # e.g. a percent-encoded host
        raise InvalidRequest("the image URL's host is not a valid host name", code="invalid_url")
    if ip is None and (host.lower() in _LOCAL_NAMES or host.lower().endswith(".localhost")):
        ip = parse_ip_literal("127.0.0.1")  # RFC 6761: always the loopback interface
    if ip is not None:
        try:
            policy.check(str(ip))
        except AddressNotAllowed as exc:
            raise InvalidRequest(
                f"the image URL points at a refused address: {exc.message}",
                code="address_not_allowed",
            ) from None


async def load_reference_image(
    url: str,
    fetcher: SafeFetcher,
    *,
    max_bytes: int,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Fetch (or decode a data URL) and decode an image, returned as a loaded RGB image.

    Raises :class:`FetchError`: ``too_large`` over ``max_bytes``, ``invalid_data_url`` for a
    malformed data URL, ``invalid_image`` when the bytes are not a supported image or it
    has more than ``max_pixels`` pixels, or any code of :meth:`SafeFetcher.fetch`.
    """
    if _scheme_of(url) == "data":
        try:
            _media_type, raw = _parse_data_url(url)
        except ValueError as exc:
            raise FetchError(str(exc), code="invalid_data_url") from None
        # 4 base64 characters carry 3 bytes; refuse before decoding anything big.
        if len(raw) > (max_bytes + 2) // 3 * 4:
            raise FetchError(
                f"the data URL image is larger than the {max_bytes} byte limit", code="too_large"
            )
        try:
            content = _decode_base64(raw)
        except ValueError as exc:
            raise FetchError(str(exc), code="invalid_data_url") from None
        if len(content) > max_bytes:
            raise FetchError(
                f"the data URL image is larger than the {max_bytes} byte limit", code="too_large"
            )
    else:
        resource = await fetcher.fetch(url, max_bytes=max_bytes)
        content = resource.content
    return await asyncio.to_thread(_decode_image, content, max_pixels)


def decode_image(content: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode bytes the user sent (an uploaded reference image) with the same checks as a fetch."""
    return _decode_image(content, max_pixels)


def load_stored_image(path: os.PathLike[str] | str) -> Image.Image:
    """Decode a reference image stored earlier by the server (checked when it arrived)."""
    with open(path, "rb") as handle:
        return _decode_image(handle.read(), DEFAULT_MAX_PIXELS)


def _decode_image(content: bytes, max_pixels: int) -> Image.Image:
    """Open + verify, then reopen + load + convert; every failure is ``invalid_image``."""
    try:
        with Image.open(io.BytesIO(content), formats=ALLOWED_IMAGE_FORMATS) as probe:
            _check_pixels(probe, max_pixels)
            probe.verify()
        with Image.open(io.BytesIO(content), formats=ALLOWED_IMAGE_FORMATS) as image:
            _check_pixels(image, max_pixels)
            image.load()
            return image.convert("RGB")
    except FetchError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _invalid_image("it has too many pixels") from exc
    except Exception as exc:  # Pillow raises many types for bad input: all mean the same here
        supported = ", ".join(ALLOWED_IMAGE_FORMATS)
        raise _invalid_image(f"the data is not a valid image (supported: {supported})") from exc


def _invalid_image(reason: str) -> FetchError:
    return FetchError(f"the reference image cannot be used: {reason}", code="invalid_image")


def _check_pixels(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise _invalid_image(f"it has an empty size ({width}x{height})")
    if width * height > max_pixels:
        raise _invalid_image(f"{width}x{height} is more than the limit of {max_pixels} pixels")
