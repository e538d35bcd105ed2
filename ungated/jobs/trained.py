"""Built-in models trained in the studio, served beside the catalog's models as `builtin/NAME`.

A finished built-in training run copies its model folder into the server's model library,
models/NAME/ under the storage root (with ungated.json saying which run made it), so anyone on the
server can pick it in the create form or name it in a request, and every worker that serves
`builtin` makes its clips (it finds the folder under its own mount of the storage root).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..engines.base import Engine, EngineOptions
from ..engines.catalog import get_engine, model_ids
from .storage import LORA_NAME, Storage

PREFIX = "builtin/"
ABOUT = "ungated.json"
MAX_NAME = 64 - len(PREFIX)  # the store keeps model ids in 64 characters


def name_of(model_id: str) -> str | None:
    """NAME for an id `builtin/NAME`, else None."""
    name = model_id.removeprefix(PREFIX)
    return name if model_id.startswith(PREFIX) and LORA_NAME.fullmatch(name) and len(name) <= MAX_NAME else None


def folder(storage: Storage, name: str) -> Path:
    return storage.root / "models" / name


def names(storage: Storage) -> list[str]:
    root = storage.root / "models"
    found = sorted(p.name for p in root.iterdir() if (p / "config.json").is_file()) if root.is_dir() else []
    return [name for name in found if LORA_NAME.fullmatch(name) and len(name) <= MAX_NAME]


def find(storage: Storage, model_id: str) -> str | None:
    """NAME, when model_id is a trained model (builtin/NAME) in the library; else None."""
    name = name_of(model_id)
    return name if name is not None and name in names(storage) else None


def ids(storage: Storage) -> list[str]:
    return [PREFIX + name for name in names(storage)]


def all_ids(storage: Storage) -> list[str]:
    """The catalog's model ids and the trained ones."""
    return [*model_ids(), *ids(storage)]


def about(storage: Storage, name: str) -> dict:
    path = folder(storage, name) / ABOUT
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        return {}


def cache_key(model_id: str, storage: Storage) -> str:
    """What a loaded engine is kept under: a trained model's id with the run that made it, so a
    name removed and trained again is never served from the old weights."""
    name = name_of(model_id)
    return f"{model_id}@{about(storage, name).get('training', '')}" if name else model_id


def engine(model_id: str, storage: Storage, options: EngineOptions = EngineOptions()) -> Engine:
    """The engine for a catalog id or a trained `builtin/NAME` (titled with its name)."""
    name = find(storage, model_id)
    if name is None:
        return get_engine(model_id, options=options)
    built = get_engine("builtin", folder(storage, name), options)
    built.id, built.title = model_id, f"{name} (trained on clips)"
    return built


def add(storage: Storage, name: str, model_dir: Path, made_by: dict) -> str:
    """Copy a trained model folder into the library as NAME (or NAME-2, ... if taken); returns the
    name it got."""
    library = storage.root / "models"
    library.mkdir(parents=True, exist_ok=True)
    for suffix in ("", *(f"-{n}" for n in range(2, 100))):
        target = library / f"{name[:MAX_NAME - len(suffix)]}{suffix}"
        if target.exists():
            continue
        part = library / f".{target.name}.part"
        shutil.rmtree(part, ignore_errors=True)
        shutil.copytree(model_dir, part)
        (part / ABOUT).write_text(json.dumps(made_by, indent=2))
        try:
            part.rename(target)  # whole or not at all: a worker never sees half a model
        except OSError:  # taken meanwhile
            shutil.rmtree(part, ignore_errors=True)
            continue
        return target.name
    raise FileExistsError(name)


def remove(storage: Storage, name: str) -> None:
    shutil.rmtree(folder(storage, name), ignore_errors=True)
