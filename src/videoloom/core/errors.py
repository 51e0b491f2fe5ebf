"""The one error hierarchy of Videoloom.

Every layer below ``api/`` raises these; each API dialect translates them into
its own error envelope at the boundary. Dependency errors (PyAV, SQLAlchemy,
httpx) are re-raised as one of these with ``raise … from exc``.

    VideoloomError
    ├── InvalidRequest        400  a field is wrong; ``param`` names it
    ├── AuthenticationFailed  401  missing, wrong or revoked API key
    ├── PermissionDenied      403  the key may not do this (admin actions)
    ├── NotFound              404  unknown id, or another tenant's
    ├── Conflict              409  the resource is not in a state that allows this
    ├── Gone                  410  the result existed but has expired
    ├── PayloadTooLarge       413  upload or body over its limit
    ├── RateLimited           429  over a rate limit, quota or the queue bound; ``retry_after`` seconds
    ├── MediaError            422  a video or image that cannot be decoded or encoded
    ├── FetchError            422  a user-given URL could not be fetched safely
    │   └── AddressNotAllowed      the URL points at a refused address
    └── EngineError           500  an engine failed while generating
"""

from __future__ import annotations

__all__ = [
    "AddressNotAllowed",
    "AuthenticationFailed",
    "Conflict",
    "EngineError",
    "FetchError",
    "Gone",
    "InvalidRequest",
    "MediaError",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "VideoloomError",
]


class VideoloomError(Exception):
    """Base class. ``code`` is a stable machine-readable string, ``param`` the offending field."""

    status_code = 500
    error_type = "server_error"
    default_code = "internal_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code or self.default_code


class InvalidRequest(VideoloomError):
    status_code = 400
    error_type = "invalid_request_error"
    default_code = "invalid_value"


class AuthenticationFailed(VideoloomError):
    status_code = 401
    error_type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDenied(VideoloomError):
    status_code = 403
    error_type = "permission_error"
    default_code = "forbidden"


class RateLimited(VideoloomError):
    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, retry_after)


class NotFound(VideoloomError):
    status_code = 404
    error_type = "invalid_request_error"
    default_code = "not_found"


class Conflict(VideoloomError):
    status_code = 409
    error_type = "invalid_request_error"
    default_code = "conflict"


class Gone(VideoloomError):
    status_code = 410
    error_type = "invalid_request_error"
    default_code = "expired"


class PayloadTooLarge(VideoloomError):
    status_code = 413
    error_type = "invalid_request_error"
    default_code = "payload_too_large"


class MediaError(VideoloomError):
    status_code = 422
    error_type = "invalid_request_error"
    default_code = "invalid_media"


class FetchError(VideoloomError):
    status_code = 422
    error_type = "invalid_request_error"
    default_code = "fetch_failed"


class AddressNotAllowed(FetchError):
    default_code = "address_not_allowed"


class JobCancelled(VideoloomError):
    """A render stopped because its task was cancelled or its lease was lost.

    Raised from the progress callback an engine calls, so long-running engines
    (diffusion steps, upstream polls) stop between steps without polling a flag.
    """

    default_code = "cancelled"


class EngineError(VideoloomError):
    status_code = 500
    error_type = "server_error"
    default_code = "engine_error"
