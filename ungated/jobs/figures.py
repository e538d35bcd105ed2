"""Live figures of a server, for its admins: the queue, the running jobs, the clips made in the
last hour, the workers connected, the members and the reports waiting."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from .queue import COMPLETED, QUEUED, RUNNING, WORKER_GONE_SECONDS
from .schema import Member, Report, Training, Video, Worker
from .store import Store


def server_figures(store: Store) -> dict[str, int]:
    now = time.time()

    def count(table, *where) -> int:
        return session.scalar(select(func.count()).select_from(table).where(*where)) or 0

    with store.read() as session:
        return {
            "queue_length": count(Video, Video.status == QUEUED) + count(Training, Training.status == QUEUED),
            "running_jobs": count(Video, Video.status == RUNNING) + count(Training, Training.status == RUNNING),
            "clips_last_hour": count(Video, Video.status == COMPLETED, Video.completed_at > now - 3600),
            "workers_connected": count(Worker, Worker.seen_at > now - WORKER_GONE_SECONDS),
            "members": count(Member),
            "open_reports": count(Report, Report.status == "open"),
        }
