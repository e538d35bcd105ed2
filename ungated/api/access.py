"""Who is asking, and what they may do.

Local (the default): one user, open, no key needed; the caller is "local" and may do anything.
Public (`serve --public`): anyone may read what has been shared (the feed, a video by its id, its
files and progress), but creating videos, listing one's own and favourites need an API key
(`Authorization: Bearer ugk_...`, as the openai client sends it), and deleting another's video
needs an admin key. Keys carry rate and concurrency limits. A key is honoured in local mode too,
so one server can tell several local users apart.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fastapi import Depends, Request

from ..jobs import keys
from ..jobs.queue import Limits
from ..jobs.schema import Video
from .errors import ApiError
from .service import Studio

LOCAL = "local"


@dataclass(frozen=True)
class Caller:
    client: str | None  # None: anonymous, on a public server
    admin: bool = False
    limits: Limits | None = None

    def owns(self, video: Video) -> bool:
        return self.client is not None and video.client == self.client

    def sees_prompt_of(self, video: Video) -> bool:
        """Whether a prompt kept private (and its seed) may be shown to this caller."""
        return self.admin or self.owns(video)


def studio(request: Request) -> Studio:
    return request.app.state.studio


def _bearer(request: Request) -> str | None:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


def caller(request: Request, studio: Studio = Depends(studio)) -> Caller:
    secret = _bearer(request)
    key = keys.find(studio.store, secret) if secret and secret.startswith(keys.PREFIX) else None
    if key is not None:
        return Caller(key.id, key.admin, Limits(key.per_minute, key.concurrent))
    if not studio.config.public:
        return Caller(LOCAL, admin=True)
    if secret:
        raise ApiError(401, "the API key is not valid (create one with `ungated keys create`)", code="invalid_api_key")
    return Caller(None)


async def asker(request: Request) -> tuple[Studio, Caller]:
    """The studio and the caller, as the `studio` and `caller` dependencies give them, for an
    async endpoint: a worker thread only when an API key must be looked up."""
    the_studio = studio(request)
    if _bearer(request) is None:
        return the_studio, caller(request, the_studio)
    return the_studio, await asyncio.to_thread(caller, request, the_studio)


def signed_in(who: Caller = Depends(caller)) -> Caller:
    """A caller who has an identity: any local caller, or one with a key on a public server."""
    if who.client is None:
        raise ApiError(401, "this server is public: send an API key as `Authorization: Bearer ugk_...` "
                            "(ask its admin for one)", code="missing_api_key")
    return who


def may_change(who: Caller, video: Video) -> None:
    if not (who.admin or who.owns(video)):
        raise ApiError(403, f"video {video.id!r} is not yours; only its owner or an admin may change it",
                       "video_id", "not_owner")
