"""Where ungated keeps its data, and the optional config file.

    UNGATED_HOME   the data directory (default ~/.ungated): config.toml, models.lock.json, ...
    UNGATED_FETCH_IMAGE_URLS   true or false: [openai] fetch_image_urls, over what config.toml says
    UNGATED_LAPTOP_MODE   off: without a GPU, run open models at their native settings in float32
                   (a CPU server with memory to spare) instead of laptop mode (engines/open/laptop.py)
    HF_HOME        where downloaded open-model weights live (Hugging Face's standard cache)

config.toml holds the settings in SETTINGS. A model id may point at a local folder, as
`--model-path` does: a diffusers-format folder for an open model, or a built-in model you trained
(`ungated train builtin`), which the studio then serves as `builtin`. Quote an id that has dots,
or TOML reads it as nested tables:

    [models."wan2.1-t2v-1.3b"]
    path = "/data/models/Wan2.1-T2V-1.3B-Diffusers"

    [models.builtin]
    path = "/home/me/my-model"

Anything else in the file is reported, one line each naming the key and what is allowed, on
stderr (the server's log), and otherwise left out: a typo never passes silently.
"""

from __future__ import annotations

import difflib
import logging
import os
import tomllib
from collections.abc import Collection, Iterator
from pathlib import Path

from .errors import UngatedError

log = logging.getLogger("ungated.settings")

# Every setting config.toml may hold: (table, key, what it is). ID is any model id, NAME any
# OpenAI model name.
SETTINGS = (
    ('models."ID"', "path", "a folder with that model's weights, used as --model-path is"),
    ("openai.models", "NAME", "an OpenAI model name the /v1 API answers with this ungated model id"),
    ("openai", "fetch_image_urls", ("true: an input_reference image_url of another server is fetched (never from "
                                    "an internal address); false (the default): only data URLs and this server's "
                                    "files")),
    ("provenance", "artist", "the name credited in the signed manifest when --artist is not given"),
    ("provenance", "certificate", "a PEM file: your C2PA signing certificate, then its issuers"),
    ("provenance", "private_key", "a PEM file: that certificate's ES256 (EC P-256) private key"),
    ("community", "open_signup", "true: anyone may sign up on a public server; false (the default): by invite only"),
    ("community", "clips_per_day", "clips a member may make in a UTC day (default 100)"),
    ("community", "gpu_seconds_per_day", "GPU-seconds a member's jobs may use in a UTC day (default 3600)"),
    ("community", "concurrent_jobs", "clips a member may have queued or running at once (default 20)"),
    ("community", "concurrent_trainings", "training runs a member may have queued or running at once (default 1)"),
)
PROVENANCE_KEYS = tuple(key for table, key, _ in SETTINGS if table == "provenance")
COMMUNITY_KEYS = tuple(key for table, key, _ in SETTINGS if table == "community")
SECTIONS = '[models."ID"], [openai], [openai.models], [provenance] and [community]'
_reported: set[str] = set()


def home() -> Path:
    return Path(os.environ.get("UNGATED_HOME") or Path.home() / ".ungated").expanduser()


def config() -> dict:
    """The settings config.toml holds; what it holds beyond them is reported once per process."""
    path = home() / "config.toml"
    if not path.is_file():
        return {}
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise UngatedError(f"{path}: not valid TOML ({err})") from None
    from .engines.catalog import model_ids

    known, problems = check(raw, model_ids())
    for problem in (f"{path}: {problem}" for problem in problems):
        if problem not in _reported:
            _reported.add(problem)
            log.warning(problem)
    return known


def fetch_image_urls() -> bool:
    """Whether /v1 may fetch an image_url from another server: UNGATED_FETCH_IMAGE_URLS, else config.toml."""
    value = os.environ.get("UNGATED_FETCH_IMAGE_URLS")
    if value is not None:
        return value.strip().lower() in ("1", "true", "yes", "on")
    return config().get("openai", {}).get("fetch_image_urls", False)


def laptop_mode() -> bool:
    """Whether open models run in laptop mode when there is no GPU: on unless UNGATED_LAPTOP_MODE is off."""
    return os.environ.get("UNGATED_LAPTOP_MODE", "on").strip().lower() not in ("0", "false", "no", "off")


def community() -> dict:
    """config.toml's [community] section: open_signup and the default quota of each limit."""
    return config().get("community", {})


def configured_model_path(model_id: str) -> Path | None:
    entry = config().get("models", {}).get(model_id, {})
    return Path(entry["path"]).expanduser() if "path" in entry else None


def check(raw: dict, model_ids: Collection[str]) -> tuple[dict, list[str]]:
    """The settings in a parsed config.toml, and a line for everything else in it. A model id with
    dots written without quotes (which TOML reads as nested tables) is still found, and reported."""
    known: dict = {}
    problems: list[str] = []
    for name, value in raw.items():
        if not isinstance(value, dict):
            table = next((table for table, key, _ in SETTINGS if key == name), None)
            where = f"; put it under [{table}]" if table else f"; the sections are {SECTIONS}"
            problems.append(f"{name} is not a setting of its own{where}")
        elif name == "models":
            known["models"] = _models(value, model_ids, problems)
        elif name == "openai":
            known["openai"] = _openai(value, model_ids, problems)
        elif name == "provenance":
            known["provenance"] = _strings("[provenance]", value, PROVENANCE_KEYS, problems)
        elif name == "community":
            known["community"] = _community(value, problems)
        else:
            sections = ("models", "openai", "provenance", "community")
            problems.append(f"[{name}] is not a section{_close(name, sections)}; "
                            f"the sections are {SECTIONS}")
    return known, problems


def _close(word: str, choices: Collection[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {match[0]}?)" if match else ""


def _strings(table: str, entries: dict, allowed: tuple[str, ...], problems: list[str]) -> dict[str, str]:
    kept = {}
    for key, value in entries.items():
        if key not in allowed:
            problems.append(f"{table} {key} is not a setting{_close(key, allowed)}; "
                            f"{'its setting is' if len(allowed) == 1 else 'its settings are'} {', '.join(allowed)}")
        elif not isinstance(value, str):
            problems.append(f'{table} {key} must be a string in quotes (got {value!r})')
        else:
            kept[key] = value
    return kept


def _community(entries: dict, problems: list[str]) -> dict:
    kept = {}
    for key, value in entries.items():
        if key not in COMMUNITY_KEYS:
            problems.append(f"[community] {key} is not a setting{_close(key, COMMUNITY_KEYS)}; "
                            f"its settings are {', '.join(COMMUNITY_KEYS)}")
        elif key == "open_signup":
            if isinstance(value, bool):
                kept[key] = value
            else:
                problems.append(f"[community] open_signup must be true or false (got {value!r})")
        elif value != "unlimited" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            problems.append(f'[community] {key} must be a whole number, 0 or more, or "unlimited" (got {value!r}); '
                            "leave it out for the default")
        else:
            kept[key] = value
    return kept


def _tables(table: dict, keys: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict]]:
    """(keys to it, its plain values) for each table holding plain values, however deep."""
    plain = {key: value for key, value in table.items() if not isinstance(value, dict)}
    if plain:
        yield keys, plain
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _tables(value, (*keys, key))


def _models(models: dict, model_ids: Collection[str], problems: list[str]) -> dict[str, dict]:
    kept = {}
    for keys, entry in _tables(models):
        if not keys:
            problems.append(f"[models] {', '.join(entry)}: give each model a table of its own, "
                            f'e.g. [models."ltx-video"] with path = "FOLDER"')
            continue
        model_id = ".".join(keys)
        if model_id not in model_ids:
            quoting = "; quote ids with dots: [models.\"wan2.1-t2v-1.3b\"]" if len(keys) > 1 else ""
            problems.append(f"[models.{model_id}] is not a model id{_close(model_id, model_ids)}{quoting} "
                            "(`ungated models` lists them)")
            continue
        if len(keys) > 1:
            problems.append(f'[models.{model_id}]: quote ids with dots: [models."{model_id}"] (unquoted, TOML reads '
                            f"nested tables; ungated used it as {model_id})")
        kept[model_id] = _strings(f'[models."{model_id}"]', entry, ("path",), problems)
    return kept


def _openai(openai: dict, model_ids: Collection[str], problems: list[str]) -> dict:
    aliases, known = {}, {}
    for key, value in openai.items():
        if key == "fetch_image_urls":
            if isinstance(value, bool):
                known[key] = value
            else:
                problems.append(f"[openai] fetch_image_urls must be true or false (got {value!r})")
            continue
        if key != "models":
            problems.append(f"[openai] {key} is not a setting{_close(key, ('models', 'fetch_image_urls'))}; its "
                            'settings are fetch_image_urls and [openai.models], e.g. sora-2 = "ltx-video"')
            continue
        if not isinstance(value, dict):
            problems.append('[openai] models must be a table: [openai.models] with lines like sora-2 = "ltx-video"')
            continue
        for name, model_id in value.items():
            if not isinstance(model_id, str):
                problems.append(f'[openai.models] {name} must be a model id in quotes, e.g. {name} = "ltx-video" '
                                '(quote names with dots)')
            elif model_id not in model_ids and not model_id.startswith("builtin/"):
                problems.append(f"[openai.models] {name} = {model_id!r}: not a model id"
                                f"{_close(model_id, model_ids)} (`ungated models` lists them)")
            else:
                aliases[name] = model_id
    return {**known, "models": aliases}
