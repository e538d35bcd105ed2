"""Reading create-request bodies, which come as JSON (files as data URLs) or as multipart forms
(files as parts), the way OpenAI's clients and browsers send them: a form's `name[key]` and
`name[]` parts (as the openai package sends objects and lists) become the object and the list they
stand for. What no field may hold is refused here, naming the field: JSON nested deeper than any
request needs, numbers longer than any setting, and NUL characters (PostgreSQL cannot store them)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

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
        fields: dict = {}
        for name, value in form.multi_items():
            if name not in files:
                _put_form_field(fields, name, value)
        check_values(fields)
        return fields, files
    body = parse_json(await request.body() or b"null")
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", code="invalid_json")
    return body, {}


FORM_NAME = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")  # name, then any [key] or []


def _put_form_field(fields: dict, name: str, value: object) -> None:
    """Place one form part: `a` as fields["a"] (the last part of that name wins, as before),
    `a[b][c]` as fields["a"]["b"]["c"], and each `a[]` appended to the list fields["a"]."""
    match = FORM_NAME.fullmatch(name)
    keys = [match[1], *re.findall(r"\[([^\[\]]*)\]", match[2])] if match else [name]
    if len(keys) > MAX_DEPTH:
        raise InvalidRequest(name, f"nested too deeply (a request is at most {MAX_DEPTH} levels)")
    where = fields
    for depth, key in enumerate(keys[:-1]):
        following = keys[depth + 1]
        if key == "" or (following == "" and depth + 1 < len(keys) - 1):
            raise InvalidRequest(name, "only the last part of a form field's name may be [] (a list)")
        where = where.setdefault(key, [] if following == "" else {})
        if not isinstance(where, list if following == "" else dict):
            raise InvalidRequest(name, f"{'.'.join(keys[:depth + 1])} is given both as a value and as "
                                       "fields of an object")
    if keys[-1] == "" and isinstance(where, list):
        where.append(value)
    else:
        where[keys[-1]] = value


@contextmanager
def renamed_fields(names: dict[str, str]) -> Iterator[None]:
    """Refusals named after a route's own fields: a request field the route fills in (a clip it
    copies into `extend`, a time it passes as `extend_at`) is the field the client sent."""
    try:
        yield
    except InvalidRequest as err:
        if err.field not in names:
            raise
        raise InvalidRequest(names[err.field], err.message) from None


MAX_DEPTH = 8  # a request's deepest field is loras.N.weight or provenance.mark_text
MAX_DIGITS = 40  # far past any seed or count; Python refuses to even parse 4,300


class _LongNumber(str):
    """A number too long to be any setting, kept as its digits until the field is known."""


def parse_json(raw: bytes) -> object:
    """The JSON value of a body, checked as a whole: every refusal is a 400 naming the field."""
    try:
        value = json.loads(raw, parse_int=lambda digits: _LongNumber(digits) if len(digits) > MAX_DIGITS
                           else int(digits))
    except RecursionError:
        raise ApiError(400, f"the JSON is nested too deeply (at most {MAX_DEPTH} levels)", "body",
                       "invalid_json") from None
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        raise ApiError(400, "the body is not valid JSON", "body", "invalid_json") from None
    check_values(value)
    return value


def check_values(value: object, where: str = "", depth: int = 0) -> None:
    """Refuse what no field may hold, naming the field: deep nesting, overlong numbers, NUL."""
    field = where or "body"
    if depth > MAX_DEPTH:
        raise InvalidRequest(field, f"nested too deeply (a request is at most {MAX_DEPTH} levels)")
    if isinstance(value, _LongNumber):
        raise InvalidRequest(field, f"a number with {len(value.lstrip('-'))} digits; no setting takes more than "
                                    f"{MAX_DIGITS}")
    if isinstance(value, str) and "\x00" in value:
        raise InvalidRequest(field, "must not contain NUL characters (\\u0000)")
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if "\x00" in str(key):
            raise InvalidRequest(field, "a field name must not contain NUL characters (\\u0000)")
        check_values(item, f"{where}.{key}" if where else str(key), depth + 1)


def data_url_bytes(url: object, param: str) -> bytes:
    """The bytes of a base64 data URL (ungated fetches nothing from the internet)."""
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        raise InvalidRequest(param, "give a file upload or a data URL (data:...;base64,...); "
                                    "ungated fetches nothing from the internet")
    try:
        return base64.b64decode(url.partition(",")[2], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(param, "the data URL is not valid base64") from None
