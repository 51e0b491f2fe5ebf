"""Outgoing network access for user-given URLs: address policy, safe fetcher, reference images.

Every fetch of a user-given URL goes through :class:`SafeFetcher`, which resolves each host
once, checks every address with :class:`AddressPolicy` and connects to the checked address.
"""

from videoloom.net._fetch import (
    FetchedResource,
    FetchLimits,
    Resolver,
    SafeFetcher,
    system_resolver,
    validate_url,
)
from videoloom.net._guard import AddressPolicy, parse_ip_literal
from videoloom.net._images import (
    ALLOWED_IMAGE_FORMATS,
    DEFAULT_MAX_PIXELS,
    decode_image,
    load_reference_image,
    load_stored_image,
    validate_image_url,
)

__all__ = [
    "ALLOWED_IMAGE_FORMATS",
    "DEFAULT_MAX_PIXELS",
    "AddressPolicy",
    "FetchLimits",
    "FetchedResource",
    "Resolver",
    "SafeFetcher",
    "decode_image",
    "load_reference_image",
    "load_stored_image",
    "parse_ip_literal",
    "system_resolver",
    "validate_image_url",
    "validate_url",
]
