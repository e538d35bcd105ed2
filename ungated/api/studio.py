"""The studio API at /api, for the web studio and scripts: every request field, variants, the
public feed, one's own videos, favourites, artist credit, and share links.

A video's id is 128 random bits, so its share link (/v/{id}) cannot be guessed; anyone holding it
can watch the video, and nobody's approval is needed to share it. `public` only decides whether
it is also listed in the feed.
"""

from __future__ import annotations

import asyncio
import tempfile
import weakref
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..engines.base import Capabilities
from ..engines.catalog import model_ids
from ..errors import InvalidRequest
from ..jobs import queue
from ..jobs.schema import Video
from ..media.gif import write_gif
from ..provenance.verify import check_video
from ..request import INPUT_FIELDS, Request as GenerationRequest, Text
from .access import Caller, asker, audit_if_not_own, caller, may_change, signed_in, studio
from .bodies import data_url_bytes, read_body, renamed_fields
from .errors import ApiError
from .moderation import check_shown, moderation_of
from .service import MAX_VIDEO_BYTES, PRIVATE_FIELDS, NewInput, Studio

router = APIRouter(prefix="/api")
PAGE_LIMIT = Query(24, ge=1, le=100)
_gif_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()  # by video id


class Extras(BaseModel):
    """What a studio request adds to the generation request's own fields."""

    model_config = ConfigDict(extra="forbid")
    artist: str | None = Field(default=None, max_length=100)
    public: bool | None = None  # default: listed in the feed, unless the prompt is kept private


class Changes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public: bool | None = None
    artist: Text | None = Field(default=None, max_length=100)


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    artist: Text = Field(max_length=100)


def links(video: Video) -> dict:
    base = f"/api/videos/{video.id}"
    files = {} if video.status != queue.COMPLETED else {
        "video": f"/v1/videos/{video.id}/content", "thumbnail": f"/v1/videos/{video.id}/content?variant=thumbnail",
        "spritesheet": f"/v1/videos/{video.id}/content?variant=spritesheet", "gif": f"{base}/gif"}
    preview = f"{base}/preview?step={video.preview_step}" if video.preview_step and video.status == queue.RUNNING else None
    return {"share": f"/v/{video.id}", "events": f"{base}/events", "preview": preview, **files}


def studio_object(video: Video, who: Caller, favourite: bool, outlook: queue.Outlook | None = None) -> dict:
    """A video as the studio shows it to `who`: a prompt its artist keeps private (with its seed)
    only to them and admins; its moderation (state and reason) only to them and moderators."""
    hidden = PRIVATE_FIELDS if video.prompt_private and not who.sees_prompt_of(video) else ()
    request = {name: value for name, value in video.request.items() if name not in (*INPUT_FIELDS, *hidden)}
    shown = {
        "id": video.id, "status": video.status, "prompt": None if hidden else video.prompt,
        "prompt_private": video.prompt_private, "model": video.model,
        "requested_model": video.requested_model, "size": video.size, "seconds": video.seconds,
        "seed": None if hidden else video.seed, "steps": video.steps, "request": request,
        "inputs": sorted(name for name in INPUT_FIELDS if video.request.get(name)),
        "artist": video.artist, "public": video.public, "mine": who.owns(video), "favourite": favourite,
        "batch_id": video.batch_id, "variant": video.variant, "remixed_from": video.remixed_from,
        "created_at": video.created_at, "started_at": video.started_at, "completed_at": video.completed_at,
        "progress": video.progress, "step": video.step, "attempts": video.attempts,
        "queue_position": outlook.position if outlook else None,
        "eta_seconds": round(outlook.eta_seconds, 1) if outlook and outlook.eta_seconds is not None else None,
        "waiting_for_worker": waiting_for_worker(video, outlook),
        "paused": bool(outlook and outlook.paused),
        "error": {"code": video.error_code, "message": video.error_message} if video.status in (
            queue.FAILED, queue.CANCELLED) else None,
        "links": links(video),
    }
    if (moderated := moderation_of(video, who)) is not None:
        shown["moderation"] = moderated
    return shown


def waiting_for_worker(video: Video, outlook: queue.Outlook | None) -> bool:
    """Queued for a model no worker is serving now (Studio.outlooks gives it no ETA then; nor a
    paused one, which waits for its client instead)."""
    return video.status == queue.QUEUED and outlook is not None and outlook.position is not None \
        and outlook.eta_seconds is None and not outlook.paused


def batch_of(studio: Studio, videos: list[Video], who: Caller) -> dict:
    """The answer to a request that queued videos: their batch and each video, with its place and ETA."""
    with studio.store.read() as session:
        outlooks = studio.outlooks(session, videos)
    return {"batch_id": videos[0].batch_id,
            "data": [studio_object(video, who, False, outlooks[video.id]) for video in videos]}


def pop_extras(fields: dict) -> Extras:
    """Take a studio request's own fields (artist, public) out of fields, checked."""
    try:
        return Extras(**{name: fields.pop(name) for name in ("artist", "public") if name in fields})
    except ValidationError as err:
        raise InvalidRequest.from_problem(err.errors()[0]) from None


def page_of(studio: Studio, who: Caller, videos: list[Video], more: bool) -> dict:
    favourites = studio.favourite_ids(who.client, videos)
    return {"data": [studio_object(video, who, video.id in favourites) for video in videos],
            "last_id": videos[-1].id if videos else None, "has_more": more}


def capabilities(caps: Capabilities) -> dict:
    """What a model makes, for clients to fit their controls to: `any_aspect`, any size asked (else
    the native `sizes`); `seconds_range` [lo, hi], any length in it at any of `fps` (else the
    `frames` rule); `verbs`, which directing tools it offers (Capabilities.verbs): the studio shows
    only those."""
    return {
        "sizes": [f"{w}x{h}" for w, h in caps.sizes], "any_aspect": caps.any_aspect,
        "fps": list(caps.fps), "default_fps": caps.default_fps,
        "frames": {"min": caps.frames_min, "max": caps.frames_max, "step": caps.frames_step},
        "seconds_range": list(caps.seconds_range) if caps.seconds_range else None,
        "max_seconds": caps.max_seconds, "default_seconds": caps.default_seconds,
        "default_aspect": caps.default_aspect, "default_resolution": caps.default_resolution,
        "default_steps": caps.default_steps, "max_steps": caps.max_steps, "default_guidance": caps.default_guidance,
        "image_input": caps.image_input, "video_input": caps.video_input, "extend_input": caps.extend_input,
        "image_required": caps.image_required, "loop": caps.loop, "loop_needs_image": caps.loop_needs_image,
        "blend": caps.blend, "character_objects": caps.character_objects,
        "any_output_size": caps.any_output_size, "loras": caps.loras, "verbs": caps.verbs(),
    }


def _pop_model(fields: dict) -> str | None:
    model = fields.pop("model", None)
    if model is not None and not isinstance(model, str):
        raise InvalidRequest("model", f"must be a model id (got {model!r})")
    return model


@router.get("/models")
def list_models(studio: Studio = Depends(studio)) -> dict:
    """Every model ungated knows: what it can do, whether its weights are here, whether it is served,
    whether ungated trains it (the built-in model, or LoRAs for an open model)."""
    from .trainings import trainable_models, training_defaults

    served, trainable = studio.served_models(), set(trainable_models())
    data = []
    for model_id in studio.model_ids():
        engine = studio.engine(model_id)
        data.append({"id": model_id, "title": engine.title, "served": model_id in served,
                     "weights_present": engine.weights_present(), "licence": engine.licence,
                     "licence_restrictions": engine.licence_restrictions, "download_gb": engine.download_gb,
                     "trainable": model_id in trainable,
                     "training_defaults": training_defaults(model_id != "builtin") if model_id in trainable else None,
                     "capabilities": capabilities(engine.capabilities)})
    return {"data": data, "aliases": studio.config.aliases}


@router.get("/loras")
def list_loras(studio: Studio = Depends(studio)) -> dict:
    """The server's LoRA library, which requests name in `loras`: [{"name": ..., "weight": ...}].
    Each entry says the model it is for, where its NAME.json says (PUT /api/loras/{name} adds one)."""
    return {"data": [{k: v for k, v in entry.items() if k != "uploaded_by"} for entry in studio.storage.loras()]}


@router.put("/loras/{name}", openapi_extra={"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def upload_lora(name: str, request: Request, model: str | None = Query(None, max_length=64),
                      studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """Add a LoRA (.safetensors, sent as the raw body) to the server's library under NAME, for
    everyone's requests and the LoRA picker; `model` says which model it is for. 409 if NAME is taken."""
    if model is not None and model not in model_ids():
        raise InvalidRequest("model", f"unknown model {model!r}")
    folder = studio.storage.lora_folder
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f".upload-{queue.new_id('')}.part"
    try:
        with part.open("wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
        about = {"model": model, "uploaded_by": who.client, "size_bytes": part.stat().st_size}
        try:
            return await asyncio.to_thread(studio.storage.add_lora, name, part, {k: v for k, v in about.items() if v})
        except FileExistsError:
            raise ApiError(409, f"a LoRA named {name!r} is already in the library", "name", "exists") from None
    finally:
        part.unlink(missing_ok=True)


@router.delete("/loras/{name}")
def delete_lora(name: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """Remove a LoRA from the library: its uploader or an admin (or anyone on a local server)."""
    entry = next((e for e in studio.storage.loras() if e["name"] == name), None)
    if entry is None:
        raise ApiError(404, f"no LoRA named {name!r} in the library", "name", "not_found")
    if not (who.admin or entry.get("uploaded_by") == who.client or not studio.config.public):
        raise ApiError(403, f"LoRA {name!r} is not yours; only its uploader or an admin may remove it", "name",
                       "not_owner")
    studio.storage.remove_lora(name)
    return {"name": name, "deleted": True}


@router.get("/me")
def me(studio: Studio = Depends(studio), who: Caller = Depends(caller)) -> dict:
    return {"client": who.client, "admin": who.admin, "role": who.role, "moderator": who.moderator, "name": who.name,
            "public_server": studio.config.public,
            "artist": studio.artist_of(who.client) if who.client else "",
            "limits": {"per_minute": who.limits.per_minute, "concurrent": who.limits.concurrent}
            if who.limits else None}


@router.put("/me")
def set_profile(body: Profile, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """The artist name credited on one's new videos (and in their provenance)."""
    studio.set_artist(who.client, body.artist.strip())
    return me(studio, who)


@router.post("/videos", openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": {**GenerationRequest.model_json_schema(), "additionalProperties": True}},
    "multipart/form-data": {"schema": {"type": "object", "additionalProperties": True}}}}})
async def create_videos(request: Request, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """Queue a request: one video per variant, sharing a batch id. Files (image, video) come as
    multipart parts or as data URLs in JSON. Everything is checked before a file is written."""
    fields, files = await read_body(request, INPUT_FIELDS)
    options = pop_extras(fields)
    model = _pop_model(fields)
    inputs = {}
    for name in INPUT_FIELDS:
        value = fields.pop(name, None)
        data = files.get(name) or (data_url_bytes(value, name) if value else None)
        if data is not None:
            inputs[name] = studio.check_image(data, name) if name == "image" else studio.check_video(data, name)
    videos = studio.create(fields, who.client, model, inputs, artist=options.artist, public=options.public,
                           limits=who.limits)
    return batch_of(studio, videos, who)


@router.post("/plan", openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": {**GenerationRequest.model_json_schema(), "additionalProperties": True}}}}})
async def plan_request(request: Request, studio: Studio = Depends(studio)) -> dict:
    """What a request would make on its model (size, length, frames, steps) and every value that
    had to change to fit the model, without queueing anything."""
    fields, _ = await read_body(request, ())
    for name in ("artist", "public"):
        fields.pop(name, None)
    model = _pop_model(fields)
    the_plan = studio.plan(fields, model)
    return {"size": f"{the_plan.out_width}x{the_plan.out_height}", "native_size": f"{the_plan.width}x{the_plan.height}",
            "seconds": round(the_plan.seconds, 3), "frames": the_plan.total_frames, "fps": the_plan.fps,
            "steps": the_plan.steps, "guidance": the_plan.guidance,
            "adjustments": [str(note) for note in the_plan.adjustments],
            "changes": [{"field": note.field, "asked": note.asked, "made": note.made} for note in the_plan.adjustments]}


@router.get("/feed")
def feed(after: str | None = None, limit: int = PAGE_LIMIT, studio: Studio = Depends(studio),
         who: Caller = Depends(caller)) -> dict:
    """Everyone's finished public videos, newest first."""
    return page_of(studio, who, *studio.page(after, limit, "desc", *studio.in_feed()))


@router.get("/me/videos")
def my_videos(after: str | None = None, limit: int = PAGE_LIMIT, status: Literal["active", "all"] = "all",
              studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """One's own videos in any state, newest first (status=active: only queued and running)."""
    conditions = studio.owned_by(who.client)
    if status == "active":
        conditions += (Video.status.in_((queue.QUEUED, queue.RUNNING)),)
    return page_of(studio, who, *studio.page(after, limit, "desc", *conditions))


@router.get("/me/favourites")
def my_favourites(after: str | None = None, limit: int = PAGE_LIMIT, studio: Studio = Depends(studio),
                  who: Caller = Depends(signed_in)) -> dict:
    return page_of(studio, who, *studio.page(after, limit, "desc", *studio.favourites_of(who.client)))


@router.get("/videos/{video_id}", response_model=None)
async def get_video(video_id: str, request: Request) -> JSONResponse:
    """A video with its place in the queue, as the studio polls it: answered from the shared
    progress read (events.VideoView)."""
    studio, who = await asker(request)
    seen = await request.app.state.progress_hub.status(video_id, who.client, favourite=True)
    if seen is None or seen.video is None:
        return JSONResponse(await asyncio.to_thread(one_video, video_id, studio, who))
    check_shown(seen.video, request, who, content=False)
    favourite = who.client is not None and who.client in seen.favourite_of
    return JSONResponse(studio_object(seen.video, who, favourite, seen.outlook))


def one_video(video_id: str, studio: Studio, who: Caller) -> dict:
    video = studio.get(video_id)
    check_shown(video, None, who, content=False)
    favourite = video.id in studio.favourite_ids(who.client, [video])
    return studio_object(video, who, favourite, studio.outlook(video))


@router.patch("/videos/{video_id}")
def change_video(video_id: str, body: Changes, studio: Studio = Depends(studio),
                 who: Caller = Depends(signed_in)) -> dict:
    """Show it in the feed or not, or change its artist credit."""
    may_change(who, studio.get(video_id))
    video = studio.update(video_id, public=body.public, artist=body.artist)
    return one_video(video.id, studio, who)


@router.delete("/videos/{video_id}")
def delete_video(video_id: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    video = studio.get(video_id)
    may_change(who, video)
    studio.delete(video_id)
    audit_if_not_own(studio, who, video, "video.delete")
    return {"id": video_id, "deleted": True}


@router.post("/videos/{video_id}/cancel")
def cancel_video(video_id: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    may_change(who, studio.get(video_id))
    queue.cancel(studio.store, video_id)
    return one_video(video_id, studio, who)


@router.post("/videos/{video_id}/retry")
def retry_video(video_id: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """The same request and seed again, as a new video (for one that failed or was cancelled)."""
    source = studio.get(video_id)
    videos = studio.remix(source, {}, who.client, who.limits, sees_prompt=who.sees_prompt_of(source),
                          artist=source.artist if who.owns(source) else None, public=source.public)
    return batch_of(studio, videos, who)


@router.post("/videos/{video_id}/remix")
async def remix_video(video_id: str, request: Request, studio: Studio = Depends(studio),
                      who: Caller = Depends(signed_in)) -> dict:
    """A new video from this one's request and seed, with the fields given changed (any request
    field, and artist / public): {"loop": true} makes a looping version (the studio's Loop)."""
    source = studio.get(video_id)
    changes, _ = await read_body(request, ())
    options = pop_extras(changes)
    if any(name in changes for name in INPUT_FIELDS):
        raise InvalidRequest(next(n for n in INPUT_FIELDS if n in changes),
                             "a remix keeps the source's inputs; create a new video to use others")
    videos = studio.remix(source, changes, who.client, who.limits, sees_prompt=who.sees_prompt_of(source),
                          artist=options.artist, public=options.public)
    return batch_of(studio, videos, who)


class Derived(BaseModel):
    """What every verb that makes a new video from this one takes (by default this video's model
    and prompt)."""

    model_config = ConfigDict(extra="forbid")
    prompt: Text | None = Field(default=None, max_length=2000)
    model: str | None = None
    public: bool | None = None  # default: listed in the feed, unless the prompt is kept private


class Extension(Derived):
    seconds: float | None = None
    at: float | None = Field(default=None, gt=0)  # re-cut: continue from this second, dropping what followed


class Edit(Derived):
    prompt: Text = Field(max_length=2000)


class Blend(Derived):
    into: str  # the video the transition leads into
    seconds: float | None = None  # of the transition


def derived(studio: Studio, who: Caller, source: Video, clips: dict[str, NewInput], body: Derived,
            changes: dict, fields_named: dict[str, str]) -> dict:
    """Queue a new video made from this one's clips, refusals named after the route's fields."""
    with renamed_fields(fields_named):
        videos = studio.derive(source, clips, {"prompt": body.prompt, **changes}, who.client, body.model,
                               who.limits, sees_prompt=who.sees_prompt_of(source), public=body.public)
    return batch_of(studio, videos, who)


@router.post("/videos/{video_id}/extend")
def extend_video(video_id: str, body: Extension, studio: Studio = Depends(studio),
                 who: Caller = Depends(signed_in)) -> dict:
    """A longer clip: this finished video followed by `seconds` more, continued by a model that
    can (its verbs say `extend`); with `at`, a re-cut: the clip up to that second, then the new
    frames. What follows a loop goes on from its last frame; it does not loop back."""
    source, clip = studio.finished(video_id, "video_id")
    return derived(studio, who, source, {"extend": NewInput.copy_of(clip)}, body,
                   {"seconds": body.seconds, "extend_at": body.at}, {"extend_at": "at"})


@router.post("/videos/{video_id}/edit")
def edit_video(video_id: str, body: Edit, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """A new version of this finished clip by prompt, as long as the clip, by a model that edits
    (its verbs say `edit`)."""
    source, clip = studio.finished(video_id, "video_id")
    return derived(studio, who, source, {"video": NewInput.copy_of(clip)}, body, {}, {})


@router.post("/videos/{video_id}/blend")
def blend_video(video_id: str, body: Blend, studio: Studio = Depends(studio),
                who: Caller = Depends(signed_in)) -> dict:
    """This finished clip, a transition of `seconds` into the finished clip `into`, then that clip:
    A + transition + B, by a model that blends (its verbs say `blend`)."""
    source, clip = studio.finished(video_id, "video_id")
    _, into = studio.finished(body.into, "into")
    return derived(studio, who, source, {"extend": NewInput.copy_of(clip), "blend_into": NewInput.copy_of(into)},
                   body, {"seconds": body.seconds}, {"blend_into": "into"})


@router.put("/videos/{video_id}/favourite")
def add_favourite(video_id: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    studio.set_favourite(who.client, video_id, True)
    return {"id": video_id, "favourite": True}


@router.delete("/videos/{video_id}/favourite")
def remove_favourite(video_id: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    studio.set_favourite(who.client, video_id, False)
    return {"id": video_id, "favourite": False}


@router.get("/videos/{video_id}/provenance")
async def video_provenance(video_id: str, request: Request, studio: Studio = Depends(studio)) -> dict:
    """What the stored clip's C2PA manifest and watermark say (the studio's provenance badge)."""
    video, mp4 = studio.clip(video_id)
    check_shown(video, request)
    return await asyncio.to_thread(studio.provenance_of, mp4)


@router.post("/verify", openapi_extra={"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string",
                                                                                   "format": "binary"}}}}}}})
async def verify_upload(request: Request, studio: Studio = Depends(studio)) -> dict:
    """Check an uploaded video's provenance, as `ungated verify` does (the file is not kept)."""
    _, files = await read_body(request, ("file",))
    if "file" not in files:
        raise InvalidRequest("file", "upload the video as a multipart part named file")
    studio.check_size(files["file"], MAX_VIDEO_BYTES, "file", "video")
    with tempfile.NamedTemporaryFile(suffix=".mp4") as upload:
        upload.write(files["file"])
        upload.flush()
        check_video(Path(upload.name))
        return await asyncio.to_thread(studio.provenance_of, Path(upload.name))


@router.get("/videos/{video_id}/gif")
async def video_gif(video_id: str, request: Request, studio: Studio = Depends(studio)) -> FileResponse:
    """The clip as an animated GIF (made on first request, then kept beside the MP4). Requests that
    come while it is being made wait for it rather than make it again."""
    video, mp4 = studio.clip(video_id)
    check_shown(video, request)
    gif = mp4.with_suffix(".gif")
    if not gif.is_file():
        lock = _gif_locks.setdefault(video_id, asyncio.Lock())  # held by its waiters; gone with the last
        async with lock:
            if not gif.is_file():
                await asyncio.to_thread(write_gif, mp4, gif)
    return FileResponse(gif, media_type="image/gif", filename=f"{video_id}.gif")


@router.get("/videos/{video_id}/preview")
def preview_frame(video_id: str, request: Request, studio: Studio = Depends(studio)) -> FileResponse:
    """The latest low-resolution preview frame of a video being made."""
    check_shown(studio.get(video_id), request)
    path = studio.storage.preview_path(video_id)
    if not path.is_file():
        raise ApiError(404, f"video {video_id!r} has no preview frame yet", "video_id", "not_ready")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
