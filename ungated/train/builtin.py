"""Training the built-in model from scratch on the shapes world.

Two stages: the frame autoencoder learns to draw the world, then the video U-Net learns to
denoise latent clips given their captions. Every batch is rendered fresh from a seed derived
from (seed, stage, step), so a run is deterministic and resumes exactly where its checkpoint
left off.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..engines.builtin import world
from ..engines.builtin.net import BuiltinConfig, FrameAutoencoder, Tokenizer, VideoUNet
from ..engines.builtin.sampler import shift_time
from ..engines.builtin.weights import BuiltinModel, save_model

CHECKPOINT_FILE = "checkpoint.pt"
LOG_FILE = "loss.csv"


@dataclass(frozen=True)
class TrainPlan:
    out_dir: Path
    work_dir: Path
    seed: int = 0
    ae_steps: int = 1500
    ae_batch_frames: int = 64
    ae_lr: float = 2e-3
    # Extra autoencoder loss weight on object pixels (most of a frame is background). Only for the
    # autoencoder: the denoiser cannot see where the objects will be, and a weight taken from its
    # target teaches it to draw extra ones (docs/builtin-model.md).
    object_weight: float = 8.0
    denoiser_steps: int = 2600
    denoiser_batch: int = 32
    fresh_clips: int = 8  # clips rendered per denoiser step; each is drawn by ~batch/fresh steps
    window_steps: int = 16  # how many steps' fresh clips the batch is drawn from
    denoiser_lr: float = 4e-4
    ema_decay: float = 0.999
    caption_dropout: float = 0.1
    checkpoint_every: int = 100
    config: BuiltinConfig = dataclasses.field(default_factory=lambda: BuiltinConfig(tuple(world.vocabulary())))


# (stage, step, total steps, loss) -> None
ProgressFn = Callable[[str, int, int, float], None]


def _cosine_lr(base: float, step: int, total: int, warmup: int = 50) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _batch(plan: TrainPlan, stage: str, step: int, clips: int) -> tuple[list[world.Scene], torch.Tensor]:
    seed = zlib.crc32(f"{plan.seed}:{stage}:{step}".encode())  # hash() of a str varies per process
    rng = random.Random(seed)
    scenes = [world.sample_scene(rng) for _ in range(clips)]
    return scenes, world.render(scenes, plan.config.frames, plan.config.size, seed)


def _object_mask(scenes: list[world.Scene], clips: torch.Tensor) -> torch.Tensor:
    """[B, T, 1, H, W]: 1 where a pixel is not the scene's background color."""
    backgrounds = torch.tensor([world.BACKGROUNDS[s.background] for s in scenes], dtype=torch.float32) / 127.5 - 1
    return ((clips - backgrounds[:, None, :, None, None]).abs().amax(2, keepdim=True) > 0.02).float()


class _State:
    """Everything a checkpoint holds."""

    def __init__(self, plan: TrainPlan):
        torch.manual_seed(plan.seed)
        self.config = plan.config
        self.autoencoder = FrameAutoencoder(plan.config)
        self.denoiser = VideoUNet(plan.config)
        self.ema = copy.deepcopy(self.denoiser).requires_grad_(False)
        self.ae_opt = torch.optim.AdamW(self.autoencoder.parameters(), lr=plan.ae_lr, weight_decay=0.0)
        self.denoiser_opt = torch.optim.AdamW(self.denoiser.parameters(), lr=plan.denoiser_lr, weight_decay=0.0)
        self.ae_step = 0
        self.denoiser_step = 0

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        torch.save({
            "config": self.config.to_json(),
            "autoencoder": self.autoencoder.state_dict(), "denoiser": self.denoiser.state_dict(), "ema": self.ema.state_dict(),
            "ae_opt": self.ae_opt.state_dict(), "denoiser_opt": self.denoiser_opt.state_dict(),
            "ae_step": self.ae_step, "denoiser_step": self.denoiser_step,
        }, tmp)
        tmp.replace(path)  # a crash mid-write never leaves a broken checkpoint

    def load(self, path: Path) -> None:
        saved = torch.load(path, weights_only=True)
        self.set_config(BuiltinConfig.from_json(saved["config"]))
        for name in ("autoencoder", "denoiser", "ema", "ae_opt", "denoiser_opt"):
            getattr(self, name).load_state_dict(saved[name])
        self.ae_step, self.denoiser_step = saved["ae_step"], saved["denoiser_step"]

    def set_config(self, config: BuiltinConfig) -> None:
        self.config = config
        self.autoencoder.scale = config.latent_scale


def _train_autoencoder(plan: TrainPlan, state: _State, progress: ProgressFn, checkpoint: Callable[[], None]) -> None:
    ae = state.autoencoder.train()
    while state.ae_step < plan.ae_steps:
        step = state.ae_step
        scenes, clips = _batch(plan, "autoencoder", step, max(1, plan.ae_batch_frames // 8))
        pick = torch.randperm(clips.shape[0] * clips.shape[1], generator=torch.Generator().manual_seed(step))
        pick = pick[: plan.ae_batch_frames]
        frames = clips.flatten(0, 1)[pick]
        weights = 1 + plan.object_weight * _object_mask(scenes, clips).flatten(0, 1)[pick]
        for group in state.ae_opt.param_groups:
            group["lr"] = _cosine_lr(plan.ae_lr, step, plan.ae_steps)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            latents = ae.encode(frames)
            # A little noise on the latents teaches the decoder to forgive the denoiser's small errors.
            latents = latents + 0.05 * latents.detach().std() * torch.randn_like(latents)
            recon = ae.decode(latents).float()
        error = recon - frames
        loss = ((error.abs() + error.square()) * weights).mean() / weights.mean()
        state.ae_opt.zero_grad(set_to_none=True)
        loss.backward()
        state.ae_opt.step()
        state.ae_step += 1
        progress("autoencoder", state.ae_step, plan.ae_steps, loss.item())
        if state.ae_step % plan.checkpoint_every == 0 or state.ae_step == plan.ae_steps:
            if state.ae_step == plan.ae_steps:
                state.set_config(dataclasses.replace(state.config, latent_scale=_measure_latent_scale(plan, state)))
            checkpoint()


@torch.no_grad()
def _measure_latent_scale(plan: TrainPlan, state: _State) -> float:
    state.autoencoder.scale = 1.0
    _, clips = _batch(plan, "latent-scale", 0, 32)
    return 1.0 / state.autoencoder.encode(clips.flatten(0, 1)).std().item()


@torch.no_grad()
def encode_clips(autoencoder: FrameAutoencoder, clips: torch.Tensor) -> torch.Tensor:
    """[B, T, 3, H, W] clips -> [B, C, T, h, w] latents."""
    b, t = clips.shape[:2]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        latents = autoencoder.encode(clips.flatten(0, 1)).float()
    return latents.unflatten(0, (b, t)).transpose(1, 2)


def _flow_times(count: int, gen: torch.Generator) -> torch.Tensor:
    """Half the batch at logit-normal times shifted toward noise as the sampler's steps are (the
    high-noise steps lay out the clip), half uniform: the shift alone leaves almost no low-noise
    samples, and those are where edges get sharp."""
    shifted = shift_time(torch.sigmoid(torch.randn(count, generator=gen)))
    uniform = torch.rand(count, generator=gen)
    return torch.where(torch.arange(count) % 2 == 0, shifted, uniform)


class _LatentWindow:
    """The latent clips of the last few steps' fresh batches, which the denoiser draws from.

    Encoding costs about as much as a training step, so each fresh clip is seen by several
    batches. The window is a pure function of the step, so resuming rebuilds it exactly.
    """

    def __init__(self, plan: TrainPlan, autoencoder: FrameAutoencoder):
        self.plan, self.autoencoder = plan, autoencoder
        self.chunks: dict[int, tuple[list[str], torch.Tensor]] = {}

    def _chunk(self, step: int) -> tuple[list[str], torch.Tensor]:
        scenes, clips = _batch(self.plan, "denoiser", step, self.plan.fresh_clips)
        return [s.caption() for s in scenes], encode_clips(self.autoencoder, clips)

    def batch(self, step: int, gen: torch.Generator) -> tuple[list[str], torch.Tensor]:
        """Captions and latents of one batch."""
        span = range(step - self.plan.window_steps + 1, step + 1)
        self.chunks = {s: self.chunks.get(s) or self._chunk(s) for s in span}
        captions = [c for s in span for c in self.chunks[s][0]]
        latents = torch.cat([self.chunks[s][1] for s in span])
        pick = torch.randperm(len(captions), generator=gen)[: self.plan.denoiser_batch]
        return [captions[i] for i in pick], latents[pick]


def _train_denoiser(plan: TrainPlan, state: _State, progress: ProgressFn, checkpoint: Callable[[], None]) -> None:
    state.autoencoder.eval()
    denoiser = state.denoiser.train()
    tokenizer = Tokenizer(state.config.vocabulary, state.config.max_words)
    window = _LatentWindow(plan, state.autoencoder)
    while state.denoiser_step < plan.denoiser_steps:
        step = state.denoiser_step
        gen = torch.Generator().manual_seed(plan.seed * 1_000_003 + step)
        captions, latents = window.batch(step, gen)
        word_ids = tokenizer(captions)
        dropped = torch.rand(len(captions), generator=gen) < plan.caption_dropout
        word_ids[dropped] = Tokenizer.PAD
        t = _flow_times(len(captions), gen)
        noise = torch.randn(latents.shape, generator=gen)
        tb = t[:, None, None, None, None]
        noisy = (1 - tb) * latents + tb * noise
        for group in state.denoiser_opt.param_groups:
            group["lr"] = _cosine_lr(plan.denoiser_lr, step, plan.denoiser_steps)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            velocity = denoiser(noisy, t, word_ids).float()
        loss = F.mse_loss(velocity, noise - latents)
        state.denoiser_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(denoiser.parameters(), 1.0)
        state.denoiser_opt.step()
        decay = min(plan.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for ema_p, p in zip(state.ema.parameters(), denoiser.parameters()):
                ema_p.lerp_(p, 1 - decay)
        state.denoiser_step += 1
        progress("denoiser", state.denoiser_step, plan.denoiser_steps, loss.item())
        if state.denoiser_step % plan.checkpoint_every == 0 or state.denoiser_step == plan.denoiser_steps:
            checkpoint()


def train(plan: TrainPlan, progress: ProgressFn = lambda *a: None) -> BuiltinModel:
    """Train (or resume) and write the finished model folder to plan.out_dir."""
    plan.work_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = plan.work_dir / CHECKPOINT_FILE
    log = (plan.work_dir / LOG_FILE).open("a")
    state = _State(plan)
    if ckpt_path.exists():
        state.load(ckpt_path)

    def logged(stage: str, step: int, total: int, loss: float) -> None:
        log.write(f"{stage},{step},{loss:.6f}\n")
        progress(stage, step, total, loss)

    def checkpoint() -> None:
        log.flush()
        state.save(ckpt_path)

    try:
        _train_autoencoder(plan, state, logged, checkpoint)
        _train_denoiser(plan, state, logged, checkpoint)
    finally:
        log.close()
    model = BuiltinModel(state.config, state.autoencoder.eval(), state.ema.eval())
    save_model(model, plan.out_dir)
    return model
