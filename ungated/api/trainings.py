"""Training in the studio, at /api: datasets (each client's own folders of clips and captions, uploaded
file by file or as a zip) and training runs, which are jobs of the same queue as videos. A run
streams its loss curve and samples live (GET /api/trainings/{id}/events), can be cancelled and
resumed from its last checkpoint, and lists what it made; a LoRA it trains joins the LoRA library.

A finished run's result is offered at once: a built-in model as the model `builtin/NAME`, a LoRA
in the LoRA library.

Like a video, a run opens by its unguessable id (so a browser's EventSource, which cannot send an
API key, can watch it); listing one's runs and datasets, and changing them, need an identity.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import fields as dataclass_fields
from functools import partial
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from ..errors import InvalidRequest
from ..jobs import datasets, paths, queue, trained, training
from ..jobs.schema import Training
from ..jobs.storage import LORA_NAME
from .access import Caller, caller, signed_in, studio
from .bodies import read_body
from .errors import ApiError, over_limit, not_found
from .events import ProgressHub, stream
from .service import Studio

router = APIRouter(prefix="/api")
ACTIVE_PER_KEY = 1  # training runs a (non-admin) key may have queued or running at once
LORA_ONLY = tuple(name for name in training.LORA_OPTIONS if name not in training.CLIP_OPTIONS)
ZIP_HEADERS = 16 * 2**20  # what a zip adds to its files, at most: names and headers of 10,000 members


# ---- datasets -------------------------------------------------------------------------------------

@router.get("/datasets")
def list_datasets(studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """One's datasets: name, file count and size."""
    return {"data": datasets.listing(studio.storage, who.client)}


@router.get("/datasets/{name}")
async def check_dataset(name: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """What `ungated dataset check` says of one's dataset: a summary, every problem with its file,
    and the clips with their captions."""
    from ..train.dataset import scan

    folder = _existing_dataset(studio, who, name)
    report = (await asyncio.to_thread(scan, folder)).to_json()
    def in_member_terms(value):  # an error a file gave may name the server's folders
        return paths.in_member_terms(value, studio.storage.root) if isinstance(value, str) else value

    for problem in report["problems"]:
        problem["what"] = in_member_terms(problem["what"])
        problem["values"] = {name: in_member_terms(value) for name, value in problem["values"].items()}
    return {**datasets.entry(studio.storage, who.client, name), **report, "folder": name}


@router.put("/datasets/{name}", openapi_extra={"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary",
                                            "description": "a zip of the dataset folder"}}}}})
async def upload_dataset(name: str, request: Request, studio: Studio = Depends(studio),
                         who: Caller = Depends(signed_in)) -> dict:
    """Add a zip of a dataset folder (clips, captions, metadata) to one's dataset NAME (made if new)."""
    datasets.folder(studio.storage, who.client, name)  # the name is checked before the body is read
    quota = datasets.quota_for(who.admin)
    with _quota_refusal():
        room = datasets.room(studio.storage, who.client, quota)
        # A zip is a little larger than its files (their names and headers, twice).
        limit = None if room is None else room + room // 100 + ZIP_HEADERS
        async with _received(studio, request, limit, partial(datasets.over_quota, studio.storage, who.client,
                                                             quota)) as part:
            return await asyncio.to_thread(datasets.unpack, studio.storage, who.client, name, part, quota)


@router.put("/datasets/{name}/files/{path:path}", openapi_extra={"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def upload_dataset_file(name: str, path: str, request: Request, studio: Studio = Depends(studio),
                              who: Caller = Depends(signed_in)) -> dict:
    """Add one file (a clip, its .txt caption, metadata.jsonl/.csv, or FOLDER/FRAME of an image
    sequence) to one's dataset NAME (made if new); a file already there is replaced."""
    target = datasets.folder(studio.storage, who.client, name) / datasets.checked_path(path)
    quota = datasets.quota_for(who.admin)
    with _quota_refusal():
        limit = datasets.room(studio.storage, who.client, quota, target)
        async with _received(studio, request, limit, partial(datasets.over_quota, studio.storage, who.client,
                                                             quota)) as part:
            return await asyncio.to_thread(datasets.place, studio.storage, who.client, name, path, part, quota)


@router.delete("/datasets/{name}")
def delete_dataset(name: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    _existing_dataset(studio, who, name)
    datasets.remove(studio.storage, who.client, name)
    return {"name": name, "deleted": True}


@contextlib.asynccontextmanager
async def _received(studio: Studio, request: Request, limit: int | None,
                    over: Callable[..., datasets.OverQuota]) -> AsyncIterator[Path]:
    """The raw request body, streamed to a file beside the datasets, which is removed again however
    the request ends. A body over `limit` bytes (what the quota leaves) is refused with over(size)."""
    length = request.headers.get("content-length", "")
    if limit is not None and length.isdigit() and int(length) > limit:
        raise over(int(length))
    part = datasets.uploads(studio.storage) / f"{queue.new_id('')}.part"
    try:
        with part.open("wb") as out:
            received = 0
            async for chunk in request.stream():
                received += len(chunk)
                if limit is not None and received > limit:
                    raise over(received, known=False)
                out.write(chunk)
        yield part
    finally:
        part.unlink(missing_ok=True)


@contextlib.contextmanager
def _quota_refusal():
    try:
        yield
    except datasets.OverQuota as err:
        raise ApiError(413, str(err), "body", "quota_exceeded") from None


def _existing_dataset(studio: Studio, who: Caller, name: str) -> Path:
    folder = datasets.folder(studio.storage, who.client, name)
    if not folder.is_dir():
        raise ApiError(404, f"you have no dataset named {name!r} (GET /api/datasets lists yours)", "dataset",
                       "not_found")
    return folder


# ---- training runs ----------------------------------------------------------------------------------

class TrainingRequest(BaseModel):
    """A training run. The built-in model (model "builtin") trains on a laptop; a LoRA for an open
    model needs a worker with a GPU serving that model. Unset settings take the trainer's defaults."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field("builtin", max_length=64)
    name: str = Field(pattern=f"^{LORA_NAME.pattern}$", max_length=100,
                      description="What the result is called; a LoRA joins the library under it")
    dataset: str | None = Field(None, max_length=100, description="One of your datasets (GET /api/datasets)")
    data_path: str | None = Field(None, max_length=500, description="Or a folder on the server (admins only)")
    steps: int | None = Field(None, ge=1, le=100_000)
    batch: int | None = Field(None, ge=1, le=64)
    learning_rate: float | None = Field(None, gt=0, le=1)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    sample_every: int | None = Field(None, ge=0, le=100_000, description="A sample clip every N steps (0: at the end)")
    sample_prompt: str | None = Field(None, max_length=2000)
    rank: int | None = Field(None, ge=1, le=256)
    alpha: float | None = Field(None, gt=0, le=1024)
    resolution: int | None = Field(None, ge=64, le=1080)
    max_frames: int | None = Field(None, ge=1, le=257)
    base: Literal["bf16", "fp8", "int8", "nf4"] | None = None
    gradient_checkpointing: bool | None = None
    sample_steps: int | None = Field(None, ge=1, le=200)
    init: str | None = Field(None, max_length=64, description="builtin/NAME: fine-tune a built-in model trained "
                                                              "here (new caption words are added)")


def training_object(run: Training, who: Caller | None, storage) -> dict:
    base = f"/api/trainings/{run.id}"
    files = f"{base}/files/"
    state = progress_event(run, storage)
    dataset = Path(run.dataset)
    done = run.status == queue.COMPLETED
    made = {}
    if done and run.model != training.BUILTIN:  # its name in the library, for requests' `loras`
        made["lora"] = next((e["name"] for e in storage.loras() if e.get("training") == run.id), None)
    elif done:  # the model id requests name it by
        name = next((n for n in trained.names(storage) if trained.about(storage, n).get("training") == run.id), None)
        made["model_id"] = trained.PREFIX + name if name else None
        if who is not None and who.admin:  # for `ungated generate --model-path` on this machine
            made["model_path"] = str(storage.resolve(run.result))
    return {
        **made, **state, "name": run.name, "model": run.model,
        "dataset": str(dataset) if dataset.is_absolute() else dataset.name, "options": run.options,
        "mine": who is not None and who.client == run.client, "attempts": run.attempts,
        "created_at": run.created_at, "started_at": run.started_at, "completed_at": run.completed_at,
        "outputs": [{**o, "url": files + o.pop("path")} for o in training.outputs(storage, run.id)] if done else [],
        "links": {"events": f"{base}/events", "files": files},
    }


def progress_event(run: Training, storage) -> dict:
    """What a watcher sees change: state, step, loss curve, samples."""
    left = queue.training_seconds_left(run.started_at, run.step, run.steps) if run.status == queue.RUNNING else None
    eta = None if left is None else round(left, 1)
    return {
        "id": run.id, "status": run.status, "stage": run.stage if run.status == queue.RUNNING else "",
        "step": run.step if run.status != queue.COMPLETED else run.steps, "steps": run.steps,
        "progress": run.progress if run.status != queue.COMPLETED else 100, "eta_seconds": eta,
        "error": {"code": run.error_code, "message": run.error_message and paths.in_member_terms(run.error_message,
                                                                                               storage.root)}
        if run.status in (queue.FAILED, queue.CANCELLED) else None,
        "losses": training.losses(storage, run.id),
        "samples": [{"step": s["step"], "url": f"/api/trainings/{run.id}/files/{s['path']}"}
                    for s in training.samples(storage, run.id)],
    }


def read_trainings(studio: Studio, ids: list[str]) -> dict[str, dict]:
    """The progress events of the runs with these ids (a "deleted" state for those gone)."""
    with studio.store.read() as session:
        runs = list(session.scalars(select(Training).where(Training.id.in_(ids))))
    states = {run_id: {"id": run_id, "status": "deleted"} for run_id in ids}
    return states | {run.id: progress_event(run, studio.storage) for run in runs}


@router.delete("/models/builtin/{name}")
def delete_trained_model(name: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """Remove a built-in model trained here (`builtin/NAME`): whoever trained it, or an admin."""
    if trained.find(studio.storage, trained.PREFIX + name) is None:
        raise ApiError(404, f"no trained model named {name!r} (GET /api/models lists them as builtin/NAME)", "name",
                       "not_found")
    if not (who.admin or trained.about(studio.storage, name).get("uploaded_by") == who.client):
        raise ApiError(403, f"model builtin/{name} is not yours; only whoever trained it or an admin may remove it",
                       "name", "not_owner")
    trained.remove(studio.storage, name)
    queue.fail_waiting(studio.store, trained.PREFIX + name, f"model builtin/{name} was removed")
    return {"id": trained.PREFIX + name, "deleted": True}


@router.post("/trainings", openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": TrainingRequest.model_json_schema()}}}})
async def create_training(request: Request, studio: Studio = Depends(studio),
                          who: Caller = Depends(signed_in)) -> dict:
    """Queue a training run on one of your datasets (or, for admins, a folder on the server)."""
    body, _ = await read_body(request, ())
    try:
        wanted = TrainingRequest(**body)
    except ValidationError as err:
        raise InvalidRequest.from_problem(err.errors()[0]) from None
    is_lora = wanted.model != training.BUILTIN
    _check_trainable(studio, wanted.model)
    if not is_lora and len(wanted.name) > trained.MAX_NAME:
        raise InvalidRequest("name", f"at most {trained.MAX_NAME} characters for a built-in model (it becomes the "
                                     f"model id builtin/NAME)")
    for name in LORA_ONLY:
        if not is_lora and getattr(wanted, name) is not None:
            raise InvalidRequest(name, "applies to LoRAs for open models; the built-in model has no such setting")
    if wanted.init is not None:
        if is_lora:
            raise InvalidRequest("init", "applies to the built-in model: a LoRA trains on its open model as published")
        if trained.find(studio.storage, wanted.init) is None:
            raise InvalidRequest("init", f"no trained model {wanted.init!r} here (GET /api/models lists them as "
                                         "builtin/NAME)")
    dataset = _dataset_of(studio, who, wanted)
    if is_lora and studio.storage.lora_path(wanted.name) is not None:
        raise ApiError(409, f"a LoRA named {wanted.name!r} is already in the library; choose another name", "name",
                       "exists")
    options = wanted.model_dump(exclude_none=True, exclude={"model", "name", "dataset", "data_path"})
    defaults = training_defaults(is_lora)
    if is_lora and "alpha" not in options:
        options["alpha"] = float(options.get("rank", defaults["rank"]))
    steps = options.get("steps") or defaults["steps"]
    quota = who.limits.quota if who.limits else None  # a member's quota holds their training runs too
    try:
        run = queue.submit_training(studio.store, wanted.model, wanted.name, dataset, options, steps, who.client,
                                    active_limit=None if who.admin or quota else ACTIVE_PER_KEY, quota=quota)
    except queue.OverLimit as err:
        raise over_limit(err) from None
    studio.on_queued()
    return training_object(run, who, studio.storage)


def training_defaults(is_lora: bool) -> dict:
    """The trainer's default for each setting the studio offers."""
    from ..train.clips import ClipTrainPlan
    from ..train.lora import LoraTrainPlan

    plan, offered = (LoraTrainPlan, training.LORA_OPTIONS) if is_lora else (ClipTrainPlan, training.CLIP_OPTIONS)
    defaults = {f.name: f.default for f in dataclass_fields(plan)}
    return {name: defaults[training.PLAN_FIELDS.get(name, name)] for name in offered}


def trainable_models() -> list[str]:
    """The model ids ungated trains: the built-in model and the open models its LoRA trainer knows."""
    from ..engines.open.models import OPEN_MODELS
    from ..train.lora import is_trainable

    return [training.BUILTIN, *(m.id for m in OPEN_MODELS.values() if is_trainable(m))]


def _check_trainable(studio: Studio, model: str) -> None:
    trainable = trainable_models()
    if model not in trainable:
        raise InvalidRequest("model", f"ungated does not train {model!r}; it trains: {', '.join(trainable)}")
    served = studio.served_models()
    if model not in served:
        raise InvalidRequest("model", f"no worker here serves {model!r}, so none can train it; served: "
                                      f"{', '.join(sorted(served))}")


def _dataset_of(studio: Studio, who: Caller, wanted: TrainingRequest) -> str:
    """The run's dataset as the store keeps it: under the storage root, or a server folder."""
    if (wanted.dataset is None) == (wanted.data_path is None):
        raise InvalidRequest("dataset", "name one of your datasets (GET /api/datasets), or give data_path")
    if wanted.data_path is not None:
        if not who.admin:
            raise ApiError(403, "data_path: only an admin may train on a folder on the server; upload a dataset "
                                "(PUT /api/datasets/NAME)", "data_path", "not_admin")
        folder = Path(wanted.data_path).expanduser()
        if not folder.is_absolute() or not folder.is_dir():
            raise InvalidRequest("data_path", f"{wanted.data_path!r} is not a folder on the server (give its full path)")
        return str(folder.resolve())
    folder = datasets.folder(studio.storage, who.client, wanted.dataset)
    if not folder.is_dir():
        raise InvalidRequest("dataset", f"you have no dataset named {wanted.dataset!r} (GET /api/datasets lists yours)")
    if not any(folder.iterdir()):
        raise InvalidRequest("dataset", f"dataset {wanted.dataset!r} is empty; upload clips and captions first")
    return studio.storage.relative(folder)


@router.get("/trainings")
def list_trainings(limit: int = Query(50, ge=1, le=200), studio: Studio = Depends(studio),
                   who: Caller = Depends(signed_in)) -> dict:
    """One's training runs, newest first."""
    with studio.store.read() as session:
        runs = list(session.scalars(select(Training).where(Training.client == who.client)
                                    .order_by(Training.created_at.desc(), Training.id.desc()).limit(limit)))
    return {"data": [training_object(run, who, studio.storage) for run in runs]}


def _get(studio: Studio, run_id: str, who: Caller) -> Training:
    """The run, for its owner or an admin; to anyone else it does not exist (404), so its id tells
    nothing: a run, its samples and its model are private until its owner shares what it made."""
    with studio.store.read() as session:
        run = session.get(Training, run_id)
    if run is None or not (who.admin or (who.client is not None and who.client == run.client)):
        raise not_found("training run", run_id)
    return run


@router.get("/trainings/{training_id}")
def one_training(training_id: str, studio: Studio = Depends(studio), who: Caller = Depends(caller)) -> dict:
    return training_object(_get(studio, training_id, who), who, studio.storage)


def existing_training(training_id: str, studio: Studio = Depends(studio), who: Caller = Depends(caller)) -> str:
    _get(studio, training_id, who)  # raises the 404 here, before the stream starts
    return training_id


@router.get("/trainings/{training_id}/events", response_class=EventSourceResponse)
async def training_events(request: Request, training_id: str = Depends(existing_training)
                          ) -> AsyncIterator[ServerSentEvent]:
    """`progress` whenever the run's state, step, loss curve or samples change; `done` at the end."""
    hub: ProgressHub = request.app.state.training_hub
    async for event in stream(hub, training_id):
        yield event


@router.get("/trainings/{training_id}/files/{path:path}")
def training_file(training_id: str, path: str, studio: Studio = Depends(studio),
                  who: Caller = Depends(caller)) -> FileResponse:
    """A sample clip (work/samples/...) or an output (out/...) of a run (its owner's, or an admin's)."""
    _get(studio, training_id, who)
    root = training.folder(studio.storage, training_id)
    file = (root / paths.client_path(path)).resolve()
    shown = (root / "out").resolve(), (root / "work" / "samples").resolve()
    if not any(file.is_relative_to(folder) for folder in shown) or not file.is_file():
        raise ApiError(404, f"training run {training_id!r} has no file {path!r}", "path", "not_found")
    return FileResponse(file, filename=file.name)


@router.post("/trainings/{training_id}/cancel")
def cancel_training(training_id: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """Stop a run: at once if queued, else at its next step (it saves a checkpoint to resume from)."""
    _get(studio, training_id, who)
    queue.cancel(studio.store, training_id)
    return one_training(training_id, studio, who)


@router.post("/trainings/{training_id}/resume")
def resume_training(training_id: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """Queue a cancelled or failed run again; it continues from its last checkpoint."""
    run = _get(studio, training_id, who)
    if run.status not in (queue.CANCELLED, queue.FAILED):
        raise ApiError(409, f"training run {training_id!r} is {run.status}; only a cancelled or failed run resumes",
                       "training_id", "not_resumable")
    queue.resume(studio.store, training_id)
    studio.on_queued()
    return one_training(training_id, studio, who)


@router.delete("/trainings/{training_id}")
def delete_training(training_id: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """Delete a finished run and its files (a LoRA it added to the library stays there)."""
    run = _get(studio, training_id, who)
    if run.status not in queue.FINISHED:
        raise ApiError(409, f"training run {training_id!r} is {run.status}; cancel it first", "training_id",
                       "not_finished")
    with studio.store.write() as session:
        row = session.get(Training, training_id)
        if row is not None:
            session.delete(row)
    training.remove(studio.storage, training_id)
    return {"id": training_id, "deleted": True}
