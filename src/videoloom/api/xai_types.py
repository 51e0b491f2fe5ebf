"""The xAI gRPC dialect's wire: the ``xai-sdk``'s generated protos, enum tables, errors → status.

The protos are imported from the installed ``xai-sdk`` (``xai_sdk.proto`` picks the
generated code that matches the installed protobuf runtime); nothing is copied here.
Core errors become gRPC status codes with a ``google.rpc.Status`` in the
``grpc-status-details-bin`` trailer (``BadRequest`` naming the field, ``ErrorInfo``
with the stable code, ``RetryInfo`` for limits), so clients can read them either way.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from videoloom.core.errors import (
    AuthenticationFailed,
    Conflict,
    FetchError,
    Gone,
    InvalidRequest,
    MediaError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    VideoloomError,
)

try:
    from xai_sdk.proto import deferred_pb2, image_pb2, video_pb2, video_pb2_grpc
except ImportError as exc:  # pragma: no cover - exercised only without the package
    raise RuntimeError(
        "the gRPC (xAI) dialect needs the protos shipped by the xai-sdk package: "
        "pip install 'xai-sdk==1.21.*'"
    ) from exc

__all__ = [
    "ASPECT_RATIOS",
    "RESOLUTIONS",
    "GrpcError",
    "deferred_pb2",
    "image_pb2",
    "to_grpc_error",
    "video_pb2",
    "video_pb2_grpc",
]

ASPECT_RATIOS: dict[int, str] = {
    video_pb2.VIDEO_ASPECT_RATIO_1_1: "1:1",
    video_pb2.VIDEO_ASPECT_RATIO_16_9: "16:9",
    video_pb2.VIDEO_ASPECT_RATIO_9_16: "9:16",
    video_pb2.VIDEO_ASPECT_RATIO_4_3: "4:3",
    video_pb2.VIDEO_ASPECT_RATIO_3_4: "3:4",
    video_pb2.VIDEO_ASPECT_RATIO_3_2: "3:2",
    video_pb2.VIDEO_ASPECT_RATIO_2_3: "2:3",
}
"""``VideoAspectRatio`` enum value → our aspect ratio; 0 (unspecified) is absent."""

RESOLUTIONS: dict[int, int] = {
    video_pb2.VIDEO_RESOLUTION_480P: 480,
    video_pb2.VIDEO_RESOLUTION_720P: 720,
    video_pb2.VIDEO_RESOLUTION_1080P: 1080,
}
"""``VideoResolution`` enum value → the short side in pixels; 0 (unspecified) is absent."""

_CODES: list[tuple[type[VideoloomError], grpc.StatusCode]] = [
    (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (AuthenticationFailed, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (Conflict, grpc.StatusCode.FAILED_PRECONDITION),
    (Gone, grpc.StatusCode.FAILED_PRECONDITION),
    (RateLimited, grpc.StatusCode.RESOURCE_EXHAUSTED),
    # Sizes and unusable media or URLs are the caller's to fix, never retried: not UNAVAILABLE
    # (the SDK retries that one) and not RESOURCE_EXHAUSTED (that means "slow down").
    (PayloadTooLarge, grpc.StatusCode.INVALID_ARGUMENT),
    (MediaError, grpc.StatusCode.INVALID_ARGUMENT),
    (FetchError, grpc.StatusCode.INVALID_ARGUMENT),
]


class GrpcError(Exception):
    """A status to end the call with: code, details text, and trailing metadata."""

    def __init__(
        self, code: grpc.StatusCode, details: str, trailing_metadata: tuple[tuple[str, Any], ...] = ()
    ) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata


def _status_code(exc: VideoloomError) -> grpc.StatusCode:
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.INTERNAL


def to_grpc_error(exc: VideoloomError, *, field: str | None = None) -> GrpcError:
    """A core error as a gRPC status; ``field`` (the wire's name for ``exc.param``) is named."""
    code = _status_code(exc)
    field = field or exc.param
    details = exc.message
    if field and field not in details:
        details = f"{field}: {details}"
    status = status_pb2.Status(code=code_pb2.Code.Value(code.name), message=details)
    info = error_details_pb2.ErrorInfo(reason=exc.code, domain="videoloom")
    if field:
        info.metadata["field"] = field
    status.details.add().Pack(info)
    metadata: list[tuple[str, Any]] = [("videoloom-error-code", exc.code)]
    if field:
        violation = error_details_pb2.BadRequest.FieldViolation(field=field, description=exc.message)
        status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
        metadata.append(("videoloom-error-field", field))
    if isinstance(exc, RateLimited):
        status.details.add().Pack(
            error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=exc.retry_after))
        )
        metadata.append(("retry-after", str(exc.retry_after)))
    metadata.append(("grpc-status-details-bin", status.SerializeToString()))
    return GrpcError(code, details, tuple(metadata))
