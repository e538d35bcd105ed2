"""Where ungated keeps its data, and the optional config file.

    UNGATED_HOME   the data directory (default ~/.ungated): config.toml, models.lock.json, ...
    HF_HOME        where downloaded open-model weights live (Hugging Face's standard cache)

config.toml may point a model id at a local folder, as `--model-path` does: a diffusers-format
folder for an open model, or a built-in model you trained (`ungated train builtin`), which the
studio then serves as `builtin`:

    [models.ltx-video]
    path = "/data/models/LTX-Video-0.9.5"

    [models.builtin]
    path = "/home/me/my-model"
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from .errors import UngatedError


def home() -> Path:
    return Path(os.environ.get("UNGATED_HOME") or Path.home() / ".ungated").expanduser()


def config() -> dict:
    path = home() / "config.toml"
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise UngatedError(f"{path}: not valid TOML ({err})") from None


def configured_model_path(model_id: str) -> Path | None:
    entry = config().get("models", {}).get(model_id, {})
    return Path(entry["path"]).expanduser() if "path" in entry else None
