"""A client's own queue in their hands: reorder their queued videos, pause and resume, and the
groups (batches) their requests made. Fair share holds throughout (see queue.py's "Order"):

- Reordering permutes the client's own fair-share tags among their own queued videos, so the set
  of turns they hold is the same and only which of their jobs takes each turn changes. (Where two
  of their jobs share a tag, the later one's is raised by one: a tag only ever grows, so nobody's
  job moves ahead of another client's.)
- A paused client's jobs are taken by no claim (queue.not_paused) and keep their tags, so they
  keep their place among their own. While paused, they do not hold back the queue's current turn
  (queue.current_turn), which newcomers' tags start from. On resume, tags that fell behind the
  current turn meanwhile are moved up to it, in the same order, as if queued at that moment: a
  pause neither loses a client their place nor saves up turns to spend all at once.
"""

from __future__ import annotations

import time

from sqlalchemy import func, select

from .queue import QUEUED, RUNNING, current_turn
from .schema import QueuePause, Video
from .store import Store

CLAIM_ORDER = (Video.priority.desc(), Video.fair_key, Video.created_at, Video.id)


class NotQueued(Exception):
    """The video is not one of the client's queued videos (it started, finished, or is another's)."""

    def __init__(self, video_id: str, field: str):
        super().__init__(f"video {video_id!r} is not one of your queued videos")
        self.video_id, self.field = video_id, field


def queued(session, client: str, lock: bool = False) -> list[Video]:
    """The client's queued videos, in the order workers take them."""
    query = select(Video).where(Video.client == client, Video.status == QUEUED).order_by(*CLAIM_ORDER)
    return list(session.scalars(query.with_for_update() if lock else query))


def running(session, client: str) -> list[Video]:
    """The client's videos being made, the earliest started first."""
    return list(session.scalars(select(Video).where(Video.client == client, Video.status == RUNNING)
                                .order_by(Video.started_at, Video.id)))


def move(store: Store, client: str, video_id: str, before: str | None = None, position: int | None = None
         ) -> list[str]:
    """Move one of the client's queued videos just before another of them (`before`), to a place
    among them (`position`, 0: first), or, with neither, to the end. Returns their ids in the new
    order. Raises NotQueued for a video that is not one of them, IndexError for a position out of
    range."""
    with store.write() as session:
        own = queued(session, client, lock=True)  # PostgreSQL: claims skip them while they move
        ids = [video.id for video in own]
        if video_id not in ids:
            raise NotQueued(video_id, "video_id")
        if before is not None and (before not in ids or before == video_id):
            raise NotQueued(before, "before")
        if position is not None and not 0 <= position < len(own):
            raise IndexError(position)
        moving = own.pop(ids.index(video_id))
        at = position if position is not None else len(own) if before is None else \
            next(index for index, video in enumerate(own) if video.id == before)
        own.insert(at, moving)
        _retag(own, sorted(video.fair_key for video in own))
        return [video.id for video in own]


def _retag(videos: list[Video], tags: list[int]) -> None:
    """Give videos (in the order wanted) the tags, strictly increasing, each at least the one given."""
    previous = None
    for video, tag in zip(videos, tags, strict=True):
        tag = tag if previous is None else max(tag, previous + 1)
        if video.fair_key != tag:
            video.fair_key = tag
        previous = tag


def paused_at(session, client: str) -> float | None:
    pause = session.get(QueuePause, client)
    return None if pause is None else pause.paused_at


def pause(store: Store, client: str) -> float:
    """Pause the client's queue (again: no change); returns since when it is paused."""
    with store.write() as session:
        pause = session.get(QueuePause, client)
        if pause is None:
            pause = QueuePause(client=client, paused_at=time.time())
            session.add(pause)
        return pause.paused_at


def resume(store: Store, client: str) -> bool:
    """Let workers take the client's queued videos again, their tags moved up to the current turn
    where they fell behind it (the module's docstring says why). False when it was not paused."""
    with store.write() as session:
        pause = session.get(QueuePause, client)
        if pause is None:
            return False
        own = queued(session, client, lock=True)
        turn = current_turn(session)  # others' turn: theirs are still paused here
        if own and turn is not None and own[0].fair_key < turn:
            _retag(own, [max(video.fair_key, turn) for video in own])
        session.delete(pause)
        return True


def batch(store: Store, batch_id: str) -> list[Video]:
    """The videos of one group (a request's variants, or a batch), in order."""
    with store.read() as session:
        return list(session.scalars(select(Video).where(Video.batch_id == batch_id)
                                    .order_by(Video.variant, Video.created_at, Video.id)))


def counts(session, client: str) -> dict[str, int]:
    """How many of the client's videos are queued and running."""
    rows = session.execute(select(Video.status, func.count()).where(
        Video.client == client, Video.status.in_((QUEUED, RUNNING))).group_by(Video.status)).all()
    return {QUEUED: 0, RUNNING: 0, **dict(rows)}
