"""A training run as a worker does it: the studio's settings become the trainer's plan, and every
file the run makes lives under trainings/ID/ in the storage root (work/: cached clips,
checkpoints, the loss log, samples; out/: what it made). A run that is stopped, handed back or
taken over by another worker starts again from its last checkpoint there.

The built-in model's result is the model folder out/model/, also copied into the server's model
library (trained.py) as `builtin/NAME`; a LoRA's is out/NAME.safetensors, also added to the LoRA
library. Either way the create form offers it at once.

A remote worker (remote_trainer.py) runs the same `make` in a folder of its own and uploads out/;
the server checks it (remote_runs.py) and publishes it as `run` does.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from pathlib import Path

from ..errors import InvalidRequest
from . import paths, trained
from .schema import Training
from .storage import Storage

BUILTIN = "builtin"
# Studio option -> the trainer plan's field, where the names differ.
PLAN_FIELDS = {"learning_rate": "lr"}
CLIP_OPTIONS = ("steps", "batch", "learning_rate", "seed", "sample_every", "sample_prompt")
LORA_OPTIONS = (*CLIP_OPTIONS, "rank", "alpha", "resolution", "max_frames", "base", "gradient_checkpointing",
                "sample_steps")
MAX_LOSS_POINTS = 300  # a loss curve sent to browsers is thinned to this many points
# The trainers' fields are their command-line options; a run's messages name the studio's.
STUDIO_FIELDS = {"--data": "dataset", "--init": "init", "--base": "base", "--model": "model"}


def folder(storage: Storage, training_id: str) -> Path:
    return storage.root / "trainings" / training_id


def dataset_folder(storage: Storage, training: Training) -> Path:
    """The dataset: a folder under the storage root, or (set by an admin) a folder on the server."""
    path = Path(training.dataset)
    return path if path.is_absolute() else storage.resolve(training.dataset)


def _plan_options(options: dict, allowed: tuple[str, ...]) -> dict:
    return {PLAN_FIELDS.get(name, name): value for name, value in options.items() if name in allowed}


def run(training: Training, storage: Storage, progress: Callable[[int, int], None],
        stage: Callable[[str], None], should_cancel: Callable[[], bool]) -> str:
    """Train (resuming from a checkpoint if there is one) and place the result in the library;
    returns the result's path under the storage root. Raises as `make` does."""
    return publish(storage, training, make(training, storage, progress, stage, should_cancel))


def make(training: Training, storage: Storage, progress: Callable[[int, int], None],
         stage: Callable[[str], None], should_cancel: Callable[[], bool],
         on_sample: Callable[[Path], None] = lambda _path: None) -> Path:
    """Prepare and train (resuming from a checkpoint if there is one); returns the result (the
    model folder or the LoRA file under trainings/ID/out/). Raises TrainingCancelled when
    should_cancel says so, InvalidRequest naming the run's own fields and files (not the trainer's
    options and the server's folders) when the dataset or a setting is wrong. A remote worker runs
    this in a storage root of its own (remote_trainer.py) and the server publishes what it sends."""
    try:
        return _make(training, storage, progress, stage, should_cancel, on_sample)
    except InvalidRequest as err:
        field = STUDIO_FIELDS.get(err.field, err.field.lstrip("-"))
        raise InvalidRequest(field, paths.in_member_terms(err.message, storage.root)) from None


def _make(training: Training, storage: Storage, progress: Callable[[int, int], None],
          stage: Callable[[str], None], should_cancel: Callable[[], bool],
          on_sample: Callable[[Path], None]) -> Path:
    root = folder(storage, training.id)
    data = dataset_folder(storage, training)
    if not data.is_dir():
        raise InvalidRequest("dataset", f"dataset {data.name!r} is gone; upload it again and start a new run")
    if training.model == BUILTIN:
        from ..train.clips import ClipTrainPlan, prepare, train

        plan = ClipTrainPlan(data_dir=data, out_dir=result_file(storage, training), work_dir=root / "work",
                             init=start_from(storage, training),
                             **_plan_options(training.options, CLIP_OPTIONS))
    else:
        from ..train.lora import LoraTrainPlan, prepare, train

        plan = LoraTrainPlan(model_id=training.model, data_dir=data, out=result_file(storage, training),
                             work_dir=root / "work", **_plan_options(training.options, LORA_OPTIONS))
    stage("preparing")
    prepared = prepare(plan)
    stage("training")

    def on_step(step: int, total: int, _loss: float) -> None:
        progress(step, total)
        if step == total:
            stage("finishing")  # the final sample and the loss curve

    return train(plan, prepared, on_step, should_cancel=should_cancel, on_sample=on_sample)


def result_file(storage: Storage, training: Training) -> Path:
    """Where a run's result lives: the model folder out/model/, or the LoRA out/NAME.safetensors."""
    out = folder(storage, training.id) / "out"
    return out / "model" if training.model == BUILTIN else out / f"{training.name}.safetensors"


def publish(storage: Storage, training: Training, result: Path) -> str:
    """Add a finished run's result (under trainings/ID/out/) to the server's library, where the
    create form offers it at once: a built-in model as builtin/NAME, a LoRA in the LoRA library.
    Returns the result's path under the storage root."""
    made_by = {"uploaded_by": training.client, "training": training.id}
    if training.model == BUILTIN:
        trained.add(storage, training.name, result, made_by)
    else:
        _add_to_library(storage, training, result, made_by)
    return storage.relative(result)


def unpublish(storage: Storage, training_id: str) -> None:
    """Take out of the library what publish added for this run (its completion was not recorded)."""
    for name in trained.names(storage):
        if trained.about(storage, name).get("training") == training_id:
            trained.remove(storage, name)
    for entry in storage.loras():
        if entry.get("training") == training_id:
            storage.remove_lora(entry["name"])


def start_from(storage: Storage, training: Training) -> Path | None:
    """The folder of the trained model (`init: builtin/NAME`) a run fine-tunes, or None to start
    from scratch; InvalidRequest naming `init` when it has left the library since the run was queued."""
    model_id = training.options.get("init")
    if model_id is None:
        return None
    name = trained.find(storage, model_id)
    if name is None:
        raise InvalidRequest("init", f"{model_id} is no longer in the model library; start a new run")
    return trained.folder(storage, name)


def _add_to_library(storage: Storage, training: Training, lora: Path, made_by: dict) -> None:
    """Copy the trained LoRA into the library as its name (or NAME-2, ... if that was taken since)."""
    storage.lora_folder.mkdir(parents=True, exist_ok=True)
    about = {"model": training.model, **made_by}
    for suffix in ("", *(f"-{n}" for n in range(2, 100))):
        part = storage.lora_folder / f".training-{training.id}.part"
        shutil.copyfile(lora, part)
        try:
            storage.add_lora(f"{training.name[:100 - len(suffix)]}{suffix}", part, about)  # names: 100 at most
            return
        except FileExistsError:
            continue
        finally:
            part.unlink(missing_ok=True)


def losses(storage: Storage, training_id: str) -> list[list[float]]:
    """[step, loss] pairs from the run's loss log (a step logged twice, after a resume, counts
    once: the later), thinned to at most MAX_LOSS_POINTS by averaging neighbours."""
    from ..train.common import LOG_FILE

    log = folder(storage, training_id) / "work" / LOG_FILE
    if not log.is_file():
        return []
    by_step: dict[int, float] = {}
    with log.open(newline="") as lines:
        for row in csv.reader(lines):
            try:
                by_step[int(row[1])] = float(row[2])
            except (IndexError, ValueError):
                continue  # a line cut short by a crash
    points = sorted(by_step.items())
    width = max(1, -(-len(points) // MAX_LOSS_POINTS))
    thinned = []
    for start in range(0, len(points), width):
        chunk = points[start:start + width]
        thinned.append([chunk[-1][0], round(sum(loss for _, loss in chunk) / len(chunk), 6)])
    return thinned


def samples(storage: Storage, training_id: str) -> list[dict]:
    """The sample clips written so far, in step order: {"step", "path"} (path under the run's folder)."""
    root = folder(storage, training_id)
    return [{"step": int(p.stem.removeprefix("step-")), "path": p.relative_to(root).as_posix()}
            for p in sorted((root / "work" / "samples").glob("step-*.mp4")) if p.stem.removeprefix("step-").isdigit()]


def outputs(storage: Storage, training_id: str) -> list[dict]:
    """What the finished run made (model files or the LoRA, its sample clip and loss curve)."""
    root = folder(storage, training_id)
    out = root / "out"
    files = sorted(p for p in out.rglob("*") if p.is_file()) if out.is_dir() else []
    return [{"name": p.relative_to(out).as_posix(), "path": p.relative_to(root).as_posix(),
             "size_bytes": p.stat().st_size} for p in files]


def remove(storage: Storage, training_id: str) -> None:
    shutil.rmtree(folder(storage, training_id), ignore_errors=True)
