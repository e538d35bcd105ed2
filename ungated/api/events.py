"""Live progress by Server-Sent Events: GET /api/videos/{id}/events streams a `progress` event
whenever the job's state, progress, queue position, ETA or preview frame changes, and a last
`done` event when it has finished (completed, failed or cancelled) or been deleted. Training runs
stream the same way (api/trainings.py), with their loss curve and samples.

However many clients watch, one task per server and kind of job reads the store: every
POLL_SECONDS it reads all watched jobs in one go and hands each change to the watchers of that job.
For videos that task also answers the clients that poll (GET /v1/videos/{id}, /api/videos/{id}):
VideoView keeps what its last read found, so 400 clients polling cost one read a tick, not 400.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy import select

from ..jobs import outages, queue
from ..jobs.schema import Favourite, Video
from .access import studio
from .moderation import check_shown
from .service import WRITES, Studio
from .studio import links, waiting_for_worker

router = APIRouter(prefix="/api")
log = logging.getLogger("ungated.api")
POLL_SECONDS = 0.5


def progress_event(video: Video, outlook: queue.Outlook) -> dict:
    return {
        "id": video.id, "status": video.status, "progress": video.progress, "step": video.step,
        "queue_position": outlook.position,
        "eta_seconds": None if outlook.eta_seconds is None else round(outlook.eta_seconds, 1),
        "waiting_for_worker": waiting_for_worker(video, outlook), "paused": outlook.paused,
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


FRESH_SECONDS = POLL_SECONDS + 0.25  # a poll is answered from a read that began at most this long ago
FORGET_SECONDS = 10.0  # a video nobody polled for this long is read no more (unless watched by SSE)
CHUNK = 400  # ids per IN (...) list


@dataclass(frozen=True)
class Seen:
    """A video as one shared read found it."""

    video: Video | None  # None: deleted
    outlook: queue.Outlook | None
    asked: frozenset[str]  # the clients whose favourites this read looked up (for every video it read)
    favourite_of: frozenset[str]  # those of them who marked it a favourite
    generation: int  # WRITES.count when the read began
    read_at: float  # time.monotonic() when the read began


def read_seen(studio: Studio, ids: list[str], askers: frozenset[str], generation: int) -> dict[str, Seen]:
    """Each video of ids as it is now, with which of askers (clients who want their favourite flag)
    marked it, in one transaction: a few queries for them all."""
    read_at, clients = time.monotonic(), sorted(askers)
    with studio.store.read() as session:
        videos = [video for start in range(0, len(ids), CHUNK)
                  for video in session.scalars(select(Video).where(Video.id.in_(ids[start:start + CHUNK])))]
        outlooks = studio.outlooks(session, videos)
        favourites: set[tuple[str, str]] = set()
        for start in range(0, len(ids) if clients else 0, CHUNK):
            for first in range(0, len(clients), CHUNK):
                favourites.update((video_id, client) for video_id, client in session.execute(
                    select(Favourite.video_id, Favourite.client).where(
                        Favourite.video_id.in_(ids[start:start + CHUNK]),
                        Favourite.client.in_(clients[first:first + CHUNK]))))
    found = {video.id: video for video in videos}
    seen = {}
    for video_id in ids:
        video = found.get(video_id)
        seen[video_id] = Seen(video, outlooks[video_id] if video else None, askers,
                              frozenset(client for client in askers if (video_id, client) in favourites),
                              generation, read_at)
    return seen


def state_of(video_id: str, seen: Seen) -> dict | None:
    """A video's progress event, or None when this read cannot tell: a queued job with no place
    in the queue was claimed between two statements (PostgreSQL's statements each see the latest
    commits), and the next read gives its new state."""
    if seen.video is None:
        return {"id": video_id, "status": "deleted"}
    state = progress_event(seen.video, seen.outlook)
    return None if state["status"] == queue.QUEUED and state["queue_position"] is None else state


class VideoView(ProgressHub):
    """The videos that clients follow, by SSE or by polling, read in one go every POLL_SECONDS.

    A poll is answered from the latest read when that read began after every write this process
    committed before the poll arrived (WRITES counts them: a cancel, a delete, a worker's report
    through this server) and at most FRESH_SECONDS ago; otherwise the poll waits for the next
    read, which all polls waiting at that moment share. So a client always sees its own writes,
    and writes made elsewhere (workers of `serve --workers N`, the CLI) within one tick, as SSE
    watchers do."""

    def __init__(self, studio: Studio):
        super().__init__(lambda ids: {})
        self.studio = studio
        self.polled: dict[str, float] = {}  # video id -> when a client last polled it
        # client -> when it last asked for its favourite flags: a read looks them up for every
        # video it reads, so a client's first poll of another video needs no read of its own.
        self.askers: dict[str, float] = {}
        self.seen: dict[str, Seen] = {}
        self._reading: asyncio.Task | None = None
        self._reading_covers: tuple[int, frozenset[str], frozenset[str]] = (-1, frozenset(), frozenset())
        # Threads of their own, so a read never queues behind the claims' writes in asyncio's pool.
        self._threads = ThreadPoolExecutor(2, thread_name_prefix="ungated-progress")

    async def status(self, video_id: str, client: str | None, favourite: bool = False) -> Seen | None:
        """The video as a read that saw every write made here before this call found it; None when
        no such read came in time (the caller reads the store itself)."""
        since = WRITES.count
        self.polled[video_id] = time.monotonic()
        if favourite and client is not None:
            self.askers[client] = time.monotonic()
        self._ensure_running()
        for _ in range(3):
            seen = self.seen.get(video_id)
            if seen is not None and self._answers(seen, since, client, favourite):
                return seen
            reading = self._reading
            generation, covered, asked = self._reading_covers
            if reading is None or reading.done():
                reading = self._read()
            elif not (generation >= since and video_id in covered
                      and (not favourite or client is None or client in asked)):
                await asyncio.shield(reading)  # then a read of its own, if still needed
                continue
            await asyncio.shield(reading)
        return None

    @staticmethod
    def _answers(seen: Seen, since: int, client: str | None, favourite: bool) -> bool:
        return (seen.generation >= since and time.monotonic() - seen.read_at <= FRESH_SECONDS
                and (not favourite or client is None or client in seen.asked))

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    def _read(self) -> asyncio.Task:
        """Start a read of every followed video; the task sets self.seen and tells SSE watchers."""
        ids = self.watchers.keys() | self.polled.keys()
        askers = frozenset(self.askers)
        generation = WRITES.count
        self._reading_covers = (generation, frozenset(ids), askers)
        self._reading = asyncio.create_task(self._read_into(sorted(ids), askers, generation))
        return self._reading

    async def _read_into(self, ids: list[str], askers: frozenset[str], generation: int) -> None:
        try:
            seen = await asyncio.get_running_loop().run_in_executor(self._threads, read_seen, self.studio, ids, askers,
                                                                    generation)
        except Exception as err:  # the store is briefly unavailable: polls read it themselves, watchers wait
            if outages.classify(err) is None:
                log.exception("reading progress failed")
            else:
                log.warning("reading progress waits for the store: %s", outages.describe(err))
            return
        for video_id, entry in seen.items():
            current = self.seen.get(video_id)
            if current is None or (current.generation, current.read_at) <= (entry.generation, entry.read_at):
                self.seen[video_id] = entry
            if video_id in self.watchers and (state := state_of(video_id, entry)) is not None:
                if state != self.latest.get(video_id):
                    self.latest[video_id] = state
                    for inbox in self.watchers.get(video_id, ()):
                        inbox.put_nowait(state)

    async def _run(self) -> None:
        while self.watchers or self.polled:
            reading = self._reading
            await asyncio.shield(reading if reading is not None and not reading.done() else self._read())
            forgotten = time.monotonic() - FORGET_SECONDS
            for video_id in [video_id for video_id, at in self.polled.items() if at < forgotten]:
                del self.polled[video_id]
            for client in [client for client, at in self.askers.items() if at < forgotten]:
                del self.askers[client]
            for video_id in [video_id for video_id in self.seen if video_id not in self.polled
                             and video_id not in self.watchers]:
                del self.seen[video_id]
            await asyncio.sleep(POLL_SECONDS)


def hub(request: Request) -> ProgressHub:
    return request.app.state.progress_hub


def existing_video(video_id: str, request: Request, studio: Studio = Depends(studio)) -> str:
    # raises the 404 (or a removed clip's 410) here, before the stream starts
    check_shown(studio.get(video_id), request, content=False)
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
