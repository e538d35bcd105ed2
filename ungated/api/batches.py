"""Many videos at once: a batch is one request per row, queued as one group (one batch id, in row
order) that the studio shows together, follows and cancels as one.

Rows come as JSON (`rows`, or `prompts`: one per line), or as an uploaded CSV (a header row of
field names; `provenance.publish_prompt` for a nested one) or JSONL file (one object a line).
`defaults` holds the fields every row shares; a row's own fields win. Every row is checked before
anything is queued, and a refusal names the row and the field: param `rows.3.seconds`, message
"row 4: seconds: ...". The client's limits and quota apply to the whole batch.
"""

from __future__ import annotations

import asyncio
import csv
import io

from fastapi import APIRouter, Depends, Request

from ..errors import InvalidRequest
from ..jobs import audit, own_queue, queue
from ..jobs.schema import Video
from ..request import INPUT_FIELDS
from .access import LOCAL, Caller, signed_in, studio
from .bodies import parse_json, read_body
from .errors import ApiError, not_found
from .service import Checked, Studio
from .studio import pop_extras, studio_object

router = APIRouter(prefix="/api")
MAX_ROWS = 100  # rows of one batch, and videos (a row with variants makes several)
BATCH_FIELDS = ("rows", "prompts", "defaults", "public", "artist", "file")
ROW_EXTRAS = ("model", "public")  # what a row holds besides request fields


def rows_of(fields: dict, files: dict[str, bytes]) -> list[dict]:
    """The rows a batch request brings, each a dict of fields (not yet merged with defaults)."""
    given = [name for name in ("rows", "prompts", "file") if name in fields or name in files]
    if len(given) != 1:
        raise InvalidRequest("rows", "give the rows one way: `rows` (a list of objects), `prompts` (one per line) "
                                     "or an uploaded CSV or JSONL `file`")
    if "file" in files:
        rows = _file_rows(files["file"])
    elif "file" in fields:
        raise InvalidRequest("file", "upload the CSV or JSONL file as a multipart file part named file")
    elif "prompts" in fields:
        if not isinstance(fields["prompts"], str):
            raise InvalidRequest("prompts", "must be text, one prompt per line")
        rows = [{"prompt": line.strip()} for line in fields["prompts"].splitlines() if line.strip()]
    else:
        rows = fields["rows"]
        if not isinstance(rows, list):
            raise InvalidRequest("rows", "must be a list of objects, one per video")
    if not rows:
        raise InvalidRequest("rows", "the batch has no rows")
    if len(rows) > MAX_ROWS:
        raise InvalidRequest("rows", f"a batch has at most {MAX_ROWS} rows; this one has {len(rows)}")
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise _at_row(index, "", "must be an object of request fields")
    return rows


def _file_rows(data: bytes) -> list[dict]:
    """The rows of a JSONL file (its first character is `{`) or a CSV file with a header row."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidRequest("file", "the file is not UTF-8 text (save the CSV or JSONL as UTF-8)") from None
    if text.lstrip().startswith("{"):
        rows = []
        for line in (line for line in text.splitlines() if line.strip()):
            if len(rows) == MAX_ROWS:
                raise InvalidRequest("rows", f"a batch has at most {MAX_ROWS} rows; this file has more")
            try:
                rows.append(parse_json(line.encode()))
            except ApiError:
                raise _at_row(len(rows), "", "is not a JSON object") from None
        return rows
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if not header or any(not name.strip() for name in header):
        raise InvalidRequest("file", "the CSV needs a header row naming a field in every column "
                                     "(prompt, seconds, size, seed, model, negative_prompt, ...)")
    rows = []
    for index, record in enumerate(reader):
        if index == MAX_ROWS:
            raise InvalidRequest("rows", f"a batch has at most {MAX_ROWS} rows; this file has more")
        if None in record:
            raise _at_row(index, "", f"has more cells than the header has columns ({len(header)})")
        row: dict = {}
        for name, value in record.items():
            if value is not None and value.strip():
                _put(row, name.strip(), value.strip())
        rows.append(row)
    return rows


def _put(row: dict, name: str, value: str) -> None:
    """A CSV column: `provenance.publish_prompt` goes to row["provenance"]["publish_prompt"]."""
    *parents, last = name.split(".")
    for parent in parents:
        row = row.setdefault(parent, {})
        if not isinstance(row, dict):
            raise InvalidRequest("file", f"column {name!r}: {parent} is also a column of its own")
    row[last] = value


def _at_row(index: int, field: str, message: str) -> InvalidRequest:
    """A refusal naming the row (0-based in the param, counted from 1 in the message) and the field."""
    param = f"rows.{index}.{field}" if field else f"rows.{index}"
    return _Named(param, f"row {index + 1}: {field + ': ' if field else ''}{message}")


class _Named(InvalidRequest):
    """An InvalidRequest whose message already names its row and field."""

    def __str__(self) -> str:
        return self.message


def check_rows(studio: Studio, client: str, rows: list[dict], defaults: dict) -> list[Checked]:
    """Every row checked as a request of its own (its fields over the defaults), before any is queued."""
    checked = []
    for index, row in enumerate(rows):
        fields = {**defaults, **row}
        try:
            for name in INPUT_FIELDS:
                if name in fields:
                    raise InvalidRequest(name, "a batch takes no files; make a video with a file on its own")
            model = fields.pop("model", None)
            if model is not None and not isinstance(model, str):
                raise InvalidRequest("model", f"must be a model id (got {model!r})")
            public = fields.pop("public", None)
            if public is not None and not isinstance(public, bool):
                public = {"true": True, "false": False}.get(str(public).strip().lower(), public)
                if not isinstance(public, bool):
                    raise InvalidRequest("public", "must be true or false")
            checked.append(studio.check(fields, client, model, public=public))
        except InvalidRequest as err:
            raise _renamed(index, err.field, err.message, row, defaults) from None
        except ApiError as err:
            if err.status >= 500 or err.status in (401, 403, 429) or err.param is None:
                raise
            raise _renamed(index, err.param, err.message, row, defaults) from None
    return checked


def _renamed(index: int, field: str, message: str, row: dict, defaults: dict) -> InvalidRequest:
    """A row's refusal, naming the row's field, or the default's when the row took the value from there."""
    root = field.split(".")[0]
    if root not in row and root in defaults:
        return _Named(f"defaults.{field}", f"row {index + 1}: defaults.{field}: {message}")
    return _at_row(index, field, message.removeprefix(f"{field}: "))


@router.post("/batches", openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "properties": {
        "rows": {"type": "array", "items": {"type": "object"}}, "prompts": {"type": "string"},
        "defaults": {"type": "object"}, "public": {"type": "boolean"}, "artist": {"type": "string"}}}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}}, "additionalProperties": True}}}}})
async def create_batch(request: Request, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """Queue one video per row as one group; nothing is queued unless every row is good."""
    fields, files = await read_body(request, ("file",))
    unknown = sorted(name for name in fields if name not in BATCH_FIELDS)
    if unknown:
        raise InvalidRequest(unknown[0], f"not a batch field; give {', '.join(BATCH_FIELDS[:-1])} (or a file)")
    options = pop_extras(fields)
    defaults = fields.pop("defaults", None) or {}
    if isinstance(defaults, str):  # a form may send them as one JSON part
        try:
            defaults = parse_json(defaults.encode())
        except ApiError:
            raise InvalidRequest("defaults", "must be a JSON object of request fields") from None
    if not isinstance(defaults, dict):
        raise InvalidRequest("defaults", "must be an object of request fields every row shares")
    rows = rows_of(fields, files)
    videos = await asyncio.to_thread(_queue_rows, studio, who, rows, defaults, options.artist, options.public)
    return batch_view(studio, videos, who)


def _queue_rows(studio: Studio, who: Caller, rows: list[dict], defaults: dict, artist: str | None,
                public: bool | None) -> list[Video]:
    if public is not None:
        defaults = {"public": public, **defaults}
    checked = check_rows(studio, who.client, rows, defaults)
    if sum(request.videos for request in checked) > MAX_ROWS:
        raise InvalidRequest("rows", f"a batch makes at most {MAX_ROWS} videos (variants count); this one makes "
                                     f"{sum(request.videos for request in checked)}")
    return studio.queue_checked(checked, who.client, artist, who.limits)


def batch_view(studio: Studio, videos: list[Video], who: Caller) -> dict:
    """A group as the studio shows it: each video with its place and ETA, how many are in each
    state, and its overall progress (0-100: each video's, a finished one counting 100)."""
    with studio.store.read() as session:
        outlooks = studio.outlooks(session, videos)
    counts = dict.fromkeys((queue.QUEUED, queue.RUNNING, queue.COMPLETED, queue.FAILED, queue.CANCELLED), 0)
    for video in videos:
        counts[video.status] += 1
    progress = sum(100 if video.status in queue.FINISHED else video.progress for video in videos) / len(videos)
    return {"batch_id": videos[0].batch_id, "total": len(videos), "counts": counts, "progress": round(progress),
            "done": counts[queue.QUEUED] + counts[queue.RUNNING] == 0,
            "data": [studio_object(video, who, False, outlooks[video.id]) for video in videos]}


def owned_batch(studio: Studio, batch_id: str, who: Caller) -> list[Video]:
    """A group's videos, for its owner or an admin; 404 for anyone else (as for no such group)."""
    videos = own_queue.batch(studio.store, batch_id)
    if not videos or not (who.admin or all(who.owns(video) for video in videos)):
        raise not_found("batch", batch_id, "batch_id")
    return videos


@router.get("/batches/{batch_id}")
def get_batch(batch_id: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    return batch_view(studio, owned_batch(studio, batch_id, who), who)


@router.post("/batches/{batch_id}/cancel")
def cancel_batch(batch_id: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """Cancel every video of the group still waiting or running (a running one at its next step)."""
    videos = owned_batch(studio, batch_id, who)
    cancelled = queue.cancel_videos(studio.store, Video.batch_id == batch_id)
    if who.client not in (LOCAL, videos[0].client):
        audit.log(studio.store, who.client, "batch.cancel", batch_id, owner=videos[0].client)
    return {**batch_view(studio, own_queue.batch(studio.store, batch_id), who), "cancelled": cancelled}
