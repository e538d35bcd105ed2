"""What a remote worker fetches for a job besides its inputs (workers.py), file by file: a training
run's dataset, and the trained built-in model (`builtin/NAME`) a job needs (a video's model, the
model a fine-tune starts from); and what a run sends, its live view (the loss log's lines and each
sample clip), kept where the studio's Train view reads a local run's. Every call is the held job's
only (jobs/remote_runs.py has the rules for files and lines)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as FastApiPath
from fastapi.responses import FileResponse, JSONResponse

from ..jobs import remote_runs, training
from ..jobs.schema import Training, WorkerToken
from .access import studio
from .errors import ApiError
from .service import Studio
from .workers import body_up_to, held_job, offset_mismatch, remote_worker

router = APIRouter(prefix="/api")


@router.get("/worker/jobs/{job_id}/dataset")
def dataset_files(job_id: str, lease_token: str = Query(max_length=40), token: WorkerToken = Depends(remote_worker),
                  studio: Studio = Depends(studio)) -> dict:
    """The files of a held training run's dataset: path, size, modified_ns and url."""
    return _run_listing(studio, token, job_id, lease_token, "dataset")


@router.get("/worker/jobs/{job_id}/dataset/{path:path}")
def dataset_file(job_id: str, path: str, lease_token: str = Query(max_length=40),
                 token: WorkerToken = Depends(remote_worker), studio: Studio = Depends(studio)) -> FileResponse:
    """One file of a held training run's dataset, as its listing names it."""
    return _run_file(studio, token, job_id, lease_token, "dataset", path)


@router.get("/worker/jobs/{job_id}/model")
def model_files(job_id: str, lease_token: str = Query(max_length=40), token: WorkerToken = Depends(remote_worker),
                studio: Studio = Depends(studio)) -> dict:
    """The files of the trained built-in model a held job needs: a video's `builtin/NAME`, or
    the model a fine-tune (`init: builtin/NAME`) starts from."""
    return _run_listing(studio, token, job_id, lease_token, "model")


@router.get("/worker/jobs/{job_id}/model/{path:path}")
def model_file(job_id: str, path: str, lease_token: str = Query(max_length=40),
               token: WorkerToken = Depends(remote_worker), studio: Studio = Depends(studio)) -> FileResponse:
    """One file of the trained model a held job needs."""
    return _run_file(studio, token, job_id, lease_token, "model", path)


def _run_folder(studio: Studio, token: WorkerToken, job_id: str, lease_token: str, which: str) -> Path:
    """The dataset a held run trains on, or the trained model a held job needs (404 for none)."""
    if which == "dataset":
        return training.dataset_folder(studio.storage, held_job(studio, token, job_id, lease_token, Training))
    model = remote_runs.trained_folder(studio.storage, held_job(studio, token, job_id, lease_token))
    if model is None:
        raise ApiError(404, f"job {job_id!r} needs no trained model (it uses a catalog model or starts from scratch)",
                       "job_id", "not_found")
    return model


def _run_listing(studio: Studio, token: WorkerToken, job_id: str, lease_token: str, which: str) -> dict:
    folder = _run_folder(studio, token, job_id, lease_token, which)
    base = f"/api/worker/jobs/{job_id}/{which}/"
    return {"files": [{**entry, "url": base + quote(entry["path"])} for entry in remote_runs.listing(folder)]}


def _run_file(studio: Studio, token: WorkerToken, job_id: str, lease_token: str, which: str,
              path: str) -> FileResponse:
    folder = _run_folder(studio, token, job_id, lease_token, which)
    try:
        file = remote_runs.shared_file(folder, path)
    except FileNotFoundError:
        raise ApiError(404, f"training run {job_id!r} has no {which} file {path!r}", "path", "not_found") from None
    return FileResponse(file, media_type="application/octet-stream", filename=file.name)


@router.put("/worker/jobs/{job_id}/log", response_model=None)
async def run_log(job_id: str, request: Request, lease_token: str = Query(max_length=40),
                  offset: int = Query(ge=0), token: WorkerToken = Depends(remote_worker),
                  studio: Studio = Depends(studio)) -> dict | JSONResponse:
    """Lines of a held training run's loss log (`stage,step,loss`) from `offset` in the worker's
    log: 0 starts the server's copy afresh, anything else must be what the server has."""
    await asyncio.to_thread(held_job, studio, token, job_id, lease_token, Training)
    received = remote_runs.log_received(studio.storage, job_id)
    if offset not in (0, received):
        return offset_mismatch(received, "of this run's loss log")
    data = await body_up_to(request, remote_runs.MAX_LOG_CHUNK, "one call's loss log lines")
    return {"received": await asyncio.to_thread(remote_runs.append_log, studio.storage, job_id, offset, data)}


@router.put("/worker/jobs/{job_id}/samples/{step}")
async def run_sample(job_id: str, request: Request, step: int = FastApiPath(ge=0, le=remote_runs.MAX_STEP),
                     lease_token: str = Query(max_length=40), token: WorkerToken = Depends(remote_worker),
                     studio: Studio = Depends(studio)) -> dict:
    """The sample clip (an MP4) a held training run drew at `step`, for the studio's Train view."""
    await asyncio.to_thread(held_job, studio, token, job_id, lease_token, Training)
    data = await body_up_to(request, remote_runs.MAX_SAMPLE_BYTES, "a sample")
    await asyncio.to_thread(remote_runs.save_sample, studio.storage, job_id, step, data)
    return {"ok": True}
