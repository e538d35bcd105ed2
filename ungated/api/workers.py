"""The community GPU pool: workers anywhere join this server over HTTPS with a worker token
(`ungated workers add`), claim videos and training runs by long-poll, fetch what the job needs (a
video's inputs and LoRAs, a run's dataset and starting model), renew their lease and upload the
result: a video's MP4, which the server checks and signs itself (jobs/results.py), or a run's
model or LoRA, which it checks before adding it to the library (jobs/remote_runs.py). A token may
claim and report only its own jobs and read only those jobs' files; an untrusted token is never
given a training run (whose dataset and live view have calls of their own: worker_runs.py).
Admins manage tokens at /api/workers. The protocol: docs/service.md, "Remote workers".
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import math
import re
import time
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.requests import ClientDisconnect
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from ..errors import InvalidRequest
from ..jobs import audit, outages, queue, remote_runs, results, trained, training, worker_tokens
from ..jobs.schema import Training, Video, WorkerToken
from ..media.pipeline import companion_paths
from ..request import INPUT_FIELDS
from .access import Caller, admin_only, studio
from .errors import TYPES, ApiError
from .service import WORKER_CALL, Studio

log = logging.getLogger("ungated.api")
router = APIRouter(prefix="/api")

MAX_WAIT_SECONDS = 30.0
POLL_SECONDS = 0.5  # how often one shared look at the queue wakes the waiting claims
HEARTBEAT_SECONDS = 5
MAX_PREVIEW_BYTES = 2 * 2**20
INSTANCE = re.compile(r"[0-9a-f]{1,32}")
JOB_ID = re.compile(r"(video|train)_[0-9a-f]{32}")
ModelId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]*$")]


# 1. Who is calling: a worker token, live; and the job it holds.

def remote_worker(request: Request, studio: Studio = Depends(studio)) -> WorkerToken:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    secret = secret.strip() if scheme.lower() == "bearer" else ""
    token = worker_tokens.find(studio.store, secret) if secret.startswith(worker_tokens.PREFIX) else None
    if token is None:
        raise ApiError(401, "send a worker token as `Authorization: Bearer ugw_...` (the server's admin makes one "
                            "with `ungated workers add NAME`)", code="invalid_worker_token")
    if token.revoked_at is not None:
        raise ApiError(403, f"the worker token {token.name!r} was revoked by the server's admin", code="worker_revoked")
    return token


def held_job(studio: Studio, token: WorkerToken, job_id: str, lease_token: str,
             kind: type[Video] | type[Training] | None = None) -> Video | Training:
    """The running job (a video or a training run, as its id says) this token holds under
    lease_token, else 409 lease_lost; with kind, 404 for a job of the other kind."""
    table = queue.table_of(job_id)
    if kind is not None and table is not kind:
        raise ApiError(404, f"job {job_id!r} is not a {'training run' if kind is Training else 'video'}; this call "
                            "is for those", "job_id", "not_found")
    with studio.store.read() as session:
        job = session.get(table, job_id) if JOB_ID.fullmatch(job_id) else None
    if (job is None or job.status != queue.RUNNING or job.lease_token != lease_token
            or not (job.worker or "").startswith(worker_tokens.worker_prefix(token.id))):
        raise ApiError(409, f"job {job_id!r} is no longer this worker's (cancelled, handed to another worker, "
                            "deleted or revoked); drop it", "lease_token", "lease_lost")
    return job


class WorkerCalls:
    """ASGI: marks the worker protocol's calls (/api/worker/...) as WORKER_CALL for their whole
    handling, so clients' polls do not wait on a read after each heartbeat (service.Writes)."""

    PREFIX = "/api/worker/"

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.PREFIX):
            return await self.app(scope, receive, send)
        marked = WORKER_CALL.set(True)
        try:
            await self.app(scope, receive, send)
        finally:
            WORKER_CALL.reset(marked)


# 2. Claiming: a long-poll, with one shared look at the queue for all waiting workers.

class QueueWatch:
    """While claims wait, looks every POLL_SECONDS at which models have videos and training runs
    waiting and wakes the claims for them: 200 idle workers cost one query per tick, not 200. A job
    queued by this server looks again at once, so a waiting worker starts it without waiting for
    the tick."""

    def __init__(self, studio: Studio):
        self.studio = studio
        self.waiting: dict[type, set[str]] = {Video: set(), Training: set()}  # models with jobs waiting
        self._tick = asyncio.Event()
        self._queued = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._waiters = 0
        self._task: asyncio.Task | None = None
        studio.on_queued = self.queued

    def queued(self) -> None:
        """Something was queued (from any thread): look at the queue now."""
        with contextlib.suppress(RuntimeError):  # the server is shutting down: nobody is waiting
            self._loop.call_soon_threadsafe(self._queued.set)

    async def wait(self, models: set[str], timeout: float, kinds: tuple[type, ...] = (Video, Training)) -> bool:
        """Whether, within timeout, the next look finds a job of kinds waiting for one of models."""
        deadline = time.monotonic() + timeout
        self._waiters += 1
        try:
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._watch())
            while (left := deadline - time.monotonic()) > 0:
                tick = self._tick
                try:
                    await asyncio.wait_for(tick.wait(), left)
                except TimeoutError:
                    return False
                if any(self.waiting[kind] & models for kind in kinds):
                    return True
            return False
        finally:
            self._waiters -= 1

    async def _watch(self) -> None:
        while self._waiters:
            try:
                self.waiting = await asyncio.to_thread(self._queued_models)
            except Exception as err:  # an outage: the claims time out and their workers call again
                if outages.classify(err) is None:
                    log.exception("looking at the queue for remote workers failed")
                self.waiting = {Video: set(), Training: set()}
            tick, self._tick = self._tick, asyncio.Event()
            tick.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queued.wait(), POLL_SECONDS)
            self._queued.clear()

    def _queued_models(self) -> dict[type, set[str]]:
        now = time.time()
        with self.studio.store.read() as session:
            return {table: set(session.scalars(select(table.model).where(
                table.status == queue.QUEUED, table.not_before <= now, queue.not_paused(table)).distinct()))
                for table in (Video, Training)}


async def queue_watch(request: Request, studio: Studio = Depends(studio)) -> QueueWatch:
    if getattr(request.app.state, "queue_watch", None) is None:
        request.app.state.queue_watch = QueueWatch(studio)
    return request.app.state.queue_watch


class Claim(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: list[ModelId] = Field(min_length=1, max_length=50)
    instance: str = Field(pattern=INSTANCE.pattern)
    wait: float = Field(default=25.0, ge=0)


@router.post("/worker/claim", response_model=None)
async def claim(body: Claim, token: WorkerToken = Depends(remote_worker), studio: Studio = Depends(studio),
                watch: QueueWatch = Depends(queue_watch)) -> dict | Response:
    """The next job for one of the worker's models (those the token allows), in the local workers'
    order (the older of the next video and the next training run), or 204 after `wait` seconds. An
    untrusted token gets videos only: a member's dataset is their own."""
    if token.paused_at is not None:
        raise ApiError(403, f"the server paused this worker: {token.pause_reason or 'ask its admin'} "
                            "(an admin unpauses it with `ungated workers unpause`)", code="worker_paused")
    models = [m for m in dict.fromkeys(body.models) if token.models is None or m in token.models]
    worker_id = worker_tokens.worker_prefix(token.id) + body.instance
    models = await asyncio.to_thread(_register, studio, token, worker_id, models)
    deadline = time.monotonic() + min(body.wait, MAX_WAIT_SECONDS)
    while models:
        job = await asyncio.to_thread(_claim_for, studio, token, worker_id, models)
        if job is not None:
            return {"job": job_of(job), "lease_seconds": queue.LEASE_SECONDS, "heartbeat_seconds": HEARTBEAT_SECONDS}
        kinds = (Video,) if token.untrusted else (Video, Training)
        if not await watch.wait(set(models), deadline - time.monotonic(), kinds):
            break
    if models:  # the worker stays counted while it waits between claims
        await asyncio.to_thread(queue.touch_worker, studio.store, worker_id)
    else:
        await asyncio.sleep(min(body.wait, MAX_WAIT_SECONDS))  # nothing it may serve: no busy loop of calls
    return Response(status_code=204)


def _claim_for(studio: Studio, token: WorkerToken, worker_id: str, models: list[str]) -> Video | Training | None:
    if token.untrusted:
        return queue.claim(studio.store, worker_id, models, published_prompts_only=True)
    return queue.claim_next(studio.store, worker_id, models)


def _register(studio: Studio, token: WorkerToken, worker_id: str, models: list[str]) -> list[str]:
    """Count the worker as live, serving models; returns the models to claim jobs for: with
    `builtin`, the trained built-in models too (the worker fetches their files)."""
    queue.register_worker(studio.store, worker_id, f"remote:{token.id}", models)
    worker_tokens.seen(studio.store, token.id)
    return [*models, *trained.ids(studio.storage)] if "builtin" in models else models


def job_of(job: Video | Training) -> dict:
    return training_job_of(job) if isinstance(job, Training) else video_job_of(job)


def video_job_of(video: Video) -> dict:
    base = f"/api/worker/jobs/{video.id}"
    request = dict(video.request)
    inputs = {}
    for name in INPUT_FIELDS:
        if request.get(name):
            request[name] = Path(request[name]).name
            inputs[name] = f"{base}/inputs/{name}"
    loras = [{"name": lora["name"], "weight": lora.get("weight", 1.0), "url": f"{base}/loras/{lora['name']}"}
             for lora in request.get("loras") or []]
    return {"id": video.id, "kind": "video", "lease_token": video.lease_token, "model": video.model,
            "request": request, "seed": video.seed, "artist": video.artist, "attempts": video.attempts,
            "inputs": inputs, "loras": loras,
            "model_files": f"{base}/model" if trained.name_of(video.model) else None}


def training_job_of(run: Training) -> dict:
    """A training run as a worker gets it: the trainer's settings, and where to fetch its dataset
    (and the model a fine-tune starts from) file by file."""
    base = f"/api/worker/jobs/{run.id}"
    init = run.options.get("init")
    return {"id": run.id, "kind": "training", "lease_token": run.lease_token, "model": run.model, "name": run.name,
            "options": run.options, "steps": run.steps, "attempts": run.attempts,
            "dataset": {"name": Path(run.dataset).name, "files": f"{base}/dataset"},
            "init": {"model": init, "files": f"{base}/model"} if init else None}


# 3. A held job: heartbeat, preview, inputs, LoRAs (a training run's files and live view: worker_runs.py).

class Beat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lease_token: str = Field(max_length=40)
    step: int | None = Field(default=None, ge=0)
    total: int | None = Field(default=None, ge=1)
    stage: Literal["preparing", "training", "finishing"] | None = None  # a training run's


@router.post("/worker/jobs/{job_id}/heartbeat")
def heartbeat(job_id: str, body: Beat, token: WorkerToken = Depends(remote_worker),
              studio: Studio = Depends(studio)) -> dict:
    """Renew the lease and record progress (and a training run's stage); says whether the job was cancelled."""
    job = held_job(studio, token, job_id, body.lease_token)
    if body.stage is not None and not isinstance(job, Training):
        raise ApiError(400, "a stage is a training run's; a video has none", "stage", "invalid_value")
    step = min(body.step, body.total) if body.step is not None and body.total else None
    try:
        cancel = queue.heartbeat(studio.store, job_id, body.lease_token, step, body.total, stage=body.stage)
    except queue.LeaseLost:
        raise ApiError(409, f"job {job_id!r} is no longer this worker's", "lease_token", "lease_lost") from None
    queue.touch_worker(studio.store, job.worker)
    worker_tokens.seen(studio.store, token.id)
    return {"cancel": cancel}


async def body_up_to(request: Request, limit: int, what: str) -> bytes:
    """The request's body, refused with 413 past limit bytes (before more of it is read)."""
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise ApiError(413, f"{what} may be at most {limit // 2**20} MB", "body", "too_large")
    return data


@router.put("/worker/jobs/{job_id}/preview")
async def preview(job_id: str, request: Request, lease_token: str = Query(max_length=40),
                  token: WorkerToken = Depends(remote_worker), studio: Studio = Depends(studio)) -> dict:
    """The job's latest preview frame, a JPEG of at most 2 MB."""
    video = await asyncio.to_thread(held_job, studio, token, job_id, lease_token, Video)
    data = await body_up_to(request, MAX_PREVIEW_BYTES, "a preview")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "JPEG":
                raise ValueError
    except Exception:
        raise ApiError(400, "the preview must be a JPEG", "body", "invalid_value") from None
    await asyncio.to_thread(_save_preview, studio, video, data)
    return {"ok": True}


def _save_preview(studio: Studio, video: Video, data: bytes) -> None:
    path = studio.storage.preview_path(video.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    partial.write_bytes(data)
    partial.replace(path)
    queue.heartbeat(studio.store, video.id, video.lease_token, preview_step=max(1, video.step))


@router.get("/worker/jobs/{job_id}/inputs/{name}")
def job_input(job_id: str, name: str, lease_token: str = Query(max_length=40),
              token: WorkerToken = Depends(remote_worker), studio: Studio = Depends(studio)) -> FileResponse:
    """An input file of the job (image, video, extend)."""
    video = held_job(studio, token, job_id, lease_token, Video)
    stored = video.request.get(name) if name in INPUT_FIELDS else None
    path = studio.storage.resolve(stored) if stored else None
    if path is None or not path.is_file():
        raise ApiError(404, f"job {job_id!r} has no input {name!r}", "name", "not_found")
    return FileResponse(path, media_type="application/octet-stream", filename=path.name)


@router.get("/worker/jobs/{job_id}/loras/{name}")
def job_lora(job_id: str, name: str, lease_token: str = Query(max_length=40),
             token: WorkerToken = Depends(remote_worker), studio: Studio = Depends(studio)) -> FileResponse:
    """A LoRA the job's request names, from the server's library."""
    video = held_job(studio, token, job_id, lease_token, Video)
    named = any(lora.get("name") == name for lora in video.request.get("loras") or [])
    path = studio.storage.lora_path(name) if named else None
    if path is None:
        raise ApiError(404, f"job {job_id!r} names no LoRA {name!r} in this server's library", "name", "not_found")
    return FileResponse(path, media_type="application/octet-stream", filename=path.name)


# 4. The result: a resumable upload, then the server's checks.

@router.get("/worker/jobs/{job_id}/result")
def result_received(job_id: str, lease_token: str = Query(max_length=40),
                    token: WorkerToken = Depends(remote_worker), studio: Studio = Depends(studio)) -> dict:
    """How many bytes of the result the server has (where the upload resumes)."""
    held_job(studio, token, job_id, lease_token)
    return {"received": _received(results.upload_path(studio.storage, job_id, lease_token))}


def _received(part: Path) -> int:
    return part.stat().st_size if part.is_file() else 0


def offset_mismatch(received: int, of_what: str = "of this result") -> JSONResponse:
    error = {"message": f"the server has {received} bytes {of_what}; send from there",
             "type": TYPES[409], "param": "offset", "code": "offset_mismatch"}
    return JSONResponse({"error": error, "received": received}, status_code=409)


@router.put("/worker/jobs/{job_id}/result", response_model=None,
            openapi_extra={"requestBody": {"required": True, "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def upload_result(job_id: str, request: Request, lease_token: str = Query(max_length=40),
                        offset: int = Query(ge=0), token: WorkerToken = Depends(remote_worker),
                        studio: Studio = Depends(studio)) -> dict | JSONResponse:
    """Append the result's bytes (a video's MP4, a training run's zip of out/) from `offset`, which
    must be what the server already has."""
    await asyncio.to_thread(held_job, studio, token, job_id, lease_token)
    part = results.upload_path(studio.storage, job_id, lease_token)
    received = _received(part)
    if offset != received:
        return offset_mismatch(received)
    # Each byte at its place in the result, not at the file's end: the late bytes of a connection
    # the worker gave up on and resumed past (its kernel still sending) are the same bytes again.
    part.touch()
    with part.open("r+b") as out:
        out.seek(offset)
        try:
            async for chunk in request.stream():
                received += len(chunk)
                if received > results.MAX_RESULT_BYTES:
                    out.truncate(offset)
                    raise ApiError(413, f"a result may be at most {results.MAX_RESULT_BYTES // 2**30} GB", "body",
                                   "too_large")
                out.write(chunk)
        except ClientDisconnect:  # what arrived stays: the worker resumes from it
            pass
    return {"received": received}


class Finished(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lease_token: str = Field(max_length=40)
    sha256: str = Field(pattern=r"[0-9a-fA-F]{64}")
    size: int = Field(ge=0)
    seconds_per_step: float | None = Field(default=None, ge=0)
    run_seconds: float | None = Field(default=None, ge=0, le=10**7)  # the job's GPU time (quotas count it)


@router.post("/worker/jobs/{job_id}/complete")
async def complete(job_id: str, body: Finished, token: WorkerToken = Depends(remote_worker),
                   studio: Studio = Depends(studio)) -> dict:
    """Check the uploaded result and make it the video (or the run's model or LoRA, added to the
    library): 422 result_refused (the job goes back to the queue) when a check fails."""
    if await asyncio.to_thread(_completed_before, studio, token, job_id, body.lease_token):
        return {"status": queue.COMPLETED}  # a repeat whose first answer was lost
    job = await asyncio.to_thread(held_job, studio, token, job_id, body.lease_token)
    part = results.upload_path(studio.storage, job_id, body.lease_token)
    try:
        result = await asyncio.to_thread(_accept, studio, job, part, body.sha256, body.size)
    except results.Refused as refused:
        reason = str(refused)
        part.unlink(missing_ok=True)
        await asyncio.to_thread(_refuse, studio, token, job, reason)
        raise ApiError(422, f"result refused: {reason}", "body", "result_refused") from None
    except InvalidRequest as err:  # the job itself no longer plans (e.g. its input file or starting model is gone)
        part.unlink(missing_ok=True)
        await asyncio.to_thread(queue.fail, studio.store, job_id, body.lease_token, "invalid_request", str(err),
                                False)
        raise ApiError(409, f"job {job_id!r} can no longer be made here: {err}", code="lease_lost") from None
    speed = body.seconds_per_step if body.seconds_per_step and math.isfinite(body.seconds_per_step) else None
    done = await asyncio.to_thread(
        queue.complete, studio.store, job_id, body.lease_token, result,
        None if token.untrusted else speed,  # an untrusted worker's claimed speed does not steer ETAs
        body.run_seconds if body.run_seconds is not None and math.isfinite(body.run_seconds) else None)
    if not done:
        await asyncio.to_thread(_discard, studio, job, result)
        raise ApiError(409, f"job {job_id!r} is no longer this worker's", "lease_token", "lease_lost")
    # A token's record keeps the seconds per step of videos; a training step is another measure.
    await asyncio.to_thread(worker_tokens.record_done, studio.store, token.id,
                            None if isinstance(job, Training) else speed)
    return {"status": queue.COMPLETED}


def _accept(studio: Studio, job: Video | Training, part: Path, sha256: str, size: int) -> str:
    """The accepted result's path under the storage root; results.Refused when a check fails."""
    if isinstance(job, Training):
        return remote_runs.accept(studio.storage, job, job.lease_token, part, sha256, size)
    clip = results.accept(studio.storage, studio.engine(job.model), job, part, sha256, size)
    return studio.storage.relative(clip)


def _discard(studio: Studio, job: Video | Training, result: str) -> None:
    """Remove an accepted result whose job turned out to be no longer this worker's."""
    if isinstance(job, Training):
        training.unpublish(studio.storage, job.id)
        return
    for path in companion_paths(studio.storage.resolve(result)):
        path.unlink(missing_ok=True)


def _completed_before(studio: Studio, token: WorkerToken, job_id: str, lease_token: str) -> bool:
    """Whether this token already completed the job (a video: with this attempt's clip)."""
    table = queue.table_of(job_id)
    with studio.store.read() as session:
        job = session.get(table, job_id) if JOB_ID.fullmatch(job_id) else None
    clip = None if table is Training else f"videos/{job_id}/{lease_token}.mp4"
    return (job is not None and job.status == queue.COMPLETED and (clip is None or job.result == clip)
            and (job.worker or "").startswith(worker_tokens.worker_prefix(token.id)))


def _refuse(studio: Studio, token: WorkerToken, job: Video | Training, reason: str) -> None:
    queue.fail(studio.store, job.id, job.lease_token, "result_refused",
               f"a remote worker's result was refused: {reason}", retry=True)
    if worker_tokens.record_refused(studio.store, token.id, reason):
        log.warning("paused remote worker %r after %d refused results", token.name, worker_tokens.PAUSE_AFTER_REFUSALS)


# 5. Giving a job up.

class Failure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lease_token: str = Field(max_length=40)
    code: str = Field(pattern=r"[a-z0-9_]{1,40}")
    message: str = Field(max_length=2000)
    retry: bool = True


@router.post("/worker/jobs/{job_id}/fail")
def fail(job_id: str, body: Failure, token: WorkerToken = Depends(remote_worker),
         studio: Studio = Depends(studio)) -> dict:
    """The attempt failed: the job is retried while attempts remain (or cancelled, when asked)."""
    held_job(studio, token, job_id, body.lease_token)
    results.upload_path(studio.storage, job_id, body.lease_token).unlink(missing_ok=True)
    status = queue.fail(studio.store, job_id, body.lease_token, body.code, body.message, body.retry)
    if status is None:
        raise ApiError(409, f"job {job_id!r} is no longer this worker's", "lease_token", "lease_lost")
    if body.code != "cancelled":
        worker_tokens.record_failed(studio.store, token.id)
    return {"status": status}


class Release(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lease_token: str = Field(max_length=40)


@router.post("/worker/jobs/{job_id}/release")
def release(job_id: str, body: Release, token: WorkerToken = Depends(remote_worker),
            studio: Studio = Depends(studio)) -> dict:
    """Hand the job back untouched (the worker is going away): queued again, the attempt not counted."""
    held_job(studio, token, job_id, body.lease_token)
    results.upload_path(studio.storage, job_id, body.lease_token).unlink(missing_ok=True)
    queue.release(studio.store, job_id, body.lease_token)
    return {"status": queue.QUEUED}


# 6. Admins: the tokens and their records.

class NewWorker(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    models: list[ModelId] | None = Field(default=None, max_length=50)
    untrusted: bool = False


def record_of(token: WorkerToken, activity: dict | None = None) -> dict:
    """A token's record; with activity (worker_tokens.activity's entry for it), what it does now."""
    now = activity or {"connected": 0, "running": []}
    return {"id": token.id, "name": token.name, "models": token.models, "untrusted": token.untrusted,
            "state": token.state, "created_at": token.created_at, "revoked_at": token.revoked_at,
            "paused_at": token.paused_at, "pause_reason": token.pause_reason if token.paused_at else None,
            "jobs_done": token.jobs_done, "jobs_failed": token.jobs_failed, "results_refused": token.results_refused,
            "seconds_per_step": token.seconds_per_step, "last_seen_at": token.last_seen_at,
            "connected": now["connected"], "running": now["running"]}


@router.get("/workers")
def list_workers(studio: Studio = Depends(studio), _: Caller = Depends(admin_only)) -> dict:
    """Every worker token's record (never its secret) and what its processes do now."""
    activity = worker_tokens.activity(studio.store)
    return {"data": [record_of(token, activity.get(token.id)) for token in worker_tokens.all_tokens(studio.store)]}


@router.post("/workers")
def add_worker(body: NewWorker, studio: Studio = Depends(studio), who: Caller = Depends(admin_only)) -> dict:
    """A new worker token; its secret is in this answer only."""
    unknown = sorted(set(body.models or []) - set(studio.model_ids()))
    if unknown:
        raise ApiError(400, f"unknown model {unknown[0]!r}", "models", "invalid_value")
    try:
        token, secret = worker_tokens.add(studio.store, body.name, body.models, body.untrusted)
    except worker_tokens.NameTaken as err:
        raise ApiError(409, str(err).removeprefix("NAME: "), "name", "exists") from None
    audit.log(studio.store, who.client, "worker.add", body.name, models=body.models, untrusted=body.untrusted)
    return {**record_of(token), "secret": secret}


@router.delete("/workers/{name}")
def revoke_worker(name: str, studio: Studio = Depends(studio), who: Caller = Depends(admin_only)) -> dict:
    """Revoke a token: its next call is refused and its running jobs go back to the queue."""
    handed_back = worker_tokens.revoke(studio.store, name)
    if handed_back is None:
        raise ApiError(404, f"no live worker named {name!r}", "name", "not_found")
    audit.log(studio.store, who.client, "worker.revoke", name, requeued=handed_back)
    return {"name": name, "state": "revoked", "requeued": handed_back}


@router.post("/workers/{name}/unpause")
def unpause_worker(name: str, studio: Studio = Depends(studio), who: Caller = Depends(admin_only)) -> dict:
    """Let a worker the server paused claim jobs again."""
    if not worker_tokens.unpause(studio.store, name):
        raise ApiError(404, f"no live worker named {name!r}", "name", "not_found")
    audit.log(studio.store, who.client, "worker.unpause", name)
    return record_of(worker_tokens.named(studio.store, name))
