"""Training the built-in clip model (clipnet.py) on an artist's folder of captioned clips.

`prepare` reads the folder (train.dataset), fits every clip to the model's bucket and caches its
frames in the work folder, so a clip is decoded once however often training resumes. `train`
runs flow-matching steps on batches drawn from one bucket at a time, from a seed derived from
(seed, step): a run is deterministic and resumes exactly from its checkpoint. It writes the EMA
weights to the output folder, a sample clip every `sample_every` steps, and the loss curve.

From scratch, the model's vocabulary is the captions' words and its size is 64 pixels on the
short side at the aspect most clips have. Given `init` (a clip model trained before), it
fine-tunes that model at that model's size: its words keep their embeddings and new words get
new ones.
"""

from __future__ import annotations

import copy
import random
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..engines.builtin.clip_engine import clip_capabilities, sample_clip
from ..engines.builtin.net import to_uint8
from ..engines.builtin.clipnet import ClipConfig, ClipNet, caption_vocabulary
from ..engines.builtin.net import Tokenizer
from ..engines.builtin.weights import is_model_dir, load_clip_model, save_clip_model
from ..errors import InvalidRequest
from ..media.encode import Mp4Writer
from .buckets import Bucket, plan_buckets
from .common import (LOG_FILE, ProgressFn, cosine_lr, flow_times, optimise, run_steps, save_atomic, short_warmup,
                     update_ema)
from .curve import plot_losses
from .dataset import Clip, Problem, scan
from .frames import clip_frames, clip_key

CHECKPOINT_FILE = "checkpoint.pt"
STAGE = "clips"


@dataclass(frozen=True)
class ClipTrainPlan:
    data_dir: Path
    out_dir: Path
    work_dir: Path
    init: Path | None = None  # a clip model folder to fine-tune; None trains from scratch
    seed: int = 0
    steps: int = 1500
    batch: int = 4
    lr: float = 5e-4
    ema_decay: float = 0.995
    caption_dropout: float = 0.1
    checkpoint_every: int = 100
    sample_every: int = 250  # 0: no samples until the end
    sample_prompt: str | None = None  # default: the first clip's caption
    short_side: int = 64
    frames: int = 16
    fps: int = 8
    channels: tuple[int, ...] = (32, 64, 128)
    text_width: int = 128


@dataclass
class Prepared:
    """What training reads: the model's config, the weights to start from, and the cached clips."""

    config: ClipConfig
    start: dict[str, torch.Tensor] | None  # initial weights (fine-tuning), or None
    clips: dict[Bucket, list[tuple[Clip, Path]]]  # bucket -> (clip, its cached frames)
    skipped: list[Problem] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(group) for group in self.clips.values())


def size_for(clips: list[Clip], short: int, multiple: int) -> tuple[int, int]:
    """(width, height) at the aspect most clips have, `short` pixels on the short side."""
    aspects = Counter("16:9" if c.width > 1.2 * c.height else "9:16" if c.height > 1.2 * c.width else "1:1"
                      for c in clips)
    long = round(short * 16 / 9 / multiple) * multiple
    return {"16:9": (long, short), "9:16": (short, long), "1:1": (short, short)}[aspects.most_common(1)[0][0]]


def _extended(config: ClipConfig, net: ClipNet, words: tuple[str, ...]) -> tuple[ClipConfig, dict]:
    """The config and weights of a trained model with the new words added to its vocabulary."""
    added = tuple(w for w in words if w not in config.vocabulary)
    bigger = replace(config, vocabulary=config.vocabulary + added)
    state = net.state_dict()
    fresh = ClipNet(bigger).text.words.weight.detach()
    key = "text.words.weight"
    state[key] = torch.cat([state[key], fresh[state[key].shape[0]:]])
    return bigger, state


def prepare(plan: ClipTrainPlan, on_clip: Callable[[str, int, int], None] = lambda what, done, total: None
            ) -> Prepared:
    """Read and check the dataset, settle the model's shape, and cache every clip's frames.
    Clips with problems are skipped (and listed); no usable clip at all is an error."""
    if plan.init is not None and not is_model_dir(plan.init):
        raise InvalidRequest("--init", f"{plan.init} is not a model folder (config.json and model.safetensors)")
    report = scan(plan.data_dir, min_seconds=0, on_clip=lambda done, total: on_clip("reading clips", done, total))
    if not report.clips:
        why = f"; {len(report.problems)} problems (see `ungated dataset check`)" if report.problems else ""
        raise InvalidRequest("--data", f"no usable clips in {plan.data_dir}{why}")
    words = caption_vocabulary([c.caption for c in report.clips])
    start = None
    if plan.init is not None:
        old_config, old_net = load_clip_model(plan.init)
        torch.manual_seed(plan.seed)  # the new words' first embeddings: a rerun starts the same
        config, start = _extended(old_config, old_net, words)
    else:
        multiple = 2 ** len(plan.channels)
        width, height = size_for(report.clips, plan.short_side, multiple)
        config = ClipConfig(vocabulary=words, width=width, height=height, frames=plan.frames, fps=plan.fps,
                            channels=plan.channels, text_width=plan.text_width)
    groups, unfit = plan_buckets(report.clips, clip_capabilities(config))
    if not groups:
        raise InvalidRequest("--data", f"no clip in {plan.data_dir} is long enough: this model needs "
                                       f"{config.frames // 2 / config.fps:g} s or more")
    cache = plan.work_dir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    cached: dict[Bucket, list[tuple[Clip, Path]]] = {}
    total, done = sum(len(g) for g in groups.values()), 0
    for bucket, group in groups.items():
        for clip in group:
            path = cache / f"{clip_key(plan.data_dir, clip, bucket)}.npy"
            if not path.exists():
                np.save(path.with_suffix(".tmp.npy"), clip_frames(plan.data_dir, clip, bucket))
                path.with_suffix(".tmp.npy").replace(path)
            cached.setdefault(bucket, []).append((clip, path))
            done += 1
            on_clip("caching frames", done, total)
    return Prepared(config, start, cached, report.problems + unfit)


class _State:
    """The network, its EMA and optimiser, and the step: what a checkpoint holds."""

    def __init__(self, plan: ClipTrainPlan, data: Prepared):
        torch.manual_seed(plan.seed)
        self.plan, self.data = plan, data
        self.tokenizer = Tokenizer(data.config.vocabulary, data.config.max_words)
        self.loaded: dict[Path, torch.Tensor] = {}  # cached clips read so far
        self.config = data.config
        self.net = ClipNet(data.config)
        if data.start is not None:
            self.net.load_state_dict(data.start)
        self.ema = copy.deepcopy(self.net).requires_grad_(False)
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=plan.lr, weight_decay=0.0)
        self.step = 0

    def save(self, path: Path) -> None:
        save_atomic({"config": self.config.to_json(), "step": self.step, "net": self.net.state_dict(),
                     "ema": self.ema.state_dict(), "opt": self.opt.state_dict()}, path)

    def load(self, path: Path) -> None:
        saved = torch.load(path, weights_only=True)
        if ClipConfig.from_json(saved["config"]) != self.config:
            raise InvalidRequest("--work-dir", f"{path} is a checkpoint of another dataset or model shape; pick "
                                               "another folder or delete it to start over")
        self.net.load_state_dict(saved["net"])
        self.ema.load_state_dict(saved["ema"])
        self.opt.load_state_dict(saved["opt"])
        self.step = saved["step"]

    def train_step(self) -> float:
        plan = self.plan
        loss = flow_loss(self.net, self.tokenizer, *batch(plan, self.data, self.step, self.loaded),
                         caption_dropout=plan.caption_dropout)
        optimise(self.opt, self.net.parameters(), loss, cosine_lr(plan.lr, self.step, plan.steps,
                                                                  short_warmup(plan.steps)))
        update_ema(self.ema, self.net, self.step, plan.ema_decay)
        self.step += 1
        return loss.item()


def batch(plan: ClipTrainPlan, data: Prepared, step: int, loaded: dict[Path, torch.Tensor]
           ) -> tuple[torch.Tensor, list[str], torch.Generator]:
    """Clips [B, T, 3, H, W] in [-1, 1] from one bucket (picked in proportion to its clips), their
    captions, and the generator for this step's noise."""
    seed = zlib.crc32(f"{plan.seed}:{STAGE}:{step}".encode())
    rng = random.Random(seed)
    buckets = list(data.clips)
    bucket = rng.choices(buckets, weights=[len(data.clips[b]) for b in buckets])[0]
    picked = [rng.choice(data.clips[bucket]) for _ in range(plan.batch)]
    for _, path in picked:
        if path not in loaded:
            loaded[path] = torch.from_numpy(np.load(path)).permute(0, 3, 1, 2).float() / 127.5 - 1
    return torch.stack([loaded[path] for _, path in picked]), [clip.caption for clip, _ in picked], \
        torch.Generator().manual_seed(seed)


def flow_loss(net: ClipNet, tokenizer: Tokenizer, clips: torch.Tensor, captions: list[str], gen: torch.Generator,
              caption_dropout: float = 0.0, bf16: bool = True) -> torch.Tensor:
    """The denoising loss of clips [B, T, 3, H, W] (the error of the predicted clean clip) at noise
    levels and noise drawn from gen (the network in bfloat16 autocast unless bf16 is False)."""
    word_ids = tokenizer(captions)
    word_ids[torch.rand(len(captions), generator=gen) < caption_dropout] = Tokenizer.PAD
    t = flow_times(len(captions), gen)
    noise = torch.randn(clips.shape, generator=gen)
    tb = t[:, None, None, None, None]
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 and clips.device.type == "cpu"):  # faster on CPUs
        clean = net((1 - tb) * clips + tb * noise, t, net.text(word_ids)).float()
    return (clean - clips).square().mean()


def write_sample(net: ClipNet, config: ClipConfig, prompt: str, path: Path, seed: int = 0) -> Path:
    with torch.inference_mode():
        clip = to_uint8(sample_clip(net, config, prompt, "", config.frames, seed, steps=24, guidance=3.0))
    path.parent.mkdir(parents=True, exist_ok=True)
    with Mp4Writer(path, config.width, config.height, config.fps) as writer:
        for frame in clip:
            writer.write(frame)
    return path


def train(plan: ClipTrainPlan, data: Prepared, progress: ProgressFn = lambda *a: None,
          should_cancel: Callable[[], bool] = lambda: False,
          on_sample: Callable[[Path], None] = lambda path: None) -> Path:
    """Train (or resume) and write the model folder to plan.out_dir; returns it."""
    state = _State(plan, data)
    prompt = plan.sample_prompt or next(iter(data.clips.values()))[0][0].caption
    state.net.train()

    def sample(step: int) -> None:
        on_sample(write_sample(state.ema, data.config, prompt, plan.work_dir / "samples" / f"step-{step:06d}.mp4"))

    run_steps(state, plan.steps, STAGE, plan.work_dir, plan.work_dir / CHECKPOINT_FILE, plan.checkpoint_every,
              plan.sample_every, sample, progress, should_cancel)
    save_clip_model(state.ema, data.config, plan.out_dir)
    on_sample(write_sample(state.ema, data.config, prompt, plan.out_dir / "sample.mp4"))
    plot_losses(plan.work_dir / LOG_FILE, plan.out_dir / "loss.png")
    return plan.out_dir
