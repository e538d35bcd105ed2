"""OpenAI's Videos API at /v1: the same paths, fields, object shapes, statuses and errors, so
clients written for it (the official `openai` package included) work unchanged against ungated.

Besides creating, remixing and reading videos: extensions (a finished clip followed by `seconds`
more; the answer's `seconds` is the stitched total, as OpenAI defines it) and edits (a new version
of a clip by prompt), of a clip sent as an upload or named as {"id": ...}; an uploaded clip this
server made is known by its manifest or watermark and continued from what the server knows of it
(its model, size, frame rate, settings). Characters (api/characters.py) and `input_reference` as an
object (references.py).

`model` takes ungated model ids, and `sora-2` / `sora-2-pro` mean the server's configured
defaults. `seconds` and `size` take OpenAI's values ("4", "8", "12"; "1280x720", ...) and any
others ungated allows; the video object reports what is actually made: exactly what was asked on a
model that draws any size and length (Capabilities.any_aspect, seconds_range), the nearest it makes
on others. Fields beyond OpenAI's
(seed, negative_prompt, steps, guidance, fps, variants, ...) may be sent too (`extra_body`).
"""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InvalidRequest
from ..jobs import queue
from ..jobs.schema import Video
from ..media.pipeline import companion_paths
from . import references
from .access import Caller, asker, audit_if_not_own, may_change, signed_in, studio
from .bodies import read_body, renamed_fields
from .errors import not_found
from .moderation import check_shown, moderation_of
from .service import NewInput, Studio

router = APIRouter(prefix="/v1")
POLL_AFTER_MS = "500"  # the openai client's poll helper waits this long between polls

CONTENT_TYPES = {"video": "video/mp4", "thumbnail": "image/jpeg", "spritesheet": "image/jpeg"}


class VideoFields(BaseModel):
    """What every request that makes a video takes: OpenAI's fields, then ungated's."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    model: str | None = None
    seconds: str | float | None = None
    size: str | None = None
    characters: list[str] | None = None  # the caller's characters, by id or name (and "@name" in the prompt)
    negative_prompt: str | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    fps: int | None = None
    variants: int | None = None
    aspect: str | None = None
    resolution: str | None = None
    artist: str | None = Field(default=None, max_length=100)


class CreateVideo(VideoFields):
    """POST /v1/videos."""

    input_reference: dict | None = None  # {"image_url": ...} or {"file_id": ...} (references.py)


class DerivedVideo(VideoFields):
    """POST /v1/videos/extensions and /v1/videos/edits: `video` as {"id": ...} (else an upload)."""

    video: dict | None = None


def parsed(kind: type[BaseModel], fields: dict) -> BaseModel:
    try:
        return kind(**fields)
    except ValidationError as err:
        raise InvalidRequest.from_problem(err.errors()[0]) from None


# POST /v1/videos reads its body itself (JSON or multipart); this documents both for the schema.
CREATE_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": CreateVideo.model_json_schema()},
    "multipart/form-data": {"schema": {**CreateVideo.model_json_schema(), "properties": {
        **CreateVideo.model_json_schema()["properties"],
        "input_reference": {"type": "string", "format": "binary"}}}},
}}}
DERIVED_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": DerivedVideo.model_json_schema()},
    "multipart/form-data": {"schema": {**DerivedVideo.model_json_schema(), "properties": {
        **DerivedVideo.model_json_schema()["properties"], "video": {"type": "string", "format": "binary"}}}},
}}}


def video_object(video: Video, who: Caller) -> dict:
    """A row in OpenAI's video shape. A cancelled video is "failed" with the code "cancelled". A
    prompt the artist keeps private is shown only to them (and admins); a moderator's hiding or
    removing (`moderation`: state and reason) only to them and moderators."""
    status = "failed" if video.status == queue.CANCELLED else video.status
    error = None
    if status == "failed":
        error = {"code": video.error_code or "failed", "message": video.error_message or "generation failed"}
    shown = {
        "id": video.id, "object": "video", "model": video.requested_model, "status": status,
        "progress": video.progress, "created_at": int(video.created_at),
        "completed_at": int(video.completed_at) if video.completed_at else None, "expires_at": None,
        "prompt": video.prompt if who.sees_prompt_of(video) or not video.prompt_private else None,
        "remixed_from_video_id": video.remixed_from,
        "seconds": f"{video.seconds:g}", "size": video.size, "error": error,
    }
    if (moderated := moderation_of(video, who)) is not None:
        shown["moderation"] = moderated
    return shown


def _seconds(value: str | float | None) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidRequest("seconds", f"must be a number of seconds, e.g. \"4\" (got {value!r})") from None


@router.post("/videos", openapi_extra=CREATE_BODY)
async def create_video(request: Request, studio: Studio = Depends(studio),
                       who: Caller = Depends(signed_in)) -> JSONResponse:
    fields, files = await read_body(request, ("input_reference",))
    body = parsed(CreateVideo, fields)
    wanted = body.model_dump(exclude={"model", "input_reference", "artist"}, exclude_none=True)
    wanted["seconds"] = _seconds(body.seconds)

    def create() -> list[Video]:
        inputs = {}  # checked in memory; written only once the whole request is accepted
        if "input_reference" in files:
            inputs["image"] = studio.check_image(files["input_reference"], "input_reference")
        elif body.input_reference is not None:
            inputs["image"] = references.image_of(body.input_reference, studio, who.client, request.url.netloc)
        return studio.create(wanted, who.client, body.model, inputs, artist=body.artist, limits=who.limits)

    videos = await asyncio.to_thread(create)  # an image_url may be fetched; nothing waits on it here
    return JSONResponse(video_object(videos[0], who))


@router.get("/videos")
def list_videos(after: str | None = None, limit: int = Query(20, ge=1, le=100),
                order: Literal["asc", "desc"] = "desc", studio: Studio = Depends(studio),
                who: Caller = Depends(signed_in)) -> dict:
    videos, more = studio.page(after, limit, order, *studio.owned_by(who.client))
    return {"object": "list", "data": [video_object(video, who) for video in videos],
            "first_id": videos[0].id if videos else None, "last_id": videos[-1].id if videos else None,
            "has_more": more}


@router.get("/videos/{video_id}", response_model=None)
async def retrieve_video(video_id: str, request: Request) -> JSONResponse:
    """Polled by clients every POLL_AFTER_MS: answered from the shared progress read (events.VideoView)."""
    studio, who = await asker(request)
    seen = await request.app.state.progress_hub.status(video_id, who.client)
    video = seen.video if seen is not None and seen.video is not None else await asyncio.to_thread(studio.get, video_id)
    check_shown(video, request, who, content=False)
    return JSONResponse(video_object(video, who), headers={"openai-poll-after-ms": POLL_AFTER_MS})


@router.delete("/videos/{video_id}")
def delete_video(video_id: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    video = studio.get(video_id)
    may_change(who, video)
    studio.delete(video_id)
    audit_if_not_own(studio, who, video, "video.delete")
    return {"id": video_id, "object": "video.deleted", "deleted": True}


@router.get("/videos/{video_id}/content")
def video_content(video_id: str, request: Request, variant: Literal["video", "thumbnail", "spritesheet"] = "video",
                  studio: Studio = Depends(studio)) -> FileResponse:
    video, mp4 = studio.clip(video_id)
    check_shown(video, request)
    path = getattr(companion_paths(mp4), variant)
    if not path.is_file():
        raise not_found("content", video_id)
    filename = f"{video_id}.mp4" if variant == "video" else f"{video_id}.{variant}.jpg"
    return FileResponse(path, media_type=CONTENT_TYPES[variant], filename=filename)


@router.post("/videos/extensions", openapi_extra=DERIVED_BODY)
async def extend_video(request: Request, studio: Studio = Depends(studio),
                       who: Caller = Depends(signed_in)) -> JSONResponse:
    """A finished clip followed by `seconds` more (by default the model's length); the video's
    `seconds` is the whole: the clip and what follows it."""
    return await derived_video("extend", request, studio, who)


@router.post("/videos/edits", openapi_extra=DERIVED_BODY)
async def edit_video(request: Request, studio: Studio = Depends(studio),
                     who: Caller = Depends(signed_in)) -> JSONResponse:
    """A new version of a clip by prompt, as long as the clip unless `seconds` says otherwise."""
    return await derived_video("video", request, studio, who)


async def derived_video(field: str, request: Request, studio: Studio, who: Caller) -> JSONResponse:
    """A new video made from a clip given as `video`, which becomes the request's `field`."""
    fields, files = await read_body(request, ("video",))
    body = parsed(DerivedVideo, fields)
    changes = body.model_dump(exclude={"model", "video", "artist"}, exclude_none=True)
    changes["seconds"] = _seconds(body.seconds)

    def derive() -> list[Video]:
        source, clip = source_clip(studio, body.video, files.get("video"))
        with renamed_fields({field: "video"}):
            return studio.derive(source, {field: clip}, changes, who.client, body.model, who.limits,
                                 sees_prompt=source is None or who.sees_prompt_of(source), artist=body.artist)

    videos = await asyncio.to_thread(derive)  # an upload is read for its manifest and watermark
    return JSONResponse(video_object(videos[0], who))


def source_clip(studio: Studio, reference: dict | None, upload: bytes | None) -> tuple[Video | None, NewInput]:
    """The video a clip is (None for one made elsewhere) and the clip the new video gets its copy
    of: the server's own stored clip for one it made, else the upload itself. Anyone who can open
    a video (its id is its share link) may make new ones from it, as from a remix."""
    if upload is not None:
        checked = studio.check_video(upload, "video")
        made = studio.made_here(upload)
        return (made, NewInput.copy_of(studio.storage.resolve(made.result))) if made else (None, checked)
    if reference is None or set(reference) != {"id"} or not isinstance(reference["id"], str):
        raise InvalidRequest("video", 'upload the clip (a multipart part named video) or give {"id": "video_..."}')
    source, clip = studio.finished(reference["id"], "video")
    return source, NewInput.copy_of(clip)


class Remix(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str


@router.post("/videos/{video_id}/remix")
def remix_video(video_id: str, body: Remix, studio: Studio = Depends(studio),
                who: Caller = Depends(signed_in)) -> JSONResponse:
    """A new video with the source's model, settings and seed, and a new prompt."""
    source = studio.get(video_id)
    videos = studio.remix(source, {"prompt": body.prompt}, who.client, who.limits,
                          sees_prompt=who.sees_prompt_of(source))
    return JSONResponse(video_object(videos[0], who))
