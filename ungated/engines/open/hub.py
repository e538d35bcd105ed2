"""Where an open model's weights are: a folder the user named, or the Hugging Face cache that
`ungated models pull` fills. Nothing here downloads except pull()."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ...errors import InvalidRequest, ModelUnavailable
from ...settings import configured_model_path, home
from .models import OpenModel


def lock_path() -> Path:
    return home() / "models.lock.json"


def locked_revisions() -> dict[str, str]:
    path = lock_path()
    return json.loads(path.read_text()) if path.is_file() else {}


def record_revision(model: OpenModel, commit: str) -> None:
    revisions = locked_revisions() | {model.id: commit}
    lock_path().parent.mkdir(parents=True, exist_ok=True)
    lock_path().write_text(json.dumps(revisions, indent=2, sort_keys=True) + "\n")


# A family's own layout -> files its folder must have (and the only files pull fetches).
OWN_LAYOUTS = {
    "pyramid-flow": {
        "needs": ("causal_video_vae/config.json", "text_encoder/config.json", "text_encoder_2/config.json",
                  "tokenizer/tokenizer_config.json", "tokenizer_2/tokenizer_config.json"),
        # Not the text-to-image transformer, nor the pickled copies the safetensors replaced.
        "fetch": ("causal_video_vae/*", "diffusion_transformer_384p/config.json",
                  "diffusion_transformer_384p/*.safetensors", "diffusion_transformer_768p/config.json",
                  "diffusion_transformer_768p/*.safetensors", "text_encoder/*", "text_encoder_2/*", "tokenizer/*",
                  "tokenizer_2/*"),
    },
}


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
NOT_MODELS = ("Tokenizer", "TokenizerFast", "Scheduler", "Processor")  # components without weights


def missing_files(model: OpenModel, path: Path) -> list[str]:
    """What path lacks of the model's weights in its family's layout (nothing: it can be loaded).
    A diffusers folder needs model_index.json and each component it names: the component's
    folder, and for a model (it has a config.json) its weights, every shard its index lists."""
    own = OWN_LAYOUTS.get(model.family.layout)
    if own:
        return [name for name in own["needs"] if not (path / name).is_file()]
    try:
        index = json.loads((path / "model_index.json").read_text())
    except (OSError, ValueError):
        return ["model_index.json"]
    missing = []
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list) or None in value:
            continue  # a setting, or an optional component the pipeline goes without
        folder = path / name
        if not folder.is_dir() or not any(folder.iterdir()):
            missing.append(f"{name}/")
        elif (folder / "config.json").is_file() and not value[1].endswith(NOT_MODELS):
            missing += [f"{name}/{shard}" for shard in _missing_weights(folder)]
    return missing


def _missing_weights(folder: Path) -> list[str]:
    """A model component's weight files that are not there: the shards its index lists, or any."""
    shards = set()
    for index in folder.glob("*.index.json"):
        try:
            shards |= set(json.loads(index.read_text()).get("weight_map", {}).values())
        except (OSError, ValueError, AttributeError):
            return [index.name]
    if shards:
        return sorted(shard for shard in shards if not (folder / shard).is_file())
    return [] if any(file.suffix in WEIGHT_SUFFIXES for file in folder.iterdir()) else ["*.safetensors"]


def is_weights_folder(model: OpenModel, path: Path) -> bool:
    """Whether path holds the model's weights in its family's layout."""
    return not missing_files(model, path)


def missing_message(model: OpenModel) -> str:
    layout = "diffusers-format" if model.family.layout == "diffusers" else f"{model.repo} (as published)"
    return (f"the weights of {model.id} are not on this machine (about {model.download_gb:.0f} GB): run "
            f"`ungated models pull {model.id}`, or pass --model-path with a {layout} folder")


def cached_folder(model: OpenModel) -> Path | None:
    """The pulled snapshot in the Hugging Face cache, if complete enough to load."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    revision = locked_revisions().get(model.id, model.revision)
    try:
        folder = Path(snapshot_download(model.repo, revision=revision, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        return None
    return folder if is_weights_folder(model, folder) else None


def find_weights(model: OpenModel, model_path: Path | None) -> Path | None:
    """The folder to load: --model-path first, then config.toml's entry, then the cache."""
    for path, origin in ((model_path, "--model-path"), (configured_model_path(model.id), "config.toml")):
        if path is not None:
            missing = missing_files(model, path)
            own = OWN_LAYOUTS.get(model.family.layout)
            if own and missing:
                needs = ", ".join(own["needs"])
                raise InvalidRequest(origin, f"{path} is not a {model.repo} folder (it needs {needs})")
            if missing == ["model_index.json"]:
                raise InvalidRequest(origin, f"{path} is not a diffusers-format model folder (no model_index.json)")
            if missing:
                lacks = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
                raise InvalidRequest(origin, f"{path} is an incomplete diffusers-format folder: it lacks "
                                             f"{lacks} (its model_index.json names them); copy the "
                                             f"whole folder, or run `ungated models pull {model.id}`")
            return path
    return cached_folder(model)


def require_weights(model: OpenModel, model_path: Path | None) -> Path:
    folder = find_weights(model, model_path)
    if folder is None:
        raise ModelUnavailable(missing_message(model))
    return folder


def require_lora(model: OpenModel) -> Path | None:
    """The pulled LoRA file the model's row fuses in at load (None: the row names none)."""
    from huggingface_hub import hf_hub_download

    if model.lora is None:
        return None
    try:
        return Path(hf_hub_download(model.lora.repo, model.lora.filename, revision=model.lora.revision,
                                    local_files_only=True))
    except (OSError, ValueError):  # LocalEntryNotFoundError is an OSError; ValueError: a malformed cache entry
        raise ModelUnavailable(f"{model.id} needs the LoRA {model.lora.filename} from {model.lora.repo}, which is "
                               f"not on this machine: run `ungated models pull {model.id}`") from None


def _download_patterns(model: OpenModel, revision: str) -> list[str]:
    """model_index.json and the folders of the components it names (not the original-format
    checkpoints some repos also carry); a family's own layout says its files itself."""
    from huggingface_hub import hf_hub_download

    own = OWN_LAYOUTS.get(model.family.layout)
    if own:
        return list(own["fetch"])
    index = json.loads(Path(hf_hub_download(model.repo, "model_index.json", revision=revision)).read_text())
    components = [name for name, value in index.items() if not name.startswith("_") and isinstance(value, list)]
    return ["model_index.json", *(f"{name}/*" for name in components)]


def pull(model: OpenModel, confirm_size: Callable[[float, int], None]) -> Path:
    """Download model into the Hugging Face cache (resuming a broken download), after telling
    confirm_size(gigabytes, file count) what it is about to fetch. Records the commit."""
    from fnmatch import fnmatch

    from huggingface_hub import HfApi, snapshot_download

    info = HfApi().model_info(model.repo, revision=model.revision, files_metadata=True)
    patterns = _download_patterns(model, info.sha)
    files = [f for f in info.siblings if any(fnmatch(f.rfilename, p) for p in patterns)]
    confirm_size(sum(f.size or 0 for f in files) / 1e9, len(files))
    folder = Path(snapshot_download(model.repo, revision=info.sha, allow_patterns=patterns))
    if model.lora is not None:  # the row's own LoRA (under 0.1 GB for the ones in the catalog)
        from huggingface_hub import hf_hub_download

        hf_hub_download(model.lora.repo, model.lora.filename, revision=model.lora.revision)
    record_revision(model, info.sha)
    return folder


def load_pipeline(folder: Path, dtype, lora: Path | None = None, **arguments):
    """The diffusers pipeline in a weights folder, quietly (ungated shows its own progress);
    arguments go to from_pretrained (components to replace or leave out, quantization_config).
    lora: the catalog row's own LoRA, fused into the weights and its adapter dropped, so that a
    request's LoRAs switch on and off on top of it without touching it."""
    import diffusers
    import transformers

    for library in (diffusers, transformers):
        library.utils.logging.disable_progress_bar()
        library.utils.logging.set_verbosity_error()
    pipe = diffusers.DiffusionPipeline.from_pretrained(folder, dtype=dtype, **arguments)
    pipe.set_progress_bar_config(disable=True)
    if lora is not None:
        pipe.load_lora_weights(str(lora), adapter_name="catalog")
        pipe.fuse_lora(adapter_names=["catalog"])
        pipe.unload_lora_weights()
    return pipe
