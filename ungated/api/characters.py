"""Characters over HTTP: OpenAI's /v1/videos/characters (create, get) and the studio's
/api/characters (list, create, get, its image, delete). A character belongs to the client that
made it: to anyone else its id is a 404. What a character is and how requests use it:
characters_service.py."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from ..errors import InvalidRequest
from ..jobs.schema import Character
from ..request import MAX_TOTAL_SECONDS
from . import references
from .access import Caller, signed_in, studio
from .bodies import data_url_bytes, read_body
from .characters_service import Characters
from .openai import parsed
from .service import NewInput, Studio

router = APIRouter()
At = Field(default=None, ge=0, le=MAX_TOTAL_SECONDS)  # seconds into the clip: the frame that shows the character


class OpenAiCharacter(BaseModel):
    """POST /v1/videos/characters: `video` as {"id": ...} (else an upload), or an `image_url`."""

    model_config = ConfigDict(extra="forbid")
    name: str
    video: dict | None = None
    image_url: str | None = None
    at: float | None = At


class StudioCharacter(BaseModel):
    """POST /api/characters: `image` or `video` as an upload or a data URL, or `video_id`."""

    model_config = ConfigDict(extra="forbid")
    name: str
    image: str | None = None
    video: str | None = None
    video_id: str | None = None
    at: float | None = At


def openai_object(character: Character) -> dict:
    return {"id": character.id, "object": "character", "name": character.name,
            "created_at": int(character.created_at)}


def studio_object(character: Character) -> dict:
    """A character as the studio shows it: `object`, what the built-in model draws for it (shape,
    color, size), or null where it tells none."""
    return {"id": character.id, "name": character.name, "created_at": character.created_at,
            "object": character.object, "source_video": character.source_video,
            "links": {"image": f"/api/characters/{character.id}/image"}}


CHARACTER_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": OpenAiCharacter.model_json_schema()},
    "multipart/form-data": {"schema": {**OpenAiCharacter.model_json_schema(), "properties": {
        **OpenAiCharacter.model_json_schema()["properties"], "video": {"type": "string", "format": "binary"}}}},
}}}


@router.post("/v1/videos/characters", openapi_extra=CHARACTER_BODY)
async def create_openai_character(request: Request, studio: Studio = Depends(studio),
                                  who: Caller = Depends(signed_in)) -> dict:
    """A character from a clip's frame (`at` seconds in; the first by default) or an image."""
    fields, files = await read_body(request, ("video",))
    body = parsed(OpenAiCharacter, fields)

    def create() -> Character:
        characters = Characters(studio)
        if "video" in files:
            return characters.from_clip(who.client, body.name, studio.check_video(files["video"], "video"), body.at)
        if body.image_url is not None:
            image = references.image_at_url(body.image_url, studio, who.client, request.url.netloc, "image_url")
            return characters.from_image(who.client, body.name, image)
        if body.video is None or set(body.video) != {"id"} or not isinstance(body.video["id"], str):
            raise InvalidRequest("video", 'upload a clip (a multipart part named video), give {"id": "video_..."}, '
                                          "or give an image_url")
        return from_video(studio, who, body.name, body.video["id"], body.at, "video")

    return openai_object(await asyncio.to_thread(create))


@router.get("/v1/videos/characters/{character_id}")
def get_openai_character(character_id: str, studio: Studio = Depends(studio),
                         who: Caller = Depends(signed_in)) -> dict:
    return openai_object(Characters(studio).get(who.client, character_id))


def from_video(studio: Studio, who: Caller, name: str, video_id: str, at: float | None, param: str) -> Character:
    """A character from a frame of a finished video anyone with its id can open."""
    _, clip = studio.finished(video_id, param)
    return Characters(studio).from_clip(who.client, name, NewInput.copy_of(clip), at, source_video=video_id)


@router.get("/api/characters")
def list_characters(studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """Your characters, oldest first."""
    return {"data": [studio_object(c) for c in Characters(studio).all(who.client)]}


@router.post("/api/characters", openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": StudioCharacter.model_json_schema()},
    "multipart/form-data": {"schema": {"type": "object", "additionalProperties": True}}}}})
async def create_character(request: Request, studio: Studio = Depends(studio),
                           who: Caller = Depends(signed_in)) -> dict:
    """A character from an image, or from a clip's frame `at` seconds in (the first by default):
    an uploaded or data-URL `video`, or one of the server's finished videos by `video_id`."""
    fields, files = await read_body(request, ("image", "video"))
    body = parsed(StudioCharacter, fields)

    def create() -> Character:
        characters = Characters(studio)
        image = files.get("image") or (data_url_bytes(body.image, "image") if body.image else None)
        video = files.get("video") or (data_url_bytes(body.video, "video") if body.video else None)
        if image is not None:
            return characters.from_image(who.client, body.name, studio.check_image(image, "image"))
        if video is not None:
            return characters.from_clip(who.client, body.name, studio.check_video(video, "video"), body.at)
        if body.video_id is not None:
            return from_video(studio, who, body.name, body.video_id, body.at, "video_id")
        raise InvalidRequest("image", "give the character's image or video (an upload or a data URL), or video_id")

    return studio_object(await asyncio.to_thread(create))


@router.get("/api/characters/{character_id}")
def get_character(character_id: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    return studio_object(Characters(studio).get(who.client, character_id))


@router.get("/api/characters/{character_id}/image")
def character_image(character_id: str, studio: Studio = Depends(studio),
                    who: Caller = Depends(signed_in)) -> FileResponse:
    characters = Characters(studio)
    return FileResponse(characters.image(characters.get(who.client, character_id)), media_type="image/png",
                        filename=f"{character_id}.png")


@router.delete("/api/characters/{character_id}")
def delete_character(character_id: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """Forget a character; videos made with it keep what they used."""
    Characters(studio).delete(who.client, character_id)
    return {"id": character_id, "deleted": True}
