"""OpenAI's Videos API at /v1: the same paths, fields, object shapes, statuses and errors, so
clients written for it (the official `openai` package included) work unchanged against ungated.

`model` takes ungated model ids, and `sora-2` / `sora-2-pro` mean the server's configured
defaults. `seconds` and `size` take OpenAI's values ("4", "8", "12"; "1280x720", ...) and any
others ungated allows; the video object reports what is actually made. Fields beyond OpenAI's
(seed, negative_prompt, steps, guidance, fps, variants, ...) may be sent too (`extra_body`).
"""

from __future__ import annotations

import base64
import binascii
import json
import shutil
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from ..errors import InvalidRequest
from ..jobs import queue
from ..jobs.schema import Video
from ..media.pipeline import companion_paths
from ..request import INPUT_FIELDS
from .errors import ApiError, not_found
from .service import MAX_IMAGE_BYTES, Studio

router = APIRouter(prefix="/v1")
POLL_AFTER_MS = "500"  # the openai client's poll helper waits this long between polls

CONTENT_TYPES = {"video": "video/mp4", "thumbnail": "image/jpeg", "spritesheet": "image/jpeg"}


class CreateVideo(BaseModel):
    """POST /v1/videos: OpenAI's fields, then ungated's."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    model: str | None = None
    seconds: str | float | None = None
    size: str | None = None
    input_reference: dict | None = None  # JSON form: {"image_url": "data:image/png;base64,..."}
    negative_prompt: str | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    fps: int | None = None
    variants: int | None = None
    aspect: str | None = None
    resolution: str | None = None
    artist: str | None = Field(default=None, max_length=100)


def studio(request: Request) -> Studio:
    return request.app.state.studio


def client_of(request: Request) -> str:
    return getattr(request.state, "client", "local")


def video_object(video: Video) -> dict:
    """A row in OpenAI's video shape. A cancelled video is "failed" with the code "cancelled"."""
    status = "failed" if video.status == queue.CANCELLED else video.status
    error = None
    if status == "failed":
        error = {"code": video.error_code or "failed", "message": video.error_message or "generation failed"}
    return {
        "id": video.id, "object": "video", "model": video.requested_model, "status": status,
        "progress": video.progress, "created_at": int(video.created_at),
        "completed_at": int(video.completed_at) if video.completed_at else None, "expires_at": None,
        "prompt": video.prompt, "remixed_from_video_id": video.remixed_from,
        "seconds": f"{video.seconds:g}", "size": video.size, "error": error,
    }


def _seconds(value: str | float | None) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidRequest("seconds", f"must be a number of seconds, e.g. \"4\" (got {value!r})") from None


def _data_url_image(studio: Studio, reference: dict) -> str:
    url = reference.get("image_url")
    if not isinstance(url, str) or not url.startswith("data:"):
        raise InvalidRequest("input_reference", "give an image upload or {\"image_url\": \"data:image/...;base64,...\"}"
                                                " (ungated fetches nothing from the internet)")
    try:
        data = base64.b64decode(url.partition(",")[2], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("input_reference", "the data URL is not valid base64") from None
    return studio.save_image(data, "input_reference")


async def _create_body(request: Request) -> tuple[dict, UploadFile | None]:
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data") or kind.startswith("application/x-www-form-urlencoded"):
        form = await request.form(max_part_size=MAX_IMAGE_BYTES + 1)
        upload = form.get("input_reference")
        fields = {key: value for key, value in form.items() if key != "input_reference"}
        return fields, upload if isinstance(upload, UploadFile) else None
    try:
        body = json.loads(await request.body() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "the body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", code="invalid_json")
    return body, None


@router.post("/videos")
async def create_video(request: Request, studio: Studio = Depends(studio)) -> JSONResponse:
    fields, upload = await _create_body(request)
    try:
        body = CreateVideo(**fields)
    except ValidationError as err:
        raise InvalidRequest.from_problem(err.errors()[0]) from None
    image = None
    if upload is not None:
        image = studio.save_image(await upload.read(), "input_reference")
    elif body.input_reference:
        image = _data_url_image(studio, body.input_reference)
    wanted = body.model_dump(exclude={"model", "input_reference", "artist"}, exclude_none=True)
    wanted["seconds"] = _seconds(body.seconds)
    if image:
        wanted["image"] = image
    videos = studio.create(wanted, client_of(request), body.model, artist=body.artist or "")
    return JSONResponse(video_object(videos[0]))


@router.get("/videos")
def list_videos(request: Request, after: str | None = None, limit: int = Query(20, ge=1, le=100),
                order: Literal["asc", "desc"] = "desc", studio: Studio = Depends(studio)) -> dict:
    videos, more = studio.page(client_of(request), after, limit, order)
    return {"object": "list", "data": [video_object(video) for video in videos],
            "first_id": videos[0].id if videos else None, "last_id": videos[-1].id if videos else None,
            "has_more": more}


@router.get("/videos/{video_id}")
def retrieve_video(video_id: str, studio: Studio = Depends(studio)) -> JSONResponse:
    return JSONResponse(video_object(studio.get(video_id)), headers={"openai-poll-after-ms": POLL_AFTER_MS})


@router.delete("/videos/{video_id}")
def delete_video(video_id: str, studio: Studio = Depends(studio)) -> dict:
    studio.delete(video_id)
    return {"id": video_id, "object": "video.deleted", "deleted": True}


@router.get("/videos/{video_id}/content")
def video_content(video_id: str, variant: Literal["video", "thumbnail", "spritesheet"] = "video",
                  studio: Studio = Depends(studio)) -> FileResponse:
    video = studio.get(video_id)
    if video.status != queue.COMPLETED or not video.result:
        raise ApiError(404, f"video {video_id!r} has no content: it is {video.status}", "video_id", "not_ready")
    path = getattr(companion_paths(studio.storage.resolve(video.result)), variant)
    if not path.is_file():
        raise not_found("content", video_id)
    filename = f"{video_id}.mp4" if variant == "video" else f"{video_id}.{variant}.jpg"
    return FileResponse(path, media_type=CONTENT_TYPES[variant], filename=filename)


class Remix(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str


@router.post("/videos/{video_id}/remix")
def remix_video(video_id: str, body: Remix, request: Request, studio: Studio = Depends(studio)) -> JSONResponse:
    """A new video with the source's model, settings and seed, and a new prompt."""
    source = studio.get(video_id)
    fields = {**source.request, "prompt": body.prompt, "seed": source.seed}
    for name in INPUT_FIELDS:  # the remix keeps its own copy: deleting the source must not break it
        if fields.get(name):
            original = studio.storage.resolve(fields[name])
            copy = studio.storage.input_path(f"{queue.new_id('input_')}{original.suffix}")
            shutil.copyfile(original, copy)
            fields[name] = studio.storage.relative(copy)
    videos = studio.create(fields, client_of(request), source.requested_model, remixed_from=source.id,
                           artist=source.artist)
    return JSONResponse(video_object(videos[0]))
