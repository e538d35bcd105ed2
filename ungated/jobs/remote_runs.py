"""A training run on a remote worker, the server's half (api/workers.py speaks with the worker):
the files the run may fetch (its dataset, and the model an `init: builtin/NAME` fine-tune starts
from), the live view the worker sends while it trains (its loss log and sample clips, kept where
training.losses and training.samples read a local run's), and the checks on its result before it
joins the library as a local run's does (training.publish).

The result is the run's out/ folder as a zip: out/model/ for the built-in model, NAME.safetensors
(with its NAME.json, sample and loss curve) for a LoRA. It is unpacked with archive.py's limits
beside the run's folder, checked (the built-in model loads through the engine's own loading path;
the LoRA parses, names only LoRA weights of the attention layers the trainer adapts, at the run's
rank, and is of bounded size), and only then moved in as trainings/ID/out/.
"""

from __future__ import annotations

import io
import re
import shutil
from dataclasses import fields, replace
from pathlib import Path

from ..errors import InvalidRequest
from ..train.common import LOG_FILE
from . import results, trained, training
from .archive import Archive
from .paths import client_path
from .schema import Training, Video
from .storage import Storage

MAX_LOG_BYTES = 64 * 2**20  # a run's whole loss log: a million steps at ~25 bytes a line
MAX_LOG_CHUNK = 2**20  # what one call may add to it
MAX_SAMPLE_BYTES = 64 * 2**20
MAX_STEP = 10**7
MAX_MODEL_BYTES = 2**30  # the built-in model's weights: a few MB at its default size
MAX_LORA_BYTES = 2**30  # a rank-64 LoRA of a 14B model is a few hundred MB
MAX_SIDE_FILE_BYTES = 64 * 2**20  # a result's sample clip, loss curve, config or notes
MAX_VOCABULARY = 100_000  # words a built-in model learned from its captions
LORA_KEY = re.compile(r"transformer\.(?:[A-Za-z0-9_]+\.)+(?:to_q|to_k|to_v|to_out\.0)\.lora_([AB])\.weight")
LOSS_LINE = re.compile(rb"[a-z0-9_]{1,32},[0-9]{1,8},[-+0-9.eEinfINFa]{1,32}\n")


class Refused(results.Refused):
    """A training result that fails a check; the message says which."""


# 1. What the run fetches.

def trained_folder(storage: Storage, job: Video | Training) -> Path | None:
    """The trained built-in model a job needs (a video's `builtin/NAME`, a fine-tune's starting
    model), or None for a job that needs none."""
    if isinstance(job, Training):
        return training.start_from(storage, job)
    name = trained.find(storage, job.model)
    return None if name is None else trained.folder(storage, name)


def listing(folder: Path) -> list[dict]:
    """Every file the worker may fetch from folder: path (as client_path takes it), size, and its
    modification time (which the worker gives its copy, so the trainer's frame cache keyed by it
    holds across downloads). No checksums: hashing gigabytes of clips at every claim costs more
    than it saves; the worker checks each file's size."""
    found = []
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        relative = path.relative_to(folder).as_posix()
        if _shareable(folder, relative) is not None:
            stat = path.stat()
            found.append({"path": relative, "size": stat.st_size, "modified_ns": stat.st_mtime_ns})
    return found


def shared_file(folder: Path, relative: str) -> Path:
    """The file at relative in folder that listing offers; InvalidRequest (naming `path`) for a
    path a client may not send, FileNotFoundError for one not offered."""
    client_path(relative)
    found = _shareable(folder, relative)
    if found is None:
        raise FileNotFoundError(relative)
    return found


def _shareable(folder: Path, relative: str) -> Path | None:
    """The file, when it is a plain file inside folder that is not hidden (an archiver's leftovers,
    an upload in progress)."""
    try:
        checked = client_path(relative)
    except InvalidRequest:
        return None
    path = (folder / checked).resolve()
    if any(name.startswith(".") for name in checked.parts) or not path.is_relative_to(folder.resolve()):
        return None
    return path if path.is_file() else None


# 2. The live view: the loss log and sample clips, where the studio reads a local run's.

def log_path(storage: Storage, training_id: str) -> Path:
    return training.folder(storage, training_id) / "work" / LOG_FILE


def log_received(storage: Storage, training_id: str) -> int:
    path = log_path(storage, training_id)
    return path.stat().st_size if path.is_file() else 0


def append_log(storage: Storage, training_id: str, offset: int, data: bytes) -> int:
    """Add the worker's loss log lines from offset (0: the worker's log from its start, which
    replaces the server's copy); returns the bytes the server has. The caller has checked that
    offset is 0 or what the server has. InvalidRequest (naming `body`) unless data is whole
    `stage,step,loss` lines."""
    for number, line in enumerate(io.BytesIO(data), 1):
        if not LOSS_LINE.fullmatch(line):
            raise InvalidRequest("body", f"line {number} is not 'stage,step,loss' ending in a newline")
    if offset + len(data) > MAX_LOG_BYTES:
        raise InvalidRequest("body", f"a run's loss log may be at most {MAX_LOG_BYTES // 2**20} MB")
    path = log_path(storage, training_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    if offset == 0:  # a new copy, whole or not at all
        partial = path.with_name(f".{path.name}.part")
        partial.write_bytes(data)
        partial.replace(path)
    else:
        with path.open("ab") as log:
            log.write(data)
    return offset + len(data)


def save_sample(storage: Storage, training_id: str, step: int, data: bytes) -> None:
    """Keep a sample clip the run drew at step, where training.samples finds it; InvalidRequest
    (naming `body`) unless it is a video that decodes."""
    _check_video(data)
    path = training.folder(storage, training_id) / "work" / "samples" / f"step-{step:06d}.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    partial.write_bytes(data)
    partial.replace(path)


def _check_video(data: bytes) -> None:
    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.video or next(container.decode(video=0), None) is None:
                raise ValueError
    except (av.error.FFmpegError, ValueError, IndexError, StopIteration):
        raise InvalidRequest("body", "the sample is not a video that decodes") from None


# 3. The result.

def expected_files(run: Training) -> tuple[set[str], set[str]]:
    """(the files a result must hold, those it may hold besides), by their path under out/."""
    if run.model == training.BUILTIN:
        return {"model/config.json", "model/model.safetensors"}, {"model/sample.mp4", "model/loss.png"}
    name = run.name
    return {f"{name}.safetensors"}, {f"{name}.json", f"{name}.sample.mp4", f"{name}.loss.png"}


def accept(storage: Storage, run: Training, lease_token: str, part: Path, sha256: str, size: int) -> str:
    """Check the uploaded result at part, make it the run's out/ folder and publish it as a local
    run's is; returns the result's path under the storage root. Raises Refused naming the first
    check it fails (nothing is kept then); the part file is left for the caller to remove."""
    results.check_upload(part, sha256, size)
    root = training.folder(storage, run.id)
    staged = root / f".result-{lease_token}"
    shutil.rmtree(staged, ignore_errors=True)
    try:
        _unpack(run, part, staged)
        result = staged / training.result_file(storage, run).relative_to(root / "out")
        if run.model == training.BUILTIN:
            _check_model(storage, run, result)
        else:
            _check_lora(run, result)
        out = root / "out"
        shutil.rmtree(out, ignore_errors=True)  # an earlier attempt's, on the server
        staged.rename(out)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return training.publish(storage, run, training.result_file(storage, run))


def _unpack(run: Training, part: Path, staged: Path) -> None:
    required, optional = expected_files(run)
    try:
        with Archive(part) as archive:
            names = {str(member.path) for member in archive.members}
            if unexpected := sorted(names - required - optional):
                raise Refused(f"the result holds {unexpected[0]!r}, which this run does not make")
            if missing := sorted(required - names):
                raise Refused(f"the result lacks {missing[0]!r}")
            for member in archive.members:
                limit = _size_limit(str(member.path))
                if member.size > limit:
                    raise Refused(f"{str(member.path)!r} is over {limit // 2**20} MB")
                target = staged / member.path
                target.parent.mkdir(parents=True, exist_ok=True)
                archive.extract(member, target)
    except InvalidRequest as err:
        raise Refused(f"the result is not a zip this server reads: {err.message}") from None


def _size_limit(name: str) -> int:
    if name == "model/model.safetensors":
        return MAX_MODEL_BYTES
    return MAX_LORA_BYTES if name.endswith(".safetensors") else MAX_SIDE_FILE_BYTES


def _check_model(storage: Storage, run: Training, folder: Path) -> None:
    """A clip model of the shape this run trains, which loads through the engine's loading path."""
    from ..engines.builtin.clipnet import ClipConfig
    from ..engines.catalog import get_engine
    from ..train.clips import ClipTrainPlan

    try:
        config = ClipConfig.from_json((folder / "config.json").read_text())
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise Refused("model/config.json is not a clip model's config") from None
    start = training.start_from(storage, run)
    if start is not None:
        expected = ClipConfig.from_json((start / "config.json").read_text())
    else:
        plan = ClipTrainPlan(data_dir=None, out_dir=None, work_dir=None)
        expected = ClipConfig((), frames=plan.frames, fps=plan.fps, channels=plan.channels,
                              text_width=plan.text_width)
    # The network's shape is the run's (so building it cannot ask for any amount of memory); its
    # size and words are what the trainer found in the dataset, within bounds.
    free = {"vocabulary": (), "width": 0, "height": 0}
    if replace(config, **free) != replace(expected, **free):
        changed = next(f.name for f in fields(ClipConfig) if f.name not in free
                       and getattr(config, f.name) != getattr(expected, f.name))
        raise Refused(f"the model's {changed} is not the one this run trains")
    multiple = config.depth_multiple
    if not (0 < config.width <= 1024 and 0 < config.height <= 1024 and config.width % multiple == 0
            and config.height % multiple == 0) or len(config.vocabulary) > MAX_VOCABULARY:
        raise Refused(f"the model's size {config.width}x{config.height} or vocabulary is out of bounds")
    try:
        get_engine("builtin", folder).load()
    except Exception as err:  # whatever a bad file makes the loader raise, the worker's owner reads it
        raise Refused(f"the model does not load: {err}".replace(str(folder), "model")) from None


def _check_lora(run: Training, path: Path) -> None:
    """A .safetensors file of LoRA weights for the attention layers the trainer adapts, in A/B
    pairs at the run's rank."""
    from safetensors import SafetensorError, safe_open

    rank = run.options.get("rank")
    try:
        with safe_open(str(path), framework="pt") as lora:
            shapes = {key: lora.get_slice(key).get_shape() for key in lora.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError):
        raise Refused(f"{path.name} is not a .safetensors file") from None
    if not shapes:
        raise Refused(f"{path.name} holds no weights")
    for key, shape in shapes.items():
        found = LORA_KEY.fullmatch(key)
        if found is None:
            raise Refused(f"{path.name} holds {key[:100]!r}, which is not a LoRA weight of {run.model}'s "
                          "attention layers")
        pair = key[:found.start(1)] + ("B" if found[1] == "A" else "A") + key[found.end(1):]
        if pair not in shapes:
            raise Refused(f"{path.name} holds {key[:100]!r} without its other half")
        if len(shape) != 2 or (rank is not None and shape[0 if found[1] == "A" else 1] != rank):
            raise Refused(f"{path.name}'s {key[:100]!r} is not of this run's rank ({rank})")

