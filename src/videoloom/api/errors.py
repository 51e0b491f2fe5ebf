"""Core errors → the OpenAI error envelope ``{"error": {"message", "type", "param", "code"}}``.

Every dialect on HTTP shares this translation; no ``HTTPException`` is raised
below ``api/``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from videoloom.core.errors import AuthenticationFailed, RateLimited, VideoloomError

__all__ = ["error_response", "install_error_handlers"]

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


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    type_, code = _HTTP_TYPES.get(exc.status_code, ("invalid_request_error", "http_error"))
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = "no such route"
    return error_response(
        exc.status_code,
        message,
        type_=type_,
        param=None,
        code=code,
        headers=getattr(exc, "headers", None),
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
