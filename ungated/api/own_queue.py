"""One's own queue in one's hands: see it in order with places and ETAs, reorder it, pause and
resume it, cancel it all. Each acts on the caller's own videos only, and never moves anyone's
ahead of another client's turn (jobs/own_queue.py says how)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from ..errors import InvalidRequest
from ..jobs import own_queue, queue
from ..jobs.schema import Video
from .access import Caller, signed_in, studio
from .errors import ApiError
from .service import Studio
from .studio import studio_object

router = APIRouter(prefix="/api")


class Move(BaseModel):
    """Where to: just before another of one's queued videos (`before`; null: to the end), or a
    place among them (`position`, 0: first)."""

    model_config = ConfigDict(extra="forbid")
    before: str | None = Field(default=None, max_length=40)
    position: int | None = Field(default=None, ge=0)


def queue_view(studio: Studio, client: str, who: Caller, limit: int = 100) -> dict:
    """The client's queue: whether it is paused, their running videos, and their queued ones in the
    order workers take them, each with `place` (among their own, 0: first), `queue_position`
    (jobs of anyone's ahead of it for its model) and `eta_seconds`."""
    with studio.store.read() as session:
        paused_at = own_queue.paused_at(session, client)
        counts = own_queue.counts(session, client)
        waiting = own_queue.queued(session, client)[:limit]
        running = own_queue.running(session, client)
        outlooks = studio.outlooks(session, [*running, *waiting])
    return {"paused": paused_at is not None, "paused_at": paused_at, "counts": counts,
            "running": [studio_object(video, who, False, outlooks[video.id]) for video in running],
            "data": [{**studio_object(video, who, False, outlooks[video.id]), "place": place}
                     for place, video in enumerate(waiting)],
            "has_more": counts[queue.QUEUED] > len(waiting)}


@router.get("/me/queue")
def my_queue(limit: int = Query(100, ge=1, le=1000), studio: Studio = Depends(studio),
             who: Caller = Depends(signed_in)) -> dict:
    return queue_view(studio, who.client, who, limit)


@router.post("/videos/{video_id}/move")
def move_video(video_id: str, body: Move, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """Move one of one's queued videos among one's own; answers with one's queue in its new order."""
    video = studio.get(video_id)
    if not who.owns(video):
        raise ApiError(403, f"video {video_id!r} is not yours; only its owner moves it in their queue", "video_id",
                       "not_owner")
    if {"before", "position"} <= body.model_fields_set:
        raise InvalidRequest("position", "give `before` or `position`, not both")
    try:
        own_queue.move(studio.store, who.client, video_id, body.before, body.position)
    except own_queue.NotQueued as err:
        if err.field == "video_id":
            raise ApiError(409, f"video {video_id!r} is {studio.get(video_id).status}; only a queued video moves",
                           "video_id", "not_queued") from None
        raise InvalidRequest("before", f"{body.before!r} is not another of your queued videos") from None
    except IndexError:
        with studio.store.read() as session:
            waiting = own_queue.counts(session, who.client)[queue.QUEUED]
        raise InvalidRequest("position", f"must be from 0 to {waiting - 1}: you have {waiting} queued "
                                         "videos") from None
    return queue_view(studio, who.client, who)


@router.post("/me/queue/pause")
def pause_queue(studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """No worker takes one's queued videos (or training runs) until resumed; they keep their places.
    Running ones go on."""
    own_queue.pause(studio.store, who.client)
    return queue_view(studio, who.client, who)


@router.post("/me/queue/resume")
def resume_queue(studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    if own_queue.resume(studio.store, who.client):
        studio.on_queued()  # remote workers waiting for a job look again
    return queue_view(studio, who.client, who)


@router.post("/me/queue/cancel")
def cancel_queue(studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """Cancel all one's videos: queued ones at once, running ones at their next step."""
    cancelled = queue.cancel_videos(studio.store, Video.client == who.client)
    return {**queue_view(studio, who.client, who), "cancelled": cancelled}
