"""Training a LoRA on an open model's transformer (peft), from an artist's folder of captioned clips.

Two phases, so the big text encoder and the transformer are never in memory together:

1. `prepare` loads the pipeline without its transformer, fits every clip to its bucket (the
   model's native size scaled to `resolution` on the short side, at most `max_frames` frames),
   and caches each clip's VAE latents and each caption's text conditioning in the work folder,
   keyed by file, bucket and model: later runs and resumes skip the encoders entirely.
2. `train` loads the transformer (optionally quantized: nf4 or int8 through bitsandbytes, or fp8
   storage), adds a LoRA to its attention projections, and trains it on the cached latents with
   the family's objective (lora_families.py). Checkpoints hold the LoRA and optimiser state, so a
   run resumes exactly; a sample clip is drawn every `sample_every` steps. The result is a
   diffusers-format .safetensors LoRA that `ungated generate --lora` applies.
"""

from __future__ import annotations

import inspect
import json
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..engines.open import hub, memory
from ..engines.open.models import OPEN_MODELS, OpenModel
from ..errors import InvalidRequest
from ..media.encode import Mp4Writer
from .buckets import Bucket, plan_buckets
from .common import LOG_FILE, ProgressFn, cosine_lr, optimise, run_steps, save_atomic, short_warmup
from .curve import plot_losses
from .dataset import Problem, scan
from .frames import cache_key, clip_frames, clip_key
from .lora_families import TRAINING_FAMILIES, TrainingFamily

CHECKPOINT_FILE = "lora-checkpoint.pt"
STAGE = "lora"
TARGET_MODULES = ("to_q", "to_k", "to_v", "to_out.0")  # attention projections, named alike in every family
BASES = ("bf16", "fp8", "int8", "nf4")  # how the frozen transformer is held
DEFAULT_RESOLUTION, DEFAULT_MAX_FRAMES = 480, 49


@dataclass(frozen=True)
class LoraTrainPlan:
    model_id: str
    data_dir: Path
    out: Path  # the .safetensors file to write
    work_dir: Path
    model_path: Path | None = None
    seed: int = 0
    rank: int = 32
    alpha: float = 32.0
    lr: float = 1e-4
    steps: int = 1000
    batch: int = 1
    resolution: int = DEFAULT_RESOLUTION  # short side of the training size
    max_frames: int = DEFAULT_MAX_FRAMES
    gradient_checkpointing: bool = True
    base: str = "bf16"
    optimizer: str = "auto"  # adamw, adamw8bit, or auto: 8-bit when bitsandbytes and a GPU are here
    caption_dropout: float = 0.05
    checkpoint_every: int = 100
    sample_every: int = 250  # 0: only at the end
    sample_prompt: str | None = None
    sample_steps: int | None = None  # default: the model's own

    @property
    def model(self) -> OpenModel:
        return OPEN_MODELS[self.model_id]


@dataclass
class PreparedLora:
    folder: Path  # the model's weights
    items: dict[Bucket, list[tuple[str, Path]]]  # bucket -> (caption, cached latents file)
    texts: Path  # cached conditioning of every caption (and the empty one)
    skipped: list[Problem] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(group) for group in self.items.values())


def is_trainable(model: OpenModel) -> bool:
    return model.family.name in TRAINING_FAMILIES and "t2v" in model.tasks and model.lora_training


def training_family(model: OpenModel) -> TrainingFamily:
    family = TRAINING_FAMILIES.get(model.family.name)
    if not is_trainable(model):
        trainable = [m.id for m in OPEN_MODELS.values() if is_trainable(m)]
        raise InvalidRequest("--model", f"ungated does not train LoRAs for {model.id} yet; it trains them for: "
                                        + ", ".join(trainable))
    return family


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def compute_dtype(dev: torch.device) -> torch.dtype:
    return torch.bfloat16 if dev.type == "cuda" else torch.float32  # half precision on CPUs is slow


def training_capabilities(model: OpenModel, resolution: int, max_frames: int):
    """The model's capabilities with sizes scaled to the training resolution (multiples of 32)
    and clips capped at max_frames: what its LoRA trains at."""
    caps = model.capabilities
    scale = min(1.0, resolution / min(min(w, h) for w, h in caps.sizes))
    sizes = tuple(dict.fromkeys((max(32, round(w * scale / 32) * 32), max(32, round(h * scale / 32) * 32))
                                for w, h in caps.sizes))
    frames = caps.nearest_frames(min(max_frames, caps.frames_max))
    return replace(caps, sizes=sizes, frames_max=frames, default_seconds=frames / caps.default_fps)


def prepare(plan: LoraTrainPlan, on_item: Callable[[str, int, int], None] = lambda what, done, total: None
            ) -> PreparedLora:
    """Check the dataset and cache latents and text conditioning (running the encoders only for
    what is not cached yet)."""
    family = training_family(plan.model)
    folder = hub.require_weights(plan.model, plan.model_path)
    report = scan(plan.data_dir, min_seconds=0, on_clip=lambda done, total: on_item("reading clips", done, total))
    groups, unfit = plan_buckets(report.clips, training_capabilities(plan.model, plan.resolution, plan.max_frames))
    if not groups:
        why = f"; {len(report.problems) + len(unfit)} problems (see `ungated dataset check --model {plan.model_id}`)"
        raise InvalidRequest("--data", f"no usable clips in {plan.data_dir}{why}")
    cache = plan.work_dir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    texts_file = cache / f"texts-{cache_key(plan.model_id, folder)}.safetensors"
    texts = load_file(str(texts_file)) if texts_file.exists() else {}
    captions = {""} | {c.caption for group in groups.values() for c in group}
    if plan.sample_prompt:
        captions.add(plan.sample_prompt)
    cached = {key.split(".", 1)[0] for key in texts}
    wanted_texts = [c for c in sorted(captions) if cache_key(c) not in cached]
    items: dict[Bucket, list[tuple[str, Path]]] = {}
    to_encode = []
    for bucket, group in groups.items():
        for clip in group:
            path = cache / f"latents-{clip_key(plan.data_dir, clip, bucket, plan.model_id, folder)}.pt"
            items.setdefault(bucket, []).append((clip.caption, path))
            if not path.exists():
                to_encode.append((clip, bucket, path))
    if to_encode or wanted_texts:
        dev = device()
        pipe = hub.load_pipeline(folder, compute_dtype(dev), transformer=None)
        pipe.to(dev)
        max_length = text_length(folder, type(pipe))
        with torch.inference_mode():
            for done, caption in enumerate(wanted_texts, start=1):
                on_item("encoding captions", done, len(wanted_texts))
                for name, value in family.encode_text(pipe, caption, max_length).items():
                    texts[f"{cache_key(caption)}.{name}"] = value.detach().cpu().contiguous()
            save_file(texts, str(texts_file))
            for done, (clip, bucket, path) in enumerate(to_encode, start=1):
                on_item("encoding clips", done, len(to_encode))
                latents = family.encode_video(pipe, clip_frames(plan.data_dir, clip, bucket))
                torch.save(latents.to(compute_dtype(dev)), path.with_suffix(".tmp"))
                path.with_suffix(".tmp").replace(path)
        del pipe
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    return PreparedLora(folder, items, texts_file, report.problems + unfit)


def _text_batch(texts: dict[str, torch.Tensor], captions: list[str], dev, dtype) -> dict[str, torch.Tensor]:
    names = sorted({k.split(".", 1)[1] for k in texts if k.startswith(cache_key(captions[0]) + ".")})
    batch = {}
    for name in names:
        stacked = torch.stack([texts[f"{cache_key(c)}.{name}"] for c in captions]).to(dev)
        batch[name] = stacked if not stacked.is_floating_point() else stacked.to(dtype)
    return batch


def _load_for_training(plan: LoraTrainPlan, folder: Path, dev: torch.device, dtype: torch.dtype):
    """The pipeline without its text encoders (captions come from the cache; the VAE draws
    samples), its transformer held as plan.base says, on the device."""
    quantization = None
    if plan.base in ("nf4", "int8"):
        if dev.type != "cuda":
            raise InvalidRequest("--base", f"{plan.base} needs an NVIDIA GPU (bitsandbytes); use bf16 or fp8 here")
        quantization = memory.bitsandbytes_config(plan.base, ["transformer"], dtype)
    pipe = hub.load_pipeline(folder, dtype, quantization_config=quantization,
                          **{name: None for name in _text_components(folder)})
    if quantization is None:
        pipe.transformer.to(dev)
    pipe.vae.to(dev)
    if plan.base == "fp8":
        pipe.transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
    return pipe


def _optimizer(plan: LoraTrainPlan, params, dev: torch.device) -> tuple[torch.optim.Optimizer, str]:
    wanted = plan.optimizer
    if wanted == "auto":
        try:
            import bitsandbytes  # noqa: F401

            wanted = "adamw8bit" if dev.type == "cuda" else "adamw"
        except ImportError:
            wanted = "adamw"
    if wanted == "adamw8bit":
        import bitsandbytes

        return bitsandbytes.optim.AdamW8bit(params, lr=plan.lr, weight_decay=1e-4), wanted
    return torch.optim.AdamW(params, lr=plan.lr, weight_decay=1e-4), wanted


def attach_lora(transformer, rank: int, alpha: float, gradient_checkpointing: bool) -> list[torch.nn.Parameter]:
    """Freeze the transformer, add a LoRA to its attention projections and return its weights
    (in float32: they train in full precision over a half-precision or quantized base)."""
    from peft import LoraConfig

    transformer.requires_grad_(False)
    transformer.add_adapter(LoraConfig(r=rank, lora_alpha=alpha, init_lora_weights=True,
                                       target_modules=list(TARGET_MODULES)))
    params = [p for p in transformer.parameters() if p.requires_grad]
    for p in params:
        p.data = p.data.float()
    if gradient_checkpointing and transformer._supports_gradient_checkpointing:
        transformer.enable_gradient_checkpointing()
    return params


def _fingerprint(plan: LoraTrainPlan, data: PreparedLora) -> str:
    return json.dumps({"model": plan.model_id, "rank": plan.rank, "alpha": plan.alpha, "base": plan.base,
                       "buckets": sorted(str(b) for b in data.items), "clips": data.count})


class LoraRun:
    """The transformer with its LoRA, the optimiser and the step: everything a checkpoint holds."""

    def __init__(self, plan: LoraTrainPlan, data: PreparedLora):
        self.plan, self.data = plan, data
        self.device = device()
        self.dtype = compute_dtype(self.device)
        self.family = training_family(plan.model)
        torch.manual_seed(plan.seed)
        self.pipe = _load_for_training(plan, data.folder, self.device, self.dtype)
        self.params = attach_lora(self.pipe.transformer, plan.rank, plan.alpha, plan.gradient_checkpointing)
        self.opt, self.optimizer_name = _optimizer(plan, self.params, self.device)
        self.texts = load_file(str(data.texts))
        self.step = 0

    @property
    def transformer(self):
        return self.pipe.transformer

    def lora_state(self) -> dict[str, torch.Tensor]:
        from peft.utils import get_peft_model_state_dict

        return get_peft_model_state_dict(self.transformer)

    def save(self, path: Path) -> None:
        save_atomic({"fingerprint": _fingerprint(self.plan, self.data), "step": self.step,
                     "lora": self.lora_state(), "opt": self.opt.state_dict()}, path)

    def load(self, path: Path) -> None:
        from peft.utils import set_peft_model_state_dict

        saved = torch.load(path, weights_only=False, map_location="cpu")
        if saved["fingerprint"] != _fingerprint(self.plan, self.data):
            raise InvalidRequest("--work-dir", f"{path} is a checkpoint of another model, dataset or LoRA shape; "
                                               "pick another folder or delete it to start over")
        set_peft_model_state_dict(self.transformer, saved["lora"])
        self.opt.load_state_dict(saved["opt"])
        self.step = saved["step"]

    def batch(self, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Generator]:
        seed = zlib.crc32(f"{self.plan.seed}:{STAGE}:{step}".encode())
        rng = random.Random(seed)
        buckets = list(self.data.items)
        bucket = rng.choices(buckets, weights=[len(self.data.items[b]) for b in buckets])[0]
        picked = [rng.choice(self.data.items[bucket]) for _ in range(self.plan.batch)]
        captions = ["" if rng.random() < self.plan.caption_dropout else caption for caption, _ in picked]
        latents = torch.stack([torch.load(path, weights_only=True) for _, path in picked])
        return (latents.to(self.device, self.dtype), _text_batch(self.texts, captions, self.device, self.dtype),
                torch.Generator().manual_seed(seed))

    def loss(self, latents, text, gen) -> torch.Tensor:
        return self.family.loss(self.pipe, latents, text, self.plan.model.fps, gen)

    def train_step(self) -> float:
        self.transformer.train()
        loss = self.loss(*self.batch(self.step))
        optimise(self.opt, self.params, loss,
                 cosine_lr(self.plan.lr, self.step, self.plan.steps, short_warmup(self.plan.steps)))
        self.step += 1
        return loss.item()

    @torch.inference_mode()
    def sample(self, prompt: str, path: Path, seed: int = 0) -> Path:
        """A clip from the current LoRA at the first bucket's size and length."""
        model = self.plan.model
        bucket = next(iter(self.data.items))
        self.transformer.eval()
        text = _text_batch(self.texts, [prompt], self.device, self.dtype)
        arguments = {**text, "height": bucket.height, "width": bucket.width, "num_frames": bucket.frames,
                     "num_inference_steps": self.plan.sample_steps or model.steps, "guidance_scale": model.guidance,
                     "output_type": "np",
                     "generator": torch.Generator("cpu").manual_seed(seed),
                     **model.family.call_arguments, **model.call_arguments}
        if self.family.takes_negative:
            arguments |= {f"negative_{k}": v for k, v in _text_batch(self.texts, [""], self.device, self.dtype).items()}
        if model.family.fps_argument:
            arguments[model.family.fps_argument] = bucket.fps
        arguments["max_sequence_length"] = text_length(self.data.folder, type(self.pipe))
        frames = self.pipe(**arguments).frames[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        clip = (np.clip(np.asarray(frames), 0, 1) * 255).round().astype(np.uint8)
        with Mp4Writer(path, clip.shape[2], clip.shape[1], bucket.fps) as writer:
            for frame in clip:
                writer.write(frame)
        return path

    def save_lora(self, out: Path) -> Path:
        out.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.to(self.dtype) for k, v in self.lora_state().items()}
        type(self.pipe).save_lora_weights(
            out.parent, transformer_lora_layers=state, weight_name=out.name,
            transformer_lora_adapter_metadata={"r": self.plan.rank, "lora_alpha": self.plan.alpha,
                                               "target_modules": list(TARGET_MODULES)})
        # What the LoRA is for, read by the studio's LoRA library (storage.loras) and its picker.
        out.with_suffix(".json").write_text(json.dumps({
            "model": self.plan.model_id, "rank": self.plan.rank, "alpha": self.plan.alpha, "steps": self.step,
            "clips": self.data.count, "example_prompt": next(iter(self.data.items.values()))[0][0]}, indent=2))
        return out


def text_length(folder: Path, pipeline_cls) -> int:
    """Prompt tokens the model samples with: fixed by CogVideoX's transformer, else the pipeline's default."""
    config = json.loads((folder / "transformer" / "config.json").read_text())
    return config.get("max_text_seq_length") or \
        inspect.signature(pipeline_cls.__call__).parameters["max_sequence_length"].default


def _text_components(folder: Path) -> list[str]:
    index = json.loads((folder / "model_index.json").read_text())
    return [name for name in index if name.startswith(("text_encoder", "tokenizer"))]


def train(plan: LoraTrainPlan, data: PreparedLora, progress: ProgressFn = lambda *a: None,
          should_cancel: Callable[[], bool] = lambda: False,
          on_sample: Callable[[Path], None] = lambda path: None) -> Path:
    """Train (or resume) and write the LoRA to plan.out; its sample clip and loss curve go beside it."""
    run = LoraRun(plan, data)
    prompt = plan.sample_prompt or next(iter(data.items.values()))[0][0]

    def sample(step: int) -> None:
        on_sample(run.sample(prompt, plan.work_dir / "samples" / f"step-{step:06d}.mp4"))

    run_steps(run, plan.steps, STAGE, plan.work_dir, plan.work_dir / CHECKPOINT_FILE, plan.checkpoint_every,
              plan.sample_every, sample, progress, should_cancel)
    run.save_lora(plan.out)
    on_sample(run.sample(prompt, plan.out.with_suffix(".sample.mp4")))
    plot_losses(plan.work_dir / LOG_FILE, plan.out.with_suffix(".loss.png"))
    return plan.out
