"""Fit a model to the machine: find the accelerator and its free memory, choose a memory mode,
and apply it to a loaded pipeline through diffusers' own offloading and casting hooks.

Modes, from fastest to leanest:
    none        every component on the accelerator
    model       model offload: one whole component (text encoder, transformer, VAE) on the GPU at a time
    group       group offload with CUDA streams: blocks stream in just before they run
    sequential  sequential offload: one layer at a time (slowest, least memory)
Add-ons: VAE tiling (decode in tiles), fp8 layerwise casting (weights stored in fp8, computed in
bf16), and quantization of the transformer and text encoder at load time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...errors import InvalidRequest
from .models import BYTES_PER_PARAM, OpenModel

MODES = ("none", "model", "group", "sequential")
# Weight size relative to 16-bit for each quantization, and the package that provides it.
QUANTIZATIONS = {"nf4": (0.28, "bitsandbytes"), "int8": (0.5, "bitsandbytes")}
MODE_TITLES = {"none": "no offload", "model": "model offload", "group": "group offload with streams",
               "sequential": "sequential offload"}
HEADROOM = 0.9  # plan to use at most this share of the free memory


@dataclass(frozen=True)
class Hardware:
    kind: str  # "cuda", "mps" or "cpu"
    name: str
    free_gb: float

    @property
    def accelerator(self) -> bool:
        return self.kind != "cpu"


def detect() -> Hardware:
    if torch.cuda.is_available():
        free, _total = torch.cuda.mem_get_info()
        return Hardware("cuda", torch.cuda.get_device_name(), free / 1e9)
    if torch.backends.mps.is_available():
        # Apple GPUs share system memory; what torch may still allocate is the honest figure.
        limit = torch.mps.recommended_max_memory() - torch.mps.current_allocated_memory()
        return Hardware("mps", "Apple GPU", limit / 1e9)
    return Hardware("cpu", "CPU", 0.0)


def mps_bfloat16() -> bool:
    """PyTorch's MPS backend computes bfloat16 from macOS 14 on."""
    import platform

    release = platform.mac_ver()[0]
    return bool(release) and int(release.split(".")[0]) >= 14


def precision(hardware: Hardware, wanted: str) -> str:
    """The dtype a model published in `wanted` runs in on this hardware: as published on CUDA; on an
    Apple GPU too, except bfloat16 before macOS 14, which becomes float16 (the half precision MPS
    has there); float32 on a CPU outside laptop mode (half precision is slow or missing there)."""
    if hardware.kind == "cpu":
        return "float32"
    if hardware.kind == "mps" and wanted == "bfloat16" and not mps_bfloat16():
        return "float16"
    return wanted


def installed(package: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(package) is not None


@dataclass(frozen=True)
class MemoryPlan:
    mode: str
    vae_tiling: bool
    fp8: bool
    reason: str
    quantize: str | None = None

    def describe(self) -> str:
        extras = [name for name, on in (("VAE tiling", self.vae_tiling), ("fp8 weights", self.fp8),
                                        (f"{self.quantize} quantization", self.quantize)) if on]
        return f"memory: {MODE_TITLES[self.mode]}{' + ' + ' + '.join(extras) if extras else ''} ({self.reason})"


def estimate_gb(model: OpenModel, mode: str, fp8: bool = False, quantize: str | None = None) -> float:
    """Peak accelerator memory for a mode: resident weights plus the model's working allowance."""
    weights = {name: billions * BYTES_PER_PARAM for name, billions in model.params.items()}
    if quantize:  # the transformers and text encoders are quantized at load time
        factor = QUANTIZATIONS[quantize][0]
        weights = {n: gb * factor if n.startswith(("transformer", "text_encoder")) else gb for n, gb in weights.items()}
    if fp8:  # the denoisers' weights are stored in one byte instead of two
        weights = {n: gb / 2 if n.startswith("transformer") and not quantize else gb for n, gb in weights.items()}
    resident = {"none": sum(weights.values()), "model": max(weights.values()), "group": 1.0, "sequential": 0.5}[mode]
    return resident + model.working_gb


def check_names(mode: str | None, quantize: str | None) -> None:
    """The memory mode and quantization asked for exist (and the quantization can run here)."""
    if mode is not None and mode not in MODES:
        raise InvalidRequest("--offload", f"must be one of {', '.join(MODES)} (got {mode!r})")
    if quantize is not None:
        if quantize not in QUANTIZATIONS:
            raise InvalidRequest("--quantize", f"must be one of {', '.join(QUANTIZATIONS)} (got {quantize!r})")
        package = QUANTIZATIONS[quantize][1]
        if not installed(package):
            raise InvalidRequest("--quantize", f"{quantize} needs {package}: pip install {package}")


def choose(model: OpenModel, hardware: Hardware, mode: str | None = None, fp8: bool | None = None,
           vae_tiling: bool | None = None, quantize: str | None = None) -> MemoryPlan:
    """The fastest setup whose estimate fits the free memory; flags given by the user win.

    Order tried: no offload, then model, group and sequential offload, each first in 16-bit and
    then with fp8 weights; when none fits and bitsandbytes is installed, nf4 with model offload.
    """
    check_names(mode, quantize)

    def first_asked(offload_asked: bool) -> str | None:
        asked = (("--offload", offload_asked), ("--fp8", bool(fp8)), ("--quantize", bool(quantize)))
        return next((flag for flag, on in asked if on), None)

    if not hardware.accelerator:
        if flag := first_asked(mode not in (None, "none")):
            what = f"--offload {mode}" if flag == "--offload" else flag
            raise InvalidRequest(flag, f"{what} needs a CUDA or Apple GPU; this machine has none")
        return MemoryPlan("none", bool(vae_tiling), False, "no GPU found: running on the CPU, which is very slow "
                          "for open models")
    if hardware.kind == "mps" and (flag := first_asked(mode == "group")):
        raise InvalidRequest(flag, "needs a CUDA GPU (not available on Apple GPUs)")

    budget = hardware.free_gb * HEADROOM
    candidates = [(m, f, quantize) for m in (MODES if mode is None else (mode,))
                  for f in ((False, True) if fp8 is None else (fp8,))
                  if not (hardware.kind == "mps" and (m == "group" or f))]
    if quantize is None and mode is None and hardware.kind == "cuda" and installed("bitsandbytes"):
        candidates.append(("model", False, "nf4"))
    fitting = [c for c in candidates if estimate_gb(model, *c) <= budget]
    chosen = fitting[0] if fitting else candidates[-1]
    need = estimate_gb(model, *chosen)
    if mode is not None:
        reason = f"chosen with --offload; needs about {need:.0f} GB, {hardware.free_gb:.0f} GB free"
    elif fitting:
        reason = f"needs about {need:.0f} GB, {hardware.free_gb:.0f} GB free on {hardware.name}"
    else:
        reason = f"needs about {need:.0f} GB, only {hardware.free_gb:.0f} GB free on {hardware.name}: may not fit"
        if not installed("bitsandbytes"):
            reason += "; pip install bitsandbytes to allow --quantize nf4"
    chosen_mode, chosen_fp8, chosen_quantize = chosen
    if vae_tiling is None:  # tiling costs little; skip it only when memory is plentiful
        vae_tiling = chosen_mode != "none" or need > budget / 1.5
    return MemoryPlan(chosen_mode, vae_tiling, chosen_fp8, reason, chosen_quantize)


def bitsandbytes_settings(quantize: str, dtype) -> tuple[str, dict]:
    """(diffusers' backend name, the BitsAndBytesConfig arguments) for nf4 or int8."""
    return {"nf4": ("bitsandbytes_4bit", {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
                                          "bnb_4bit_compute_dtype": dtype}),
            "int8": ("bitsandbytes_8bit", {"load_in_8bit": True})}[quantize]


def bitsandbytes_config(quantize: str, components: list[str], dtype):
    """diffusers' PipelineQuantizationConfig quantizing those components to nf4 or int8."""
    from diffusers import PipelineQuantizationConfig

    backend, kwargs = bitsandbytes_settings(quantize, dtype)
    return PipelineQuantizationConfig(quant_backend=backend, quant_kwargs=kwargs, components_to_quantize=components)


def quantization_config(plan: MemoryPlan, pipe_components: list[str], dtype):
    """diffusers' PipelineQuantizationConfig for the plan (its transformers and text encoders), or None."""
    if plan.quantize is None:
        return None
    targets = [name for name in pipe_components if name.startswith(("transformer", "text_encoder"))]
    return bitsandbytes_config(plan.quantize, targets, dtype)


def apply(pipe, plan: MemoryPlan, hardware: Hardware) -> None:
    """Once per load: the hooks that live on the components (fp8 casting, group offload, VAE
    tiling), then the placement of the pipeline itself."""
    if plan.fp8:
        for name in ("transformer", "transformer_2"):
            module = getattr(pipe, name, None)
            if module is not None:
                module.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=module.dtype)
    if plan.mode == "group":
        pipe.enable_group_offload(onload_device=torch.device(hardware.kind), offload_type="leaf_level",
                                  use_stream=True)
    place(pipe, plan, hardware)
    if plan.vae_tiling and hasattr(pipe.vae, "enable_tiling"):
        pipe.vae.enable_tiling()


def place(pipe, plan: MemoryPlan, hardware: Hardware) -> None:
    """The part of a memory mode that belongs to one pipeline rather than to its components:
    repeated for each pipeline built from the same components (another task)."""
    device = torch.device(hardware.kind)
    if plan.mode == "none":
        pipe.to(device)
    elif plan.mode == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif plan.mode == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
