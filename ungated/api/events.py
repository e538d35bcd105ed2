"""Live progress by Server-Sent Events: GET /api/videos/{id}/events streams a `progress` event
whenever the job's state, progress, queue position, ETA or preview frame changes, and a last
`done` event when it has finished (completed, failed or cancelled) or been deleted. Training runs
stream the same way (api/trainings.py), with their loss curve and samples.

However many clients watch, one task per server and kind of job reads the store: every
POLL_SECONDS it reads all watched jobs in one go and hands each change to the watchers of that job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, Depends, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy import select

from ..jobs import outages, queue
from ..jobs.schema import Video
from .access import studio
from .service import Studio
from .studio import links, waiting_for_worker

router = APIRouter(prefix="/api")
log = logging.getLogger("ungated.api")
POLL_SECONDS = 0.5


def progress_event(video: Video, outlook: queue.Outlook) -> dict:
    return {
        "id": video.id, "status": video.status, "progress": video.progress, "step": video.step,
        "queue_position": outlook.position,
        "eta_seconds": None if outlook.eta_seconds is None else round(outlook.eta_seconds, 1),
        "waiting_for_worker": waiting_for_worker(video, outlook),
        "error": video.error_message if video.status in (queue.FAILED, queue.CANCELLED) else None,
        "preview": links(video)["preview"],
    }


class ProgressHub:
    """Fans the state of watched jobs out to their watchers (asyncio queues); `read` gives the
    states of a list of job ids (those it leaves out are not reported this round)."""

    def __init__(self, read: Callable[[list[str]], dict[str, dict]]):
        self.read = read
        self.watchers: dict[str, set[asyncio.Queue]] = {}
        self.latest: dict[str, dict] = {}
        self._task: asyncio.Task | None = None

    def subscribe(self, video_id: str) -> asyncio.Queue:
        inbox: asyncio.Queue = asyncio.Queue()
        self.watchers.setdefault(video_id, set()).add(inbox)
        if video_id in self.latest:
            inbox.put_nowait(self.latest[video_id])
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return inbox

    def unsubscribe(self, video_id: str, inbox: asyncio.Queue) -> None:
        watching = self.watchers.get(video_id, set())
        watching.discard(inbox)
        if not watching:
            self.watchers.pop(video_id, None)
            self.latest.pop(video_id, None)

    async def _run(self) -> None:
        while self.watchers:
            try:
                states = await asyncio.to_thread(self.read, list(self.watchers))
            except Exception as err:  # the store is briefly unavailable: watchers wait for the next round
                if outages.classify(err) is None:
                    log.exception("reading progress failed")
                else:
                    log.warning("reading progress waits for the store: %s", outages.describe(err))
                states = {}
            for video_id, state in states.items():
                if state != self.latest.get(video_id):
                    self.latest[video_id] = state
                    for inbox in self.watchers.get(video_id, ()):
                        inbox.put_nowait(state)
            await asyncio.sleep(POLL_SECONDS)


def read_videos(studio: Studio, ids: list[str]) -> dict[str, dict]:
    """The progress events of the videos with these ids (a "deleted" state for those gone)."""
    with studio.store.read() as session:
        videos = list(session.scalars(select(Video).where(Video.id.in_(ids))))
        outlooks = studio.outlooks(session, videos)
    states = {video_id: {"id": video_id, "status": "deleted"} for video_id in ids}
    states |= {video.id: progress_event(video, outlooks[video.id]) for video in videos}
    # A queued job with no place in the queue was claimed between the two reads (PostgreSQL's
    # statements each see the latest commits): the next round reads its new state.
    return {video_id: state for video_id, state in states.items()
            if not (state["status"] == queue.QUEUED and state["queue_position"] is None)}


def hub(request: Request) -> ProgressHub:
    return request.app.state.progress_hub


def existing_video(video_id: str, studio: Studio = Depends(studio)) -> str:
    studio.get(video_id)  # raises the 404 here, before the stream starts
    return video_id


@router.get("/videos/{video_id}/events", response_class=EventSourceResponse)
async def video_events(video_id: str = Depends(existing_video),
                       hub: ProgressHub = Depends(hub)) -> AsyncIterator[ServerSentEvent]:
    async for event in stream(hub, video_id):
        yield event


async def stream(hub: ProgressHub, job_id: str) -> AsyncIterator[ServerSentEvent]:
    """A job's events: `progress` on every change, then `done` once it has finished or is gone."""
    inbox = hub.subscribe(job_id)
    try:
        while True:
            state = await inbox.get()
            finished = state["status"] in (*queue.FINISHED, "deleted")
            yield ServerSentEvent(event="done" if finished else "progress", data=state)
            if finished:
                return
    finally:
        hub.unsubscribe(job_id, inbox)
