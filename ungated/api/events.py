"""Live progress by Server-Sent Events: GET /api/videos/{id}/events streams a `progress` event
whenever the job's state, progress, queue position or ETA changes, and a last `done` event when
it has finished (completed, failed or cancelled)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends
from fastapi.sse import EventSourceResponse, ServerSentEvent

from ..jobs import queue
from ..jobs.schema import Video
from .access import studio
from .studio import links
from .service import Studio

router = APIRouter(prefix="/api")
POLL_SECONDS = 0.5


def progress_event(video: Video, outlook: queue.Outlook) -> dict:
    return {
        "id": video.id, "status": video.status, "progress": video.progress, "step": video.step,
        "queue_position": outlook.position,
        "eta_seconds": None if outlook.eta_seconds is None else round(outlook.eta_seconds, 1),
        "error": video.error_message if video.status in (queue.FAILED, queue.CANCELLED) else None,
        "preview": links(video)["preview"],
    }


def existing_video(video_id: str, studio: Studio = Depends(studio)) -> str:
    studio.get(video_id)  # raises the 404 here, before the stream starts
    return video_id


@router.get("/videos/{video_id}/events", response_class=EventSourceResponse)
async def video_events(video_id: str = Depends(existing_video),
                       studio: Studio = Depends(studio)) -> AsyncIterator[ServerSentEvent]:
    last = None
    while True:
        try:
            video = await asyncio.to_thread(studio.get, video_id)
        except Exception:  # deleted while watched
            yield ServerSentEvent(event="done", data={"id": video_id, "status": "deleted"})
            return
        payload = progress_event(video, await asyncio.to_thread(studio.outlook, video))
        if payload != last:
            finished = video.status in queue.FINISHED
            yield ServerSentEvent(event="done" if finished else "progress", data=payload)
            if finished:
                return
            last = payload
        await asyncio.sleep(POLL_SECONDS)
