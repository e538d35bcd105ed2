"""A worker process: claims jobs for the models it serves (videos to make and training runs), keeps
their engines loaded between videos, and reports progress while renewing its lease. Run by
`ungated serve` (one or more, supervised) or by `ungated worker` on other machines sharing the
store and the storage root.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from contextlib import suppress

from ..engines.base import Engine, EngineOptions
from ..errors import GenerationCancelled, TrainingCancelled, UngatedError
from ..generate import generate_clips
from ..media.pipeline import companion_paths
from ..media.previews import save_preview
from ..request import INPUT_FIELDS, Request, plan
from . import queue, trained, training
from .schema import JobState, Training, Video
from .storage import Storage
from .store import Store

log = logging.getLogger("ungated.worker")

HEARTBEAT_SECONDS = 5.0  # lease renewal when nothing else is written; LEASE_SECONDS is 6x this
PROGRESS_SECONDS = 0.25  # progress is written at most this often
PREVIEW_SECONDS = 1.5  # a preview frame is drawn at most this often
IDLE_POLL_SECONDS = 0.1
REAP_SECONDS = 5.0


def parent_gone(parent_pid: int | None) -> bool:
    """Whether the process that started this worker (serve) has died: the worker was re-parented."""
    return parent_pid is not None and os.getppid() != parent_pid


class LeaseKeeper(threading.Thread):
    """Beside a running job: writes its progress, renews its lease, and notices a cancel, a lost
    lease or the death of the parent process (serve), each of which stops the job at its next step."""

    def __init__(self, store: Store, video: JobState, parent_pid: int | None):
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

    def run(self) -> None:
        written, last_beat = None, time.monotonic()
        while not self._done.wait(PROGRESS_SECONDS):
            if parent_gone(self.parent_pid):
                self.orphaned = True
            current = (self.step, self.total, self.preview_step, self.stage)
            if current == written and time.monotonic() - last_beat < HEARTBEAT_SECONDS:
                continue
            try:
                self.cancelled = queue.heartbeat(self.store, self.video_id, self.token, *current) or self.cancelled
            except queue.LeaseLost:
                self.lost = True
                return
            except Exception as err:  # the store is briefly unreachable: keep working, try again
                log.warning("could not renew the lease of %s: %s", self.video_id, err)
                continue
            written, last_beat = current, time.monotonic()


class _Pace:
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
        self.id = f"{self.host}:{os.getpid()}:{secrets.token_hex(3)}"
        self.engines: dict[str, Engine] = {}
        self.stopping = threading.Event()  # set to stop: a running job is handed back to the queue

    def serve(self) -> None:
        """Claim and run jobs until stopping is set or the parent process is gone."""
        stop = self.stopping
        queue.register_worker(self.store, self.id, self.host, self.models)
        log.info("worker %s serving %s", self.id, ", ".join(self.models))
        last_reap = 0.0
        try:
            while not stop.is_set() and not parent_gone(self.parent_pid):
                if time.monotonic() - last_reap > REAP_SECONDS:
                    queue.reap(self.store, self.host)
                    queue.touch_worker(self.store, self.id)
                    last_reap = time.monotonic()
                job = queue.claim_next(self.store, self.id, self.serving())
                if job is None:
                    stop.wait(IDLE_POLL_SECONDS)
                    continue
                self.train(job) if isinstance(job, Training) else self.run(job)
        finally:
            with suppress(Exception):
                queue.unregister_worker(self.store, self.id)

    def serving(self) -> list[str]:
        """The model ids to claim jobs for: those given, and the trained built-in models with `builtin`."""
        return [*self.models, *trained.ids(self.storage)] if "builtin" in self.models else self.models

    def engine(self, model_id: str) -> Engine:
        """The model's engine, loaded once and kept warm. Only one open model stays loaded: a
        second would rarely fit beside the first."""
        key = trained.cache_key(model_id, self.storage)
        if key not in self.engines:
            if not model_id.startswith("builtin"):
                self._unload_open_engines()
            self.engines[key] = trained.engine(model_id, self.storage, self.options)
        return self.engines[key]

    def request_of(self, video: Video) -> Request:
        fields = dict(video.request)
        for name in INPUT_FIELDS:
            if fields.get(name):
                fields[name] = self.storage.resolve(fields[name])
        if fields.get("loras"):
            fields["loras"] = self.storage.lora_files(fields["loras"])
        return Request.build(**fields, seed=video.seed, variants=1)

    def run(self, video: Video) -> None:
        log.info("%s: %s (attempt %d)", video.id, video.model, video.attempts)
        keeper = LeaseKeeper(self.store, video, self.parent_pid)
        keeper.start()
        path = self.storage.clip_path(video.id, video.lease_token)
        try:
            engine = self.engine(video.model)
            the_plan = plan(self.request_of(video), engine.capabilities, engine.id)
            engine.load()
            started = time.monotonic()
            generate_clips(engine, the_plan, [path], self._progress(engine, keeper, video.id),
                           lambda: keeper.should_stop() or self.stopping.is_set(), artist=video.artist,
                           video_ids=[video.id])
            seconds_per_step = (time.monotonic() - started) / max(1, the_plan.steps)
        except GenerationCancelled:
            keeper.finish()
            self._discard(path)
            self._stopped(keeper, video, "")
            return
        except UngatedError as err:  # the request or the setup is wrong: another try will not help
            self._failed(keeper, video, path, "invalid_request", str(err), retry=False)
            return
        except Exception as err:  # out of memory, a bug, a bad GPU: worth another attempt
            log.exception("%s failed", video.id)
            self._failed(keeper, video, path, "generation_failed", f"{type(err).__name__}: {err}", retry=True)
            return
        keeper.finish()
        if keeper.lost or not queue.complete(self.store, video.id, video.lease_token, self.storage.relative(path),
                                             seconds_per_step):
            self._discard(path)  # another worker took the job over, or it was deleted
            return
        log.info("%s: completed", video.id)

    def train(self, job: Training) -> None:
        """Run a training job: the trainer checkpoints as it goes, so a stop (cancel, shutdown, a
        lost lease) loses at most the steps since the last checkpoint, and a retry resumes."""
        log.info("%s: training %s on %s (attempt %d)", job.id, job.model, job.dataset, job.attempts)
        if job.model != "builtin":  # the open model's pipeline needs the memory a warm engine holds
            self._unload_open_engines()
        keeper = LeaseKeeper(self.store, job, self.parent_pid)
        keeper.start()
        pace = _Pace()
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
            log.exception("%s failed", job.id)
            self._failed(keeper, job, None, "training_failed", f"{type(err).__name__}: {err}", retry=True)
            return
        keeper.finish()
        if not keeper.lost and queue.complete(self.store, job.id, job.lease_token, result, pace.seconds_per_step()):
            log.info("%s: completed (%s)", job.id, result)

    def _unload_open_engines(self) -> None:
        for other in [m for m in self.engines if not m.startswith("builtin")]:
            del self.engines[other]
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _stopped(self, keeper: LeaseKeeper, job: JobState, where: str) -> None:
        """A job stopped between steps: handed back to the queue (the worker is going away),
        cancelled, or no longer ours."""
        handed_back = keeper.orphaned or self.stopping.is_set()
        if handed_back:
            queue.release(self.store, job.id, job.lease_token)
        elif keeper.cancelled:
            queue.finish_cancelled(self.store, job.id, job.lease_token)
        log.info("%s: stopped%s (%s)", job.id, where, "handed back" if handed_back else
                 "cancelled" if keeper.cancelled else "lease lost")

    def _progress(self, engine: Engine, keeper: LeaseKeeper, video_id: str):
        """Progress for the lease keeper, and every PREVIEW_SECONDS a preview frame on disk. Runs
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
                save_preview(frame, self.storage.preview_path(video_id))
                keeper.previewed(step)

        return on_progress

    def _failed(self, keeper: LeaseKeeper, video: JobState, path, code: str, message: str, retry: bool) -> None:
        keeper.finish()
        if path is not None:
            self._discard(path)
        status = queue.fail(self.store, video.id, video.lease_token, code, message, retry)
        log.info("%s: %s -> %s", video.id, message, status)

    def _discard(self, path) -> None:
        for file in companion_paths(path):
            file.unlink(missing_ok=True)
