"""The queue: every state change of a job is one guarded statement on the store, so any number of
API servers and worker processes on any number of machines can share it.

Order. Queued jobs are taken by priority, then by a fair-share tag, then by age. A client's jobs
get consecutive tags starting at the queue's current tag (the smallest tag still waiting), so a
client who queues 50 jobs and one who then queues 1 take turns: the newcomer's job is next but one.
A client may reorder their own queued jobs, which permutes their own tags only, and pause their own
queue, which no claim takes a job from while it lasts (jobs/own_queue.py): neither lets anyone's
jobs go ahead of another client's turn.

Trainings (the `trainings` table) are jobs of the same queue: a worker takes whichever job for its
models is older, a video or a training, and holds either under the same lease rules. The job's id
says its table ("video_..." or "train_...").

Claims. A worker claims the first job for a model it serves with a random lease token and a lease
that it renews while it works. Every later write about the job (progress, completion, failure) is
guarded by that token: a worker whose lease ran out and whose job went to another worker can no
longer write, so a job never produces two results. Jobs whose lease expired go back to the queue
(up to MAX_ATTEMPTS claims in all), which is how a killed or hung worker's job gets done anyway.

Whose fault. An attempt counts against the job only when the job may be to blame. A worker's id
names its process and the `serve` that started it (pid and start time each, so a reused pid is not
taken for them). On the worker's host, reaping tells three cases apart:
- the worker is alive: its job stays its own (after a database outage its lease may have run
  out, and it renews it as soon as it can), unless it has been silent for HUNG_SECONDS;
- the worker is dead and so is its `serve`: the server went down (killed, crashed, the machine
  lost power), which is not the job's fault: it goes back to the queue, the attempt not counted;
- the worker died while its `serve` lived (a segfault, the OOM killer, a worker run on its own):
  the attempt counts.
Elsewhere only an expired lease tells, and it counts.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import func, or_, select, update

from . import processes, quotas
from .quotas import OverLimit, Quota
from .schema import JobState, ModelStats, QueuePause, Training, Video, Worker
from .store import Store

LEASE_SECONDS = 30.0  # a worker renews its lease well within this (see worker.HEARTBEAT_SECONDS)
HUNG_SECONDS = 300.0  # a live worker on the reaper's host whose lease ran out this long ago is hung
MAX_ATTEMPTS = 3
RETRY_DELAYS = (2.0, 10.0)  # seconds before the second and third attempts
WORKER_GONE_SECONDS = 30.0  # a worker not seen for this long no longer counts for ETAs
DEFAULT_SECONDS_PER_STEP = 1.0  # until a model has finished a job here

QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED = "queued", "in_progress", "completed", "failed", "cancelled"
FINISHED = (COMPLETED, FAILED, CANCELLED)


@dataclass(frozen=True)
class Limits:
    per_minute: int  # clips asked for in any 60 seconds
    concurrent: int  # clips queued or running at once
    quota: Quota | None = None  # a member's daily quota (jobs/quotas.py)


class LeaseLost(Exception):
    """The job is no longer this worker's: its lease expired and it was requeued, or it was deleted."""


def new_id(prefix: str = "video_") -> str:
    return prefix + secrets.token_hex(16)


TRAINING_PREFIX = "train_"


def table_of(job_id: str) -> type[Video] | type[Training]:
    return Training if job_id.startswith(TRAINING_PREFIX) else Video


@dataclass(frozen=True)
class NewJob:
    """One clip to make, as the API planned it."""

    model: str
    requested_model: str
    request: dict
    prompt: str
    size: str
    seconds: float
    seed: int
    steps: int  # sampling steps: ETAs are steps times the model's measured seconds per step
    remixed_from: str | None = None
    public: bool | None = None  # listed in the feed; None: as submit's `public` says


def submit(store: Store, jobs: list[NewJob], client: str = "local", artist: str = "", priority: int = 0,
           public: bool = True, limits: Limits | None = None) -> list[Video]:
    """Queue the clips of one request (one per variant) or of a batch, as one group in order (one
    batch id, `variant` their index), and return their rows. With limits, raises
    OverLimit instead when the client would go over them (checked and queued in one transaction)."""
    now = time.time()
    batch = new_id("batch_")
    with store.write() as session:
        if limits is not None:
            check_limits(session, client, len(jobs), limits, now)
        waiting = current_turn(session)
        if waiting is None:
            waiting = session.scalar(select(func.max(Video.fair_key)).where(Video.status == RUNNING)) or 0
        own = session.scalar(select(func.max(Video.fair_key)).where(Video.status == QUEUED, Video.client == client))
        first = waiting if own is None else max(waiting, own + 1)
        rows = [
            Video(id=new_id(), created_at=now, status=QUEUED, model=job.model, requested_model=job.requested_model,
                  request=job.request, prompt=job.prompt, size=job.size, seconds=job.seconds, seed=job.seed,
                  steps=job.steps, client=client, artist=artist, batch_id=batch, variant=index,
                  remixed_from=job.remixed_from, public=public if job.public is None else job.public,
                  preview_step=0, priority=priority,
                  fair_key=first + index, not_before=0.0,
                  attempts=0, cancel_requested=False, progress=0, step=0)
            for index, job in enumerate(jobs)
        ]
        session.add_all(rows)
    return rows


def record_made(store: Store, video_id: str, job: NewJob, result: str, client: str, artist: str,
                public: bool) -> Video:
    """Record a clip the server made itself, outside the queue (a storyboard's stitched clip): a
    completed video from the start, never claimed by a worker."""
    now = time.time()
    row = Video(id=video_id, created_at=now, started_at=now, completed_at=now, status=COMPLETED, model=job.model,
                requested_model=job.requested_model, request=job.request, prompt=job.prompt, size=job.size,
                seconds=job.seconds, seed=job.seed, steps=job.steps, client=client, artist=artist,
                batch_id=new_id("batch_"), variant=0, remixed_from=job.remixed_from, public=public, preview_step=0,
                priority=0, fair_key=0, not_before=0.0, attempts=0, cancel_requested=False, progress=100,
                step=job.steps, result=result)
    with store.write() as session:
        session.add(row)
    return row


def submit_training(store: Store, model: str, name: str, dataset: str, options: dict, steps: int,
                    client: str = "local", active_limit: int | None = None, quota: Quota | None = None) -> Training:
    """Queue a training run. With active_limit, raises OverLimit instead when the client already
    has that many queued or running; with a quota, when it is spent."""
    with store.write() as session:
        if quota is not None:
            quotas.check_training(session, client, quota, time.time())
        if active_limit is not None:
            active = session.scalar(select(func.count()).where(
                Training.client == client, Training.status.in_((QUEUED, RUNNING))))
            if active >= active_limit:
                raise OverLimit(f"this key may have {active_limit} training run(s) queued or running at once; "
                                "wait for one to finish or cancel it")
        training = Training(id=new_id(TRAINING_PREFIX), created_at=time.time(), status=QUEUED, model=model, name=name,
                            dataset=dataset, options=options, steps=steps, stage="", client=client, priority=0,
                            not_before=0.0, attempts=0, cancel_requested=False, progress=0, step=0)
        session.add(training)
    return training


def current_turn(session) -> int | None:
    """The queue's current fair-share tag: the smallest still waiting to be taken. A paused
    client's jobs are not waiting to be taken: their old tags would let newcomers in ahead."""
    return session.scalar(select(func.min(Video.fair_key)).where(Video.status == QUEUED, not_paused(Video)))


def not_paused(table: type[JobState]):
    """The condition that a job's client has not paused their queue."""
    return table.client.not_in(select(QueuePause.client).scalar_subquery())


def check_limits(session, client: str, wanted: int, limits: Limits, now: float) -> None:
    if session.get_bind().dialect.name == "postgresql":  # SQLite's write transactions already queue up
        session.execute(select(func.pg_advisory_xact_lock(func.hashtext(client))))
    recent = session.scalar(select(func.count()).where(Video.client == client, Video.created_at > now - 60))
    if recent + wanted > limits.per_minute:
        raise OverLimit(f"this key may ask for {limits.per_minute} videos a minute; it asked for {recent} in the "
                        f"last minute (and {wanted} now); try again shortly")
    active = session.scalar(select(func.count()).where(Video.client == client, Video.status.in_((QUEUED, RUNNING))))
    if active + wanted > limits.concurrent:
        who, limit = ("concurrent_jobs: you", "concurrent_jobs") if limits.quota else ("this key", None)
        raise OverLimit(f"{who} may have {limits.concurrent} videos queued or running at once; it has {active} "
                        f"(and asked for {wanted} more); wait for some to finish", limit)
    if limits.quota is not None:
        quotas.check_clips(session, client, wanted, limits.quota, now)


def claim(store: Store, worker: str, models: list[str], published_prompts_only: bool = False) -> Video | None:
    """Take the next video to make for one of models, or None when there is none (with
    published_prompts_only, none whose prompt its artist keeps private: for untrusted workers)."""
    published = _published_prompt() if published_prompts_only else None
    return _claim(store, Video, worker, models, (Video.priority.desc(), Video.fair_key, Video.created_at, Video.id),
                  where=() if published is None else (published,), preview_step=0)


def _published_prompt():
    """The condition that a video's prompt is published (`publish_prompt` is not false)."""
    choice = Video.request["provenance"]["publish_prompt"].as_boolean()
    return or_(choice.is_(None), choice.is_(True))


def claim_training(store: Store, worker: str, models: list[str]) -> Training | None:
    """Take the next training run for one of models, or None when there is none."""
    return _claim(store, Training, worker, models, (Training.priority.desc(), Training.created_at, Training.id),
                  stage="")


def claim_next(store: Store, worker: str, models: list[str]) -> Video | Training | None:
    """Take the older of the next video and the next training run for models (the queue is one)."""
    now = time.time()
    oldest = {table: _oldest_waiting(store, table, models, now) for table in (Video, Training)}
    if oldest[Training] is None:
        return claim(store, worker, models) if oldest[Video] is not None else None
    if oldest[Video] is None or oldest[Training] < oldest[Video]:
        return claim_training(store, worker, models) or claim(store, worker, models)
    return claim(store, worker, models) or claim_training(store, worker, models)


def _oldest_waiting(store: Store, table: type[JobState], models: list[str], now: float) -> float | None:
    """When the oldest job waiting in table for one of models was queued, or None."""
    with store.read() as session:
        return session.scalar(select(func.min(table.created_at)).where(
            table.status == QUEUED, table.model.in_(models), table.not_before <= now, not_paused(table)))


def _claim(store: Store, table: type[JobState], worker: str, models: list[str], order: tuple, where: tuple = (),
           **reset):
    now = time.time()
    first = (
        select(table.id)
        .where(table.status == QUEUED, table.model.in_(models), table.not_before <= now, not_paused(table), *where)
        .order_by(*order)
        .limit(1)
        .with_for_update(skip_locked=True)  # PostgreSQL: concurrent claimers skip each other's row
        .scalar_subquery()
    )
    statement = (
        update(table)
        .where(table.id == first, table.status == QUEUED)
        .values(status=RUNNING, worker=worker, lease_token=secrets.token_hex(8), lease_until=now + LEASE_SECONDS,
                attempts=table.attempts + 1, started_at=now, step=0, progress=0, **reset)
        .returning(table)
        .execution_options(synchronize_session=False)
    )
    with store.write(durable=False) as session:  # a claim lost in a crash leaves the job queued: harmless
        return session.scalars(statement).first()


def _guarded(job_id: str, token: str):
    """An UPDATE of a job that only the worker holding its lease token can make."""
    table = table_of(job_id)
    return (update(table).where(table.id == job_id, table.lease_token == token, table.status == RUNNING)
            .execution_options(synchronize_session=False))


def heartbeat(store: Store, video_id: str, token: str, step: int | None = None, total: int | None = None,
              preview_step: int = 0, stage: str | None = None) -> bool:
    """Renew the lease (and record progress, the latest preview frame's step of a video, the stage
    of a training run); returns whether a cancel was asked for."""
    values = {"lease_until": time.time() + LEASE_SECONDS}
    if step is not None and total:
        values |= {"step": step, "progress": min(99, int(100 * step / total))}
    if preview_step:
        values["preview_step"] = preview_step
    if stage is not None:
        values["stage"] = stage
    statement = _guarded(video_id, token).values(**values).returning(table_of(video_id).cancel_requested)
    with store.write(durable=False) as session:
        cancel = session.scalars(statement).first()
    if cancel is None:
        raise LeaseLost(video_id)
    return cancel


def complete(store: Store, video_id: str, token: str, result: str, seconds_per_step: float | None = None,
             run_seconds: float | None = None) -> bool:
    """Record the finished clip; False when the job is no longer this worker's (its files are not the result).
    The token decides, not the lease's time: a worker whose lease ran out during a database outage
    while no one took the job over still completes it. Safe to repeat after a try whose answer was
    lost: the result path is the attempt's own. The job's GPU time is what its worker reports
    (run_seconds), never more than the attempt's wall time, which stands in when it reports none."""
    now = time.time()
    table = table_of(video_id)
    wall = now - func.coalesce(table.started_at, now)
    smaller = func.least if store.engine.dialect.name == "postgresql" else func.min  # SQLite's min of two
    spent = wall if run_seconds is None else smaller(wall, max(run_seconds, 0.0))
    with store.write() as session:
        statement = _guarded(video_id, token).values(
            status=COMPLETED, progress=100, completed_at=now, result=result, lease_token=None, lease_until=None,
            error_code=None, error_message=None, run_seconds=spent).returning(table.model)
        model = session.scalars(statement).first()
        if model is None:  # not ours, unless an earlier try was recorded but its answer lost
            return session.scalar(select(table.status).where(table.id == video_id, table.result == result)) == COMPLETED
        if seconds_per_step:
            _record_speed(session, model if table_of(video_id) is Video else training_stats_key(model),
                          seconds_per_step)
    return True


def _record_speed(session, model: str, seconds_per_step: float) -> None:
    stats = session.get(ModelStats, model)
    if stats is None:
        session.add(ModelStats(model=model, seconds_per_step=seconds_per_step, jobs=1))
    else:
        stats.seconds_per_step = moving_average(stats.seconds_per_step, seconds_per_step)
        stats.jobs += 1


def moving_average(average: float | None, seconds_per_step: float) -> float:
    """A measured speed's running average, which follows a changed setup within a few jobs."""
    return seconds_per_step if average is None else 0.7 * average + 0.3 * seconds_per_step


def fail(store: Store, video_id: str, token: str, code: str, message: str, retry: bool) -> str | None:
    """Record a failed attempt: back to the queue while attempts remain and retry is sensible, else
    failed. Returns the new status, or None when the job was no longer this worker's."""
    with store.write() as session:
        video = session.get(table_of(video_id), video_id)
        if video is None or video.lease_token != token or video.status != RUNNING:
            return None
        _end_attempt(video, code, message, retry and not video.cancel_requested)
        return video.status


def _end_attempt(video: JobState, code: str, message: str, retry: bool) -> None:
    now = time.time()
    video.error_code, video.error_message = code, message
    video.worker = video.lease_token = video.lease_until = None
    if video.cancel_requested:
        video.status, video.completed_at, video.error_code = CANCELLED, now, "cancelled"
    elif retry and video.attempts < MAX_ATTEMPTS:
        video.status, video.progress, video.step = QUEUED, 0, 0
        video.not_before = now + RETRY_DELAYS[min(video.attempts, len(RETRY_DELAYS)) - 1]
    else:
        video.status, video.completed_at = FAILED, now


def _handed_back(attempts) -> dict:
    """The values of a job given back to the queue untouched: the attempt not counted (attempts:
    the count with it, a column or a number)."""
    return dict(status=QUEUED, worker=None, lease_token=None, lease_until=None, progress=0, step=0,
                attempts=attempts - 1)


def release(store: Store, video_id: str, token: str) -> None:
    """Give a job back untouched (the worker is shutting down): queued again, the attempt not counted."""
    with store.write() as session:
        session.execute(_guarded(video_id, token).values(**_handed_back(table_of(video_id).attempts)))


def release_held(store: Store, worker: str) -> list[str]:
    """Give back, uncounted, the jobs the store says a worker holds while it holds none: a claim
    can be recorded although its answer was lost (the database went away as it committed)."""
    handed = []
    with store.write() as session:
        for table in (Video, Training):
            statement = (update(table).where(table.worker == worker, table.status == RUNNING)
                         .values(**_handed_back(table.attempts)).returning(table.id))
            handed += session.scalars(statement.execution_options(synchronize_session=False))
    return handed


def release_all(store: Store, worker_prefix: str) -> list[str]:
    """Give back, uncounted, every running job of the workers whose id starts with worker_prefix
    (a revoked remote worker token's: `remote:<token id>:`); their leases stop at once."""
    handed = []
    with store.write() as session:
        for table in (Video, Training):
            statement = (update(table).where(table.worker.startswith(worker_prefix, autoescape=True),
                                             table.status == RUNNING)
                         .values(**_handed_back(table.attempts)).returning(table.id))
            handed += session.scalars(statement.execution_options(synchronize_session=False))
    return handed


def finish_cancelled(store: Store, video_id: str, token: str) -> None:
    with store.write() as session:
        statement = _guarded(video_id, token).values(
            status=CANCELLED, completed_at=time.time(), worker=None, lease_token=None, lease_until=None,
            error_code="cancelled", error_message="cancelled before it finished")
        session.execute(statement)


def cancel(store: Store, video_id: str) -> str | None:
    """Cancel a queued job at once, or ask a running one's worker to stop at its next step.
    Returns the status after the call, or None for an unknown id."""
    with store.write() as session:
        video = session.get(table_of(video_id), video_id)
        if video is None:
            return None
        _cancel(video)
        return video.status


def cancel_videos(store: Store, *conditions) -> list[str]:
    """Cancel, as `cancel` does, every queued or running video meeting conditions (a client's, a
    batch's); returns their ids."""
    with store.write() as session:
        videos = session.scalars(select(Video).where(*conditions, Video.status.in_((QUEUED, RUNNING)))
                                 .order_by(Video.created_at, Video.id).with_for_update()).all()
        for video in videos:
            _cancel(video)
        return [video.id for video in videos]


def _cancel(job: JobState) -> None:
    if job.status == QUEUED:
        job.status, job.completed_at = CANCELLED, time.time()
        job.error_code, job.error_message = "cancelled", "cancelled while queued"
    elif job.status == RUNNING:
        job.cancel_requested = True


def resume(store: Store, training_id: str) -> str | None:
    """Queue a cancelled or failed training run again: it continues from its last checkpoint.
    Returns the status after the call, or None for an unknown id."""
    with store.write() as session:
        training = session.get(Training, training_id)
        if training is None:
            return None
        if training.status in (FAILED, CANCELLED):
            training.status, training.attempts, training.cancel_requested = QUEUED, 0, False
            training.not_before, training.completed_at, training.stage = 0.0, None, ""
            training.error_code = training.error_message = None
        return training.status


def fail_waiting(store: Store, model: str, message: str) -> int:
    """Fail the videos still queued for a model that is gone (no worker would ever take them)."""
    with store.write() as session:
        result = session.execute(
            update(Video).where(Video.status == QUEUED, Video.model == model)
            .values(status=FAILED, completed_at=time.time(), error_code="model_removed", error_message=message)
            .execution_options(synchronize_session=False))
        return result.rowcount


def reap(store: Store, host: str | None = None) -> list[str]:
    """Requeue (or fail, once out of attempts) the jobs of workers that are gone: leases that ran
    out, and on `host`, workers whose process no longer exists (see "Whose fault" above for
    which attempts count). Returns the ids handled."""
    now = time.time()
    handled = []
    with store.write() as session:
        running = [*session.scalars(select(Video).where(Video.status == RUNNING)),
                   *session.scalars(select(Training).where(Training.status == RUNNING))]
        for job in running:
            verdict = _verdict(job, host, now)
            if verdict == "server_down":
                for name, value in _handed_back(job.attempts).items():
                    setattr(job, name, value)
            elif verdict == "lost":
                _end_attempt(job, "worker_lost", f"the worker ({job.worker}) stopped answering", retry=True)
            if verdict:
                handled.append(job.id)
        if host:
            for worker in session.scalars(select(Worker).where(Worker.host == host)).all():
                holder = processes.holder(worker.id)
                if not processes.alive(holder[1] if holder else str(worker.pid)):
                    session.delete(worker)
    return handled


def _verdict(job: JobState, host: str | None, now: float) -> str | None:
    """Whether a running job's worker is gone: "lost" (the attempt counts), "server_down" (the
    worker died with its serve: it does not), or None (it is not gone)."""
    expired = job.lease_until is not None and job.lease_until < now
    holder = processes.holder(job.worker)
    if not (host and holder and holder[0] == host):
        return "lost" if expired else None
    _, process, parent = holder
    if processes.alive(process):
        return "lost" if expired and job.lease_until < now - HUNG_SECONDS else None
    return "server_down" if parent and not processes.alive(parent) else "lost"


def register_worker(store: Store, worker: str, host: str, models: list[str]) -> None:
    now = time.time()
    with store.write() as session:
        session.merge(Worker(id=worker, host=host, pid=os.getpid(), models=models, started_at=now, seen_at=now))


def touch_worker(store: Store, worker: str) -> None:
    with store.write() as session:
        session.execute(update(Worker).where(Worker.id == worker).values(seen_at=time.time()))


def unregister_worker(store: Store, worker: str) -> None:
    with store.write() as session:
        row = session.get(Worker, worker)
        if row is not None:
            session.delete(row)


def ids_starting(store: Store, prefix: str) -> list[str]:
    """The ids of the videos whose id starts with prefix (what a watermark's short id points to)."""
    with store.read() as session:
        return list(session.scalars(select(Video.id).where(Video.id.startswith(prefix))))


def ids_waiting(store: Store, client: str) -> list[str]:
    """The client's videos and training runs that are queued or running."""
    with store.read() as session:
        return [job_id for table in (Video, Training) for job_id in session.scalars(
            select(table.id).where(table.client == client, table.status.in_((QUEUED, RUNNING))))]


@dataclass(frozen=True)
class Outlook:
    position: int | None  # jobs ahead in the queue (0: next); None once it has started
    eta_seconds: float | None  # until it finishes, at the pace of at least one worker
    workers: int | None = None  # live workers serving its model (None once it has finished)
    paused: bool = False  # its client paused their queue: it keeps its place, no worker takes it


def outlook(session, video: Video) -> Outlook:
    """Where a job stands: its place in the queue and when it should be done."""
    return outlooks(session, [video])[video.id]


def training_stats_key(model: str) -> str:
    """Where the measured seconds per training step of a model's runs are kept."""
    return f"training:{model}"


def pool(model: str) -> str:
    """The workers a model's jobs wait for: trained built-in models share the built-in model's."""
    return "builtin" if model.startswith("builtin/") else model


def outlooks(session, videos: list[Video]) -> dict[str, Outlook]:
    """Where each job stands, from the measured speed of its model and the workers serving it; a
    few queries per model, however many jobs are asked about. Training runs for the same workers
    count too: running ones by their own pace so far, queued ones ahead of a video by age (the
    order claim_next takes them in). A paused client's jobs count for no one's place: theirs keep
    the place they would have, with no ETA."""
    result = {video.id: Outlook(None, None) for video in videos if video.status in FINISHED}
    paused = set(session.scalars(select(QueuePause.client)))
    seen = time.time() - WORKER_GONE_SECONDS
    live_workers = session.scalars(select(Worker.models).where(Worker.seen_at > seen)).all()
    for model in {video.model for video in videos if video.id not in result}:
        stats = session.get(ModelStats, model)
        per_step = stats.seconds_per_step if stats else DEFAULT_SECONDS_PER_STEP
        serving = sum(pool(model) in models for models in live_workers)
        workers = max(1, serving)
        running_steps = session.scalar(
            select(func.coalesce(func.sum(Video.steps * (100 - Video.progress) / 100.0), 0))
            .where(Video.status == RUNNING, Video.model == model))
        waiting = session.execute(
            select(Video.id, Video.steps, Video.client).where(Video.status == QUEUED, Video.model == model)
            .order_by(Video.priority.desc(), Video.fair_key, Video.created_at, Video.id)).all()
        busy_seconds, queued_runs = _trainings(session, pool(model))
        position, ahead_steps, place = 0, 0, {}
        for video_id, steps, client in waiting:
            place[video_id] = (position, ahead_steps)
            if client not in paused:
                position, ahead_steps = position + 1, ahead_steps + steps
        for video in (v for v in videos if v.model == model and v.id not in result):
            if video.status == RUNNING:
                result[video.id] = Outlook(None, video.steps * (1 - video.progress / 100) * per_step, serving)
            elif video.id in place and video.client in paused:
                result[video.id] = Outlook(place[video.id][0], None, serving, paused=True)
            elif video.id in place:
                position, ahead = place[video.id]
                runs_ahead = [seconds for created, seconds in queued_runs if created < video.created_at]
                load = (ahead + running_steps) * per_step + busy_seconds + sum(runs_ahead)
                result[video.id] = Outlook(position + len(runs_ahead), load / workers + video.steps * per_step, serving)
            else:  # changed state since it was read
                result[video.id] = Outlook(None, None, serving)
    return result


def _trainings(session, model: str) -> tuple[float, list[tuple[float, float]]]:
    """(seconds the model's running training runs still need, [(created_at, seconds)] of its
    queued ones), from each run's pace so far or the model's measured seconds per training step."""
    stats = session.get(ModelStats, training_stats_key(model))
    per_step = stats.seconds_per_step if stats else DEFAULT_SECONDS_PER_STEP
    busy, queued = 0.0, []
    runs = session.execute(select(Training.status, Training.created_at, Training.started_at, Training.step,
                                  Training.steps).where(Training.model == model, or_(
                                      Training.status == RUNNING, (Training.status == QUEUED) & not_paused(Training)))
                           ).all()
    for status, created_at, started_at, step, steps in runs:
        if status == RUNNING:
            busy += training_seconds_left(started_at, step, steps, per_step)
        else:
            queued.append((created_at, steps * per_step))
    return busy, queued


def training_seconds_left(started_at: float | None, step: int, steps: int, per_step: float | None = None
                          ) -> float | None:
    """What a running training run still needs: its pace since it started times the steps left
    (before its first step, per_step instead; None when that is not given either)."""
    if step and started_at:
        return (time.time() - started_at) / step * (steps - step)
    return None if per_step is None else per_step * (steps - step)
