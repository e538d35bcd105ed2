"""Daily quotas that share a community's GPUs fairly: clips and GPU-seconds per member per day (a
UTC day), and how many clips and training runs one member may have queued or running at once.

The defaults are config.toml's [community] section (settings.community); a member may have
overrides (Member.quota), set by an admin. A limit is a whole number, or "unlimited" (None here).
GPU-seconds are what the workers reported for each finished job (queue.complete records them as
run_seconds), so a job in flight counts once it ends: a member may run over by the jobs they
already had running."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields

from sqlalchemy import func, or_, select

from .schema import Training, Video

DAY = 86400.0
QUEUED, RUNNING, CANCELLED = "queued", "in_progress", "cancelled"


@dataclass(frozen=True)
class Quota:
    clips_per_day: int | None = 100
    gpu_seconds_per_day: int | None = 3600
    concurrent_jobs: int | None = 20  # a batch of ten, and ten more waiting
    concurrent_trainings: int | None = 1

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in fields(cls))

    def over(self, overrides: dict | None) -> "Quota":
        """This quota with overrides: {name: a whole number or "unlimited"}; other names are ignored."""
        known = {name: None if value == "unlimited" else value
                 for name, value in (overrides or {}).items() if name in self.names()}
        return Quota(**{**asdict(self), **known})

    def as_dict(self) -> dict:
        return asdict(self)


class OverLimit(Exception):
    """A client asked for more than its key or quota allows; the message says which limit. A
    member's quota names the limit (`param`) and when it resets (`retry_after`, in seconds)."""

    def __init__(self, message: str, param: str | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.param, self.retry_after = param, retry_after


UNLIMITED = Quota(None, None, None, None)


def day_start(now: float) -> float:
    return now - now % DAY


def resets_at(now: float) -> float:
    return day_start(now) + DAY


def used(session, client: str, now: float | None = None) -> dict[str, float]:
    """What a client has used of each limit today (and has queued or running now)."""
    now = time.time() if now is None else now
    since = day_start(now)
    return {"clips_per_day": _clips_today(session, client, since),
            "gpu_seconds_per_day": round(_gpu_seconds(session, client, since), 1),
            "concurrent_jobs": session.scalar(select(func.count()).where(
                Video.client == client, Video.status.in_((QUEUED, RUNNING)))) or 0,
            "concurrent_trainings": session.scalar(select(func.count()).where(
                Training.client == client, Training.status.in_((QUEUED, RUNNING)))) or 0}


def _clips_today(session, client: str, since: float) -> int:
    # A clip counts once asked for, unless it was cancelled before any worker started it.
    return session.scalar(select(func.count()).where(
        Video.client == client, Video.created_at >= since,
        or_(Video.status != CANCELLED, Video.started_at.is_not(None)))) or 0


def _gpu_seconds(session, client: str, since: float) -> float:
    total = 0.0
    for table in (Video, Training):
        total += session.scalar(select(func.coalesce(func.sum(table.run_seconds), 0.0)).where(
            table.client == client, table.completed_at >= since)) or 0.0
    return total


def check_clips(session, client: str, wanted: int, quota: Quota, now: float) -> None:
    """Raises OverLimit when `wanted` more clips would go over the day's clips or GPU time."""
    since = day_start(now)
    if quota.clips_per_day is not None:
        made = _clips_today(session, client, since)
        if made + wanted > quota.clips_per_day:
            _refuse("clips_per_day", f"you may make {quota.clips_per_day} clips a day and have made {made} today "
                                     f"(this asks for {wanted})", now)
    _check_gpu(session, client, quota, now)


def check_training(session, client: str, quota: Quota, now: float) -> None:
    if quota.concurrent_trainings is not None:
        active = session.scalar(select(func.count()).where(
            Training.client == client, Training.status.in_((QUEUED, RUNNING)))) or 0
        if active >= quota.concurrent_trainings:
            raise OverLimit(f"concurrent_trainings: you may have {quota.concurrent_trainings} training run(s) "
                            f"queued or running at once and have {active}; wait for one to finish or cancel it",
                            "concurrent_trainings")
    _check_gpu(session, client, quota, now)


def _check_gpu(session, client: str, quota: Quota, now: float) -> None:
    if quota.gpu_seconds_per_day is None:
        return
    spent = _gpu_seconds(session, client, day_start(now))
    if spent >= quota.gpu_seconds_per_day:
        _refuse("gpu_seconds_per_day", f"you may use {quota.gpu_seconds_per_day} GPU-seconds a day and have used "
                                       f"{spent:.0f} today", now)


def _refuse(limit: str, what: str, now: float) -> None:
    wait = resets_at(now) - now
    hours, minutes = int(wait // 3600), int(wait % 3600 // 60)
    when = time.strftime("%H:%M UTC", time.gmtime(resets_at(now)))
    raise OverLimit(f"{limit}: {what}. It resets at {when} (in {hours} h {minutes} min).", limit, wait)
