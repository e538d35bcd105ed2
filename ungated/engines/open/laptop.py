"""Laptop mode: open models on a machine with no CUDA or Apple GPU.

What makes a real open model bearable on a CPU, all chosen here and applied by the engine:
    dtype          bfloat16 where the CPU computes it natively (AVX512-BF16 or AMX), else float32
    text encoders  loaded for each clip, run once, and freed before the denoiser runs: the largest
                   component (T5-XXL, UMT5-XXL) never shares memory with the denoiser
    VAE tiling     decode in tiles (memory.choose turns it on without a GPU), each as large as a
                   laptop-size frame
    threads        one per physical core (hyper-threads slow dense matrix work down)
    defaults       a small size and a 2-second clip per model, unless the request asks otherwise
Models whose estimated peak does not fit a 16 GB laptop are refused before anything loads.
"""

from __future__ import annotations

import gc
import inspect
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ...errors import InvalidRequest
from ..base import Capabilities
from . import laptop_figures
from .models import OpenModel

LAPTOP_GB = 16
# What a 16 GB laptop leaves one program once the system and a browser have theirs.
BUDGET_GB = 13.0
RUNTIME_GB = 1.5  # torch, diffusers and the Python process itself
LAPTOP_SECONDS = 2.0
# CPU flags (Linux /proc/cpuinfo) for native bfloat16 matrix arithmetic; without them bfloat16 is
# emulated and slower than float32.
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")  # the last: ARM's name (Features line)
TEXT_ENCODERS = ("text_encoder", "text_encoder_2")
# What each family's encode_prompt returns, in order: the pipeline arguments of the same names.
# A family not listed keeps its text encoders loaded (the pipeline encodes the prompt itself).
ENCODED = {
    "CogVideoX": ("prompt_embeds", "negative_prompt_embeds"),
    "Wan": ("prompt_embeds", "negative_prompt_embeds"),
    "Wan VACE": ("prompt_embeds", "negative_prompt_embeds"),
    "SkyReels V2": ("prompt_embeds", "negative_prompt_embeds"),
    "LTX-Video": ("prompt_embeds", "prompt_attention_mask", "negative_prompt_embeds",
                  "negative_prompt_attention_mask"),
    "Mochi": ("prompt_embeds", "prompt_attention_mask", "negative_prompt_embeds", "negative_prompt_attention_mask"),
}


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no way to tell without timing, so assume none
        return set()
    return {flag for line in text.splitlines() if line.lower().startswith(("flags", "features"))
            for flag in line.split(":", 1)[-1].split()}


def fast_bfloat16() -> bool:
    return any(flag in cpu_flags() for flag in BF16_FLAGS)


def physical_cores() -> int:
    """Cores, not hyper-threads: distinct (physical id, core id) pairs in /proc/cpuinfo."""
    try:
        blocks = Path("/proc/cpuinfo").read_text().split("\n\n")
    except OSError:
        return os.cpu_count() or 1
    cores = set()
    for block in blocks:
        fields = dict(line.split(":", 1) for line in block.splitlines() if ":" in line)
        fields = {key.strip(): value.strip() for key, value in fields.items()}
        if "core id" in fields:
            cores.add((fields.get("physical id"), fields["core id"]))
    return len(cores) or os.cpu_count() or 1


@dataclass(frozen=True)
class LaptopPlan:
    dtype: str  # of the denoiser and VAE: "bfloat16" or "float32"
    threads: int
    size: tuple[int, int]  # (width, height) drawn when the request asks for none
    peak_gb: float

    def describe(self) -> str:
        weights = ("bfloat16 weights (this CPU computes bfloat16 natively)" if self.dtype == "bfloat16" else
                   "float32 weights (this CPU has no fast bfloat16; text encoders stay bfloat16 to fit)")
        return (f"laptop mode (no GPU found): {weights}, text encoders freed before denoising, VAE tiling, "
                f"{self.threads} threads; default {self.size[0]}x{self.size[1]}, {LAPTOP_SECONDS:g} s "
                f"(--size/--seconds override); about {self.peak_gb:.0f} GB peak")


def laptop_size(model: OpenModel) -> tuple[int, int]:
    return model.laptop or model.sizes[0]


def peak_gb(model: OpenModel, dtype: str) -> float:
    """Estimated peak memory: the larger of the text-encoding stage (bfloat16 text encoders) and the
    denoising stage (the other components in dtype, and the working memory scaled to the laptop
    size and length from the model's allowance at its native default); their sum for a family whose
    text encoders stay loaded (not in ENCODED)."""
    bytes_per_param = 2 if dtype == "bfloat16" else 4
    text = sum(b for name, b in model.params.items() if name.startswith("text_encoder")) * 2
    rest = sum(b for name, b in model.params.items() if not name.startswith("text_encoder")) * bytes_per_param
    (width, height), (native_width, native_height) = laptop_size(model), model.sizes[0]
    share = (width * height) / (native_width * native_height) * min(1.0, LAPTOP_SECONDS * model.fps /
                                                                    model.default_frames)
    working = max(1.0, model.working_gb * share)
    if not frees_text_encoders(model):  # its text encoders stay loaded beside the denoiser
        return RUNTIME_GB + text + rest + working
    return RUNTIME_GB + max(text, rest + working)


def choose(model: OpenModel) -> LaptopPlan:
    """The laptop setup for a model; its peak is the estimate, or what was measured for the same
    weights (benchmarks/bench_laptop.py) where that is higher."""
    from .models import MODELS

    dtype = "bfloat16" if fast_bfloat16() else "float32"
    same_weights = {other.id for other in MODELS if other.repo == model.repo}
    peak = max(peak_gb(model, dtype), laptop_figures.measured_peak_gb(same_weights, dtype))
    return LaptopPlan(dtype, physical_cores(), laptop_size(model), peak)


def check_fits(model: OpenModel, plan: LaptopPlan) -> None:
    if plan.peak_gb > BUDGET_GB:
        raise InvalidRequest("model", f"{model.id} needs about {plan.peak_gb:.0f} GB of memory in {plan.dtype} "
                                      f"without a GPU, more than a {LAPTOP_GB} GB laptop can give it; "
                                      "run it on a machine with a GPU, or pick a model `ungated models` marks "
                                      "for laptops")


def capabilities(model: OpenModel, plan: LaptopPlan) -> Capabilities:
    """The model's capabilities with the laptop default size and length; its native sizes stay
    available to a request that asks for them."""
    width, height = plan.size
    caps = model.capabilities
    laptop_sizes = tuple(s for s in ((width, height), (height, width)) if s not in caps.sizes)
    return replace(caps, sizes=caps.sizes + laptop_sizes, default_size=plan.size, default_seconds=LAPTOP_SECONDS)


def tile_for_laptop(vae) -> None:
    """VAE tiles as large as a laptop-size frame: tiling keeps the decode's memory flat for large
    frames, but at a laptop size overlapping tiles only add work (Wan's 256-pixel tiles decode a
    544x320 frame as six, over twice its pixels)."""
    accepted = inspect.signature(vae.enable_tiling).parameters
    sizes = {"tile_sample_min_height": 512, "tile_sample_min_width": 832, "tile_sample_stride_height": 448,
             "tile_sample_stride_width": 768}
    vae.enable_tiling(**{name: value for name, value in sizes.items() if name in accepted})


def frees_text_encoders(model: OpenModel) -> bool:
    return model.family.name in ENCODED


def text_encoders_left_out(folder: Path) -> dict[str, None]:
    """from_pretrained arguments that load a pipeline without its text encoders."""
    index = json.loads((folder / "model_index.json").read_text())
    return {name: None for name in TEXT_ENCODERS if isinstance(index.get(name), list) and None not in index[name]}


def load_text_encoder(folder: Path, name: str):
    import transformers

    _library, class_name = json.loads((folder / "model_index.json").read_text())[name]
    return getattr(transformers, class_name).from_pretrained(folder / name, dtype=torch.bfloat16).eval()


def encode_prompt(pipe, family: str, folder: Path, arguments: dict, dtype: torch.dtype) -> dict:
    """The arguments with the prompts replaced by their embeddings: the text encoders are loaded,
    run once and freed, so they never share memory with the denoiser."""
    names = list(text_encoders_left_out(folder))
    for name in names:
        setattr(pipe, name, load_text_encoder(folder, name))
    try:
        length = arguments.get("max_sequence_length",
                               inspect.signature(pipe.__call__).parameters["max_sequence_length"].default)
        outputs = pipe.encode_prompt(
            prompt=arguments["prompt"], negative_prompt=arguments.get("negative_prompt"),
            do_classifier_free_guidance=arguments["guidance_scale"] > 1, num_videos_per_prompt=1,
            max_sequence_length=length, device=torch.device("cpu"), dtype=dtype)
    finally:
        for name in names:
            setattr(pipe, name, None)
        gc.collect()
    return arguments | {"prompt": None, "negative_prompt": None} | dict(zip(ENCODED[family], outputs, strict=True))
