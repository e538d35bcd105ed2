"""`input_reference` as an object, as OpenAI's Videos API takes it: {"image_url": URL} or
{"file_id": ID}, resolved to the image a request starts from.

An image_url is a data URL, or a URL of this server's own images (a video's thumbnail
/v1/videos/{id}/content?variant=thumbnail, a character's /api/characters/{id}/image; relative, or
absolute with this server's host), read from storage without any HTTP request. Another server's
URL is refused unless the admin lets /v1 fetch them (settings.fetch_image_urls); then fetch.py
fetches it, never from an internal address. A file_id is a character's id (its image) or a video's
id (its last frame).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from ..errors import InvalidRequest
from . import fetch
from .bodies import data_url_bytes
from .characters_service import Characters, frame_at, png_bytes
from .service import NewInput, Studio

OWN_THUMBNAIL = re.compile(r"/v1/videos/(video_[0-9a-f]+)/content")
OWN_CHARACTER_IMAGE = re.compile(r"/api/characters/(char_[0-9a-f]+)/image")


def image_of(reference: object, studio: Studio, client: str, own_host: str, param: str = "input_reference") -> NewInput:
    """The image an input_reference object stands for, checked as an upload is. own_host: the
    host (and port) this request was sent to, by which an absolute URL is known as this server's."""
    if not isinstance(reference, dict) or len(reference) != 1 or not {"image_url", "file_id"} & set(reference):
        raise InvalidRequest(param, 'give an upload, {"image_url": "data:..." or a URL of this server\'s images}, '
                                    'or {"file_id": "char_..." or "video_..."}')
    if "file_id" in reference:
        return _file(reference["file_id"], studio, client, f"{param}.file_id")
    return image_at_url(reference["image_url"], studio, client, own_host, f"{param}.image_url")


def _file(file_id: object, studio: Studio, client: str, param: str) -> NewInput:
    if isinstance(file_id, str) and file_id.startswith("char_"):
        character = Characters(studio).find(client, file_id)
        if character is None:
            raise InvalidRequest(param, f"you have no character {file_id!r}")
        return NewInput.copy_of(Characters(studio).image(character))
    if isinstance(file_id, str) and file_id.startswith("video_"):
        _, clip = studio.finished(file_id, param)
        return studio.check_image(png_bytes(frame_at(clip, None, param)), param)
    raise InvalidRequest(param, f"must be a character's id (char_...) or a video's id (video_...) (got {file_id!r})")


def image_at_url(url: object, studio: Studio, client: str, own_host: str, param: str) -> NewInput:
    """The image at a data URL, at a URL of this server's images, or (where the admin allows it)
    at another server's URL."""
    if not isinstance(url, str) or not url:
        raise InvalidRequest(param, "must be a data URL or a URL of an image")
    if url.startswith("data:"):
        return studio.check_image(data_url_bytes(url, param), param)
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [IPv6 address
        raise InvalidRequest(param, "not a URL ungated can read") from None
    if not parts.scheme or (parts.scheme in ("http", "https") and parts.netloc.lower() == own_host.lower()):
        return _own_image(parts.path, parse_qs(parts.query), studio, client, param)
    if parts.scheme not in ("http", "https"):
        raise InvalidRequest(param, f"must be a data URL or an http(s) URL (got a {parts.scheme}: URL)")
    if not studio.config.fetch_image_urls:
        raise InvalidRequest(param, "this server fetches no images from other servers: give a data URL, a URL of "
                                    "this server's images, or an upload (its admin may allow fetching: "
                                    "[openai] fetch_image_urls)")
    return studio.check_image(fetch.image(url, param), param)


def _own_image(path: str, query: dict, studio: Studio, client: str, param: str) -> NewInput:
    """One of this server's images by its URL path, read from storage (never over HTTP)."""
    if (found := OWN_THUMBNAIL.fullmatch(path)) and query.get("variant") == ["thumbnail"]:
        from ..media.pipeline import companion_paths

        _, clip = studio.finished(found[1], param)
        return NewInput.copy_of(companion_paths(clip).thumbnail)
    if found := OWN_CHARACTER_IMAGE.fullmatch(path):
        character = Characters(studio).find(client, found[1])
        if character is None:
            raise InvalidRequest(param, f"you have no character {found[1]!r}")
        return NewInput.copy_of(Characters(studio).image(character))
    raise InvalidRequest(param, "this server's images are a video's thumbnail "
                                "(/v1/videos/ID/content?variant=thumbnail) and a character's image "
                                "(/api/characters/ID/image)")
