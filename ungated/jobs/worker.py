"""A worker process: claims jobs for the models it serves (videos to make and training runs), keeps
their engines loaded between videos, and reports progress while renewing its lease. Run by
`ungated serve` (one or more, supervised) or by `ungated worker` on other machines sharing the
store and the storage root.

A database that is down, restarting or refusing writes is waited out (outages.py), never a reason
to exit: between jobs the worker pauses and tries again; a finished job's result is recorded as
soon as the store takes it, since redoing the work would cost far more than waiting.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

import numpy as np
from sqlalchemy import select

from ..engines.base import Engine, EngineOptions
from ..errors import GenerationCancelled, TrainingCancelled, UngatedError
from ..generate import generate_clips
from ..media.pipeline import companion_paths, remove_leftovers
from ..media.previews import save_preview
from ..provenance.resign import resign
from ..request import INPUT_FIELDS, Request, plan
from . import outages, paths, processes, queue, trained, training
from .schema import JobState, Training, Video
from .storage import Storage
from .store import Store

log = logging.getLogger("ungated.worker")
T = TypeVar("T")

HEARTBEAT_SECONDS = 5.0  # lease renewal when nothing else is written; LEASE_SECONDS is 6x this
PROGRESS_SECONDS = 0.25  # progress is written at most this often
PREVIEW_SECONDS = 1.5  # a preview frame is drawn at most this often
IDLE_POLL_SECONDS = 0.1
REAP_SECONDS = 5.0
RELEASE_PATIENCE_SECONDS = 10.0  # how long a worker going away waits for the store to take its job back


def parent_gone(parent_pid: int | None) -> bool:
    """Whether the process that started this worker (serve) has died: the worker was re-parented."""
    return parent_pid is not None and os.getppid() != parent_pid


class LeaseKeeper(threading.Thread):
    """Beside a running job: writes its progress, renews its lease, and notices a cancel, a lost
    lease or the death of the parent process (serve), each of which stops the job at its next step."""

    def __init__(self, store: Store | None, video: JobState, parent_pid: int | None):
        super().__init__(daemon=True, name=f"lease-{video.id}")
        self.store, self.video_id, self.token, self.parent_pid = store, video.id, video.lease_token, parent_pid
        self.step: int | None = None
        self.total: int | None = None
        self.preview_step = 0
        self.stage: str | None = None  # a training run's
        self.cancelled = self.lost = self.orphaned = False
        self._done = threading.Event()

    def progress(self, step: int, total: int) -> None:
        self.step, self.total = step, total

    def previewed(self, step: int) -> None:
        self.preview_step = step

    def entered(self, stage: str) -> None:
        self.stage = stage

    def should_stop(self) -> bool:
        return self.cancelled or self.lost or self.orphaned

    def finish(self) -> None:
        self._done.set()
        self.join()

    def beat(self, step: int | None, total: int | None, preview_step: int, stage: str | None) -> bool:
        """Renew the lease, recording progress; whether a cancel was asked for. Raises
        queue.LeaseLost when the job is no longer ours (a remote worker's keeper beats over HTTP)."""
        return queue.heartbeat(self.store, self.video_id, self.token, step, total, preview_step, stage)

    def run(self) -> None:
        written, last_beat, failing = None, time.monotonic(), False
        while not self._done.wait(PROGRESS_SECONDS):
            if parent_gone(self.parent_pid):
                self.orphaned = True
            current = (self.step, self.total, self.preview_step, self.stage)
            if current == written and time.monotonic() - last_beat < HEARTBEAT_SECONDS:
                continue
            try:
                self.cancelled = self.beat(*current) or self.cancelled
            except queue.LeaseLost:
                self.lost = True
                return
            except Exception as err:  # the store is briefly unreachable: keep working, try again
                if not failing:
                    log.warning("could not renew the lease of %s (%s); working on, trying again",
                                self.video_id, outages.describe(err))
                failing = True
                continue
            if failing:
                log.info("renewed the lease of %s again", self.video_id)
            written, last_beat, failing = current, time.monotonic(), False


class TrainingPace:
    """Seconds per step of a training run, timed from its first step this attempt (not counting
    the preparation before it, nor the steps a resumed run had already done)."""

    def __init__(self):
        self.first: tuple[int, float] | None = None
        self.last: tuple[int, float] | None = None

    def around(self, progress):
        def timed(step: int, total: int) -> None:
            now = time.monotonic()
            if self.first is None:
                self.first = (step, now)
            self.last = (step, now)
            progress(step, total)

        return timed

    def seconds_per_step(self) -> float | None:
        if self.first is None or self.last[0] <= self.first[0]:
            return None
        return (self.last[1] - self.first[1]) / (self.last[0] - self.first[0])


class Worker:
    def __init__(self, store: Store, storage: Storage, models: list[str], options: EngineOptions = EngineOptions(),
                 parent_pid: int | None = None):
        self.store, self.storage, self.models, self.options = store, storage, models, options
        self.parent_pid = parent_pid
        self.host = socket.gethostname()
        self.id = processes.worker_id(self.host, parent_pid)
        self.engines: dict[str, Engine] = {}
        self.stopping = threading.Event()  # set to stop: a running job is handed back to the queue
        self._registered = False
        self._last_reap = 0.0
        self._unsure = False  # an outage struck while claiming: the store may hold a claim we never heard of

    def leaving(self) -> bool:
        """Whether the worker is going away: told to stop, or serve (its parent) is gone."""
        return self.stopping.is_set() or parent_gone(self.parent_pid)

    def serve(self) -> None:
        """Claim and run jobs until stopping is set or the parent process is gone."""
        log.info("worker %s serving %s", self.id, ", ".join(self.models))
        backoff = outages.Backoff()
        try:
            while not self.leaving():
                try:
                    job = self._next_job()
                except Exception as err:
                    if outages.classify(err) is None:
                        raise
                    self._unsure, pause = True, backoff.pause()
                    log.warning("the store is unavailable (%s); trying again in %.2g s", outages.describe(err), pause)
                    self.stopping.wait(pause)
                    continue
                backoff.reset()
                if job is None:
                    self.stopping.wait(IDLE_POLL_SECONDS)
                    continue
                self.train(job) if isinstance(job, Training) else self.run(job)
        finally:
            with suppress(Exception):
                queue.unregister_worker(self.store, self.id)

    def _next_job(self) -> Video | Training | None:
        if not self._registered:
            queue.register_worker(self.store, self.id, self.host, self.models)
            self._registered = True
        if self._unsure:  # between jobs this worker holds none: any the store says it holds goes back
            for job_id in queue.release_held(self.store, self.id):
                log.info("%s: handed back (its claim was recorded as the store went away)", job_id)
            self._unsure = False
        if time.monotonic() - self._last_reap > REAP_SECONDS:
            queue.reap(self.store, self.host)
            queue.touch_worker(self.store, self.id)
            self._last_reap = time.monotonic()
        return queue.claim_next(self.store, self.id, self.serving())

    def serving(self) -> list[str]:
        """The model ids to claim jobs for: those given, and the trained built-in models with `builtin`."""
        return [*self.models, *trained.ids(self.storage)] if "builtin" in self.models else self.models

    def engine(self, model_id: str) -> Engine:
        return warm_engine(self.engines, trained.cache_key(model_id, self.storage), model_id,
                           lambda: trained.engine(model_id, self.storage, self.options))

    def request_of(self, video: Video) -> Request:
        return job_request(video.request, video.seed, lambda _name, stored: self.storage.resolve(stored),
                           self.storage.lora_files)

    def run(self, video: Video) -> None:
        log.info("%s: %s (attempt %d)", video.id, video.model, video.attempts)
        keeper = LeaseKeeper(self.store, video, self.parent_pid)
        keeper.start()
        path = None
        try:
            path = self.storage.clip_path(video.id, video.lease_token)
            remove_leftovers(path)  # of earlier attempts, killed mid-write or before they could report
            engine = self.engine(video.model)
            preview = self.storage.preview_path(video.id)
            seconds_per_step = make_clip(
                engine, self.request_of(video), path,
                sampling_progress(engine, keeper, lambda frame: save_preview(frame, preview)),
                lambda: keeper.should_stop() or self.stopping.is_set(), video.artist, video.id)
            self._credit_current_artist(video, path)
        except GenerationCancelled:
            keeper.finish()
            self._discard(path)
            self._stopped(keeper, video, "")
            return
        except UngatedError as err:  # the request or the setup is wrong: another try will not help
            self._failed(keeper, video, path, "invalid_request", str(err), retry=False)
            return
        except Exception as err:  # out of memory, a bug, a bad GPU: worth another attempt
            self._failed(keeper, video, path, *_failure(video.id, err, "generation_failed"))
            return
        self._finished(keeper, video, self.storage.relative(path), seconds_per_step, path)

    def train(self, job: Training) -> None:
        """Run a training job: the trainer checkpoints as it goes, so a stop (cancel, shutdown, a
        lost lease) loses at most the steps since the last checkpoint, and a retry resumes."""
        log.info("%s: training %s on %s (attempt %d)", job.id, job.model, job.dataset, job.attempts)
        if job.model != "builtin":  # the open model's pipeline needs the memory a warm engine holds
            unload_open_engines(self.engines)
        keeper = LeaseKeeper(self.store, job, self.parent_pid)
        keeper.start()
        pace = TrainingPace()
        try:
            result = training.run(job, self.storage, pace.around(keeper.progress), keeper.entered,
                                  lambda: keeper.should_stop() or self.stopping.is_set())
        except TrainingCancelled as stopped:
            keeper.finish()
            self._stopped(keeper, job, f" at step {stopped.step}")
            return
        except UngatedError as err:  # the dataset or the setup is wrong: another try will not help
            self._failed(keeper, job, None, "invalid_request", str(err), retry=False)
            return
        except Exception as err:  # out of memory, a bug: worth another attempt, from the checkpoint
            self._failed(keeper, job, None, *_failure(job.id, err, "training_failed"))
            return
        self._finished(keeper, job, result, pace.seconds_per_step(), None)

    def _finished(self, keeper: LeaseKeeper, job: JobState, result: str, seconds_per_step: float | None,
                  clip: Path | None) -> None:
        """Record a finished job's result, waiting out an outage of the store while the lease keeper
        goes on renewing the lease. The clip is removed only when the job is surely not ours."""
        # (The keeper's lease is read first: once the result is recorded, the keeper finds it gone.)
        done = False if keeper.lost else self._record(
            lambda: queue.complete(self.store, job.id, job.lease_token, result, seconds_per_step),
            f"{job.id}: recording the result")
        keeper.finish()
        if done:
            log.info("%s: completed (%s)", job.id, result)
        elif done is False and clip is not None:
            self._discard(clip)  # another worker took the job over, or it was deleted
        # done is None: the store did not answer before the worker had to go. The clip stays; if the
        # result was not recorded, the job's next attempt removes it.

    def _record(self, action: Callable[[], T], what: str, give_up: Callable[[], bool] | None = None) -> T | None:
        """action(), tried again while the store is unavailable, until give_up() (by default: until
        the worker is going away); None when it gave up."""
        try:
            return outages.retry(action, what, give_up or self.leaving)
        except Exception as err:
            if outages.classify(err) is None:
                raise
            log.warning("%s: gave up waiting for the store (%s)", what, outages.describe(err))
            return None

    def _stopped(self, keeper: LeaseKeeper, job: JobState, where: str) -> None:
        """A job stopped between steps: handed back to the queue (the worker is going away),
        cancelled, or no longer ours."""
        handed_back = keeper.orphaned or self.stopping.is_set()
        if handed_back:  # a job left running is handed back by the reaper (uncounted, as serve is gone or going)
            deadline = time.monotonic() + RELEASE_PATIENCE_SECONDS
            self._record(lambda: queue.release(self.store, job.id, job.lease_token), f"{job.id}: handing it back",
                         give_up=lambda: time.monotonic() > deadline)
        elif keeper.cancelled:
            self._record(lambda: queue.finish_cancelled(self.store, job.id, job.lease_token),
                         f"{job.id}: recording the cancel")
        log.info("%s: stopped%s (%s)", job.id, where, "handed back" if handed_back else
                 "cancelled" if keeper.cancelled else "lease lost")

    def _credit_current_artist(self, video: Video, path) -> None:
        """Sign the clip again if its artist credit was changed while it was being made (the
        studio signs finished clips again itself)."""
        try:
            with self.store.read() as session:
                artist = session.scalar(select(Video.artist).where(Video.id == video.id))
        except Exception as err:  # the store is briefly away: the credit read at the claim stands
            log.warning("%s: could not check its artist credit (%s)", video.id, err)
            return
        if artist is not None and artist != video.artist:
            resign(path, artist)

    def _failed(self, keeper: LeaseKeeper, video: JobState, path, code: str, message: str, retry: bool) -> None:
        keeper.finish()
        if path is not None:
            self._discard(path)
        message = paths.in_member_terms(message, self.storage.root)  # members see their names, not ours
        status = self._record(lambda: queue.fail(self.store, video.id, video.lease_token, code, message, retry),
                              f"{video.id}: recording the failure")
        log.info("%s: %s -> %s", video.id, message, status)

    def _discard(self, path) -> None:
        for file in companion_paths(path):
            file.unlink(missing_ok=True)


def warm_engine(engines: dict[str, Engine], key: str, model_id: str, build: Callable[[], Engine]) -> Engine:
    """The engine kept under key in engines, built once and kept warm between jobs. Only one open
    model stays loaded: a second would rarely fit beside the first."""
    if key not in engines:
        if not model_id.startswith("builtin"):
            unload_open_engines(engines)
        engines[key] = build()
    return engines[key]


def unload_open_engines(engines: dict[str, Engine]) -> None:
    for other in [m for m in engines if not m.startswith("builtin")]:
        del engines[other]
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def job_request(stored: dict, seed: int | None, input_path: Callable[[str, str], Path],
                lora_files: Callable[[list], list[dict]]) -> Request:
    """The Request a job's stored fields describe: each input (named by INPUT_FIELDS) as
    input_path(field, stored value) gives it, and the library's LoRAs as lora_files gives them."""
    fields = dict(stored)
    for name in INPUT_FIELDS:
        if fields.get(name):
            fields[name] = input_path(name, fields[name])
    if fields.get("loras"):
        fields["loras"] = lora_files(fields["loras"])
    return Request.build(**fields, seed=seed, variants=1)


def sampling_progress(engine: Engine, keeper: LeaseKeeper, save: Callable[[np.ndarray], None]):
    """Progress for the lease keeper, and every PREVIEW_SECONDS a preview frame handed to save. Runs
    between sampling steps, on the generating thread, so the engine's state is consistent."""
    next_preview = time.monotonic() + PREVIEW_SECONDS / 2

    def on_progress(_variant: int, step: int, total: int) -> None:
        nonlocal next_preview
        keeper.progress(step, total)
        if time.monotonic() < next_preview:
            return
        next_preview = time.monotonic() + PREVIEW_SECONDS
        frame = engine.preview()
        if frame is not None:
            save(frame)
            keeper.previewed(step)

    return on_progress


def make_clip(engine: Engine, request: Request, path: Path, on_progress, should_stop: Callable[[], bool],
              artist: str, video_id: str, sign: bool = True) -> float:
    """Plan request for engine and make its one clip at path; the seconds each step took."""
    the_plan = plan(request, engine.capabilities, engine.id)
    engine.load()
    started = time.monotonic()
    generate_clips(engine, the_plan, [path], on_progress, should_stop, artist=artist, video_ids=[video_id],
                   sign=sign)
    return (time.monotonic() - started) / max(1, the_plan.steps)


def _failure(job_id: str, err: Exception, code: str) -> tuple[str, str, bool]:
    """(code, message, retry) of a job that raised err: a full disk fails it at once, saying so
    (another attempt would fail the same way until someone frees space); anything else is worth
    another attempt."""
    if outages.classify(err) == outages.STORAGE_FULL:
        log.warning("%s: storage full (%s)", job_id, outages.describe(err))
        return (outages.STORAGE_FULL, "the server's storage is full, so the result could not be written; "
                "ask its operator to free some space, then try again", False)
    log.exception("%s failed", job_id)
    return code, f"{type(err).__name__}: {err}", True
