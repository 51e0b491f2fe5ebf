"""Request bodies that arrive as JSON or as multipart/form-data, read into one nested dict.

The OpenAI SDK always sends multipart for create/extend/edit, flattening nested
objects into bracketed keys (``video[id]=…``, ``input_reference[image_url]=…``);
gateways send JSON. Both become the same dict here so one validation serves both.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from videoloom.core.errors import InvalidRequest, PayloadTooLarge

__all__ = ["is_file", "read_body"]

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def _insert(target: dict[str, Any], key: str, value: Any) -> None:
    match = _KEY.match(key)
    if not match:
        raise InvalidRequest(f"malformed form field name {key!r}", param=key)
    *path, last = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
    if "" in path or last == "":
        raise InvalidRequest(f"unsupported form field name {key!r}; repeat the field instead", param=key)
    node = target
    for part in path:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise InvalidRequest(f"form field {key!r} conflicts with another field", param=key)
        node = child
    if last in node:  # a repeated field becomes a list, in order
        existing = node[last]
        node[last] = [*existing, value] if isinstance(existing, list) else [existing, value]
    else:
        node[last] = value


async def read_body(request: Request, *, max_files: int = 8) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "application/json":
        raw = await request.body()
        if not raw:
            raise InvalidRequest("the request body is required", code="missing_body")
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise InvalidRequest("the request body is not valid JSON", code="invalid_json") from exc
        if not isinstance(body, dict):
            raise InvalidRequest("the request body must be a JSON object", code="invalid_json")
        return body
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        try:
            form = await request.form(max_files=max_files, max_fields=100)
        except Exception as exc:  # Starlette raises its own parse errors for bad multipart
            if "exceeded" in str(exc).lower():
                raise PayloadTooLarge(f"the form is too large: {exc}") from exc
            raise InvalidRequest(f"the form body cannot be parsed: {exc}", code="invalid_form") from exc
        out: dict[str, Any] = {}
        for key, value in form.multi_items():
            _insert(out, key, value)
        return out
    raise InvalidRequest(
        "send the body as application/json or multipart/form-data", code="unsupported_media_type"
    )


def is_file(value: Any) -> bool:
    return isinstance(value, UploadFile)
