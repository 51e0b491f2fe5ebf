"""Core errors → the OpenAI error envelope ``{"error": {"message", "type", "param", "code"}}``.

Every dialect on HTTP shares this translation; no ``HTTPException`` is raised
below ``api/``.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from videoloom.core.errors import AuthenticationFailed, RateLimited, VideoloomError

__all__ = ["ERROR_RESPONSES", "ErrorResponse", "error_response", "install_error_handlers"]

log = logging.getLogger("videoloom.api")

_HTTP_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "payload_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
    429: ("rate_limit_error", "rate_limited"),
}


class ErrorObject(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """Every error answer: the OpenAI envelope."""

    error: ErrorObject


_ERROR_STATUSES = {
    400: "Invalid request: a bad or missing field (``param`` names it)",
    401: "Missing, invalid or revoked API key, or a bad content signature",
    403: "The key may not do this (admin routes)",
    404: "No such video, webhook endpoint or route for this key's tenant",
    409: "Conflict: an Idempotency-Key reused with another body, or a state that forbids it",
    410: "The video's files were removed after its retention period",
    413: "The request body is larger than the limit",
    415: "Unsupported content type",
    429: "Rate limit or quota reached (see Retry-After)",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text} for status, text in _ERROR_STATUSES.items()
}
"""The ``responses=`` every router is included with, so the OpenAPI spec documents the errors."""


def drop_validation_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents a 422 on every operation with parameters; this server answers
    validation errors with 400 in the OpenAI envelope and never 422."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict):
                operation.get("responses", {}).pop("422", None)
    schemas = schema.get("components", {}).get("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    return schema


def error_response(
    status: int,
    message: str,
    *,
    type_: str,
    param: str | None,
    code: str | None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _param_from_loc(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    if not parts:
        return None
    out = parts[0]
    for part in parts[1:]:
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def _validation_message(error: dict[str, Any], param: str | None) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return f"{param} is required" if param else "a required field is missing"
    if kind == "extra_forbidden":
        return f"unknown field {param!r}"
    if kind == "json_invalid":
        return "the request body is not valid JSON"
    text = str(error.get("msg", "invalid value"))
    return f"{param}: {text}" if param else text


async def _videoloom_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VideoloomError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationFailed) else None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(
        exc.status_code,
        exc.message,
        type_=exc.error_type,
        param=exc.param,
        code=exc.code,
        headers=headers,
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "missing" and tuple(first.get("loc", ())) == ("body",):
        return error_response(
            400,
            "the request body is required",
            type_="invalid_request_error",
            param=None,
            code="missing_body",
        )
    param = _param_from_loc(tuple(first.get("loc", ())))
    code = "missing_required_parameter" if first.get("type") == "missing" else "invalid_value"
    if first.get("type") == "extra_forbidden":
        code = "unknown_parameter"
    if first.get("type") == "json_invalid":
        code, param = "invalid_json", None
    return error_response(
        400,
        _validation_message(first, param),
        type_="invalid_request_error",
        param=param,
        code=code,
    )


@lru_cache(maxsize=4)
def _methods_by_path(app: FastAPI) -> tuple[tuple[re.Pattern[str], frozenset[str]], ...]:
    """Each documented path template (as a regex) with every method any route gives it."""
    table: dict[str, set[str]] = {}
    for path, operations in app.openapi().get("paths", {}).items():
        table.setdefault(path, set()).update(m.upper() for m in operations if m != "parameters")
    return tuple(
        (re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"), frozenset(methods))
        for path, methods in table.items()
    )


def _allowed_methods(request: Request) -> str | None:
    """Starlette's 405 lists the methods of the first route matching the path only; RFC 9110
    wants every method the path supports (GET and POST on /v1/videos, say)."""
    app = request.app
    if not isinstance(app, FastAPI):
        return None
    path = request.url.path
    matching = [(pattern, allowed) for pattern, allowed in _methods_by_path(app) if pattern.match(path)]
    # A fixed path (/v1/videos/uploads) is its own resource, not an id of /v1/videos/{video_id}.
    fixed = [allowed for pattern, allowed in matching if "[^/]+" not in pattern.pattern]
    methods = set().union(*(fixed or [allowed for _, allowed in matching]))
    return ", ".join(sorted(methods)) if methods else None


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    type_, code = _HTTP_TYPES.get(exc.status_code, ("invalid_request_error", "http_error"))
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = "no such route"
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405 and (allowed := _allowed_methods(request)) is not None:
        headers["Allow"] = allowed
    return error_response(
        exc.status_code,
        message,
        type_=type_,
        param=None,
        code=code,
        headers=headers or None,
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        500, "internal server error", type_="server_error", param=None, code="internal_error"
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(VideoloomError, _videoloom_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
