"""Reading create-request bodies, which come as JSON (files as data URLs) or as multipart forms
(files as parts), the way OpenAI's clients and browsers send them."""

from __future__ import annotations

import base64
import binascii
import json

from fastapi import Request
from starlette.datastructures import UploadFile

from ..errors import InvalidRequest
from .errors import ApiError
from .service import MAX_VIDEO_BYTES


async def read_body(request: Request, file_fields: tuple[str, ...]) -> tuple[dict, dict[str, bytes]]:
    """(fields, {file field: bytes}) from a JSON object or a form."""
    kind = request.headers.get("content-type", "")
    if kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form(max_part_size=MAX_VIDEO_BYTES + 1)
        files = {name: await part.read() for name, part in form.items()
                 if name in file_fields and isinstance(part, UploadFile)}
        fields = {name: value for name, value in form.items() if name not in files}
        return fields, files
    try:
        body = json.loads(await request.body() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "the body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", code="invalid_json")
    return body, {}


def data_url_bytes(url: object, param: str) -> bytes:
    """The bytes of a base64 data URL (ungated fetches nothing from the internet)."""
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        raise InvalidRequest(param, "give a file upload or a data URL (data:...;base64,...); "
                                    "ungated fetches nothing from the internet")
    try:
        return base64.b64decode(url.partition(",")[2], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(param, "the data URL is not valid base64") from None
