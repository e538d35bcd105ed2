"""Training the built-in model from scratch on the shapes world.

Two stages: the frame autoencoder learns to draw the world, then the video DiT learns to
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
from ..engines.builtin.net import BuiltinConfig, FrameAutoencoder, Tokenizer, VideoDiT
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
    dit_steps: int = 1600
    dit_batch: int = 32
    dit_lr: float = 4e-4
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


class _State:
    """Everything a checkpoint holds."""

    def __init__(self, plan: TrainPlan):
        torch.manual_seed(plan.seed)
        self.config = plan.config
        self.autoencoder = FrameAutoencoder(plan.config)
        self.dit = VideoDiT(plan.config)
        self.ema = copy.deepcopy(self.dit).requires_grad_(False)
        self.ae_opt = torch.optim.AdamW(self.autoencoder.parameters(), lr=plan.ae_lr, weight_decay=0.0)
        self.dit_opt = torch.optim.AdamW(self.dit.parameters(), lr=plan.dit_lr, weight_decay=0.0)
        self.ae_step = 0
        self.dit_step = 0

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        torch.save({
            "config": self.config.to_json(),
            "autoencoder": self.autoencoder.state_dict(), "dit": self.dit.state_dict(), "ema": self.ema.state_dict(),
            "ae_opt": self.ae_opt.state_dict(), "dit_opt": self.dit_opt.state_dict(),
            "ae_step": self.ae_step, "dit_step": self.dit_step,
        }, tmp)
        tmp.replace(path)  # a crash mid-write never leaves a broken checkpoint

    def load(self, path: Path) -> None:
        saved = torch.load(path, weights_only=True)
        self.set_config(BuiltinConfig.from_json(saved["config"]))
        for name in ("autoencoder", "dit", "ema", "ae_opt", "dit_opt"):
            getattr(self, name).load_state_dict(saved[name])
        self.ae_step, self.dit_step = saved["ae_step"], saved["dit_step"]

    def set_config(self, config: BuiltinConfig) -> None:
        self.config = config
        self.autoencoder.scale = config.latent_scale


def _train_autoencoder(plan: TrainPlan, state: _State, progress: ProgressFn, checkpoint: Callable[[], None]) -> None:
    ae = state.autoencoder.train()
    while state.ae_step < plan.ae_steps:
        step = state.ae_step
        _, clips = _batch(plan, "autoencoder", step, max(1, plan.ae_batch_frames // 8))
        frames = clips.flatten(0, 1)
        frames = frames[torch.randperm(len(frames), generator=torch.Generator().manual_seed(step))[: plan.ae_batch_frames]]
        for group in state.ae_opt.param_groups:
            group["lr"] = _cosine_lr(plan.ae_lr, step, plan.ae_steps)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            latents = ae.encode(frames)
            # A little noise on the latents teaches the decoder to forgive the DiT's small errors.
            latents = latents + 0.05 * latents.detach().std() * torch.randn_like(latents)
            recon = ae.decode(latents).float()
        loss = F.l1_loss(recon, frames) + F.mse_loss(recon, frames)
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


def _train_dit(plan: TrainPlan, state: _State, progress: ProgressFn, checkpoint: Callable[[], None]) -> None:
    state.autoencoder.eval()
    dit = state.dit.train()
    tokenizer = Tokenizer(state.config.vocabulary, state.config.max_words)
    while state.dit_step < plan.dit_steps:
        step = state.dit_step
        scenes, clips = _batch(plan, "dit", step, plan.dit_batch)
        latents = encode_clips(state.autoencoder, clips)
        gen = torch.Generator().manual_seed(plan.seed * 1_000_003 + step)
        word_ids = tokenizer([s.caption() for s in scenes])
        dropped = torch.rand(len(scenes), generator=gen) < plan.caption_dropout
        word_ids[dropped] = Tokenizer.PAD
        # Logit-normal times, shifted toward noise exactly as the sampler's steps are: the
        # high-noise steps that lay out the clip must be trained as often as they are used.
        t = shift_time(torch.sigmoid(torch.randn(len(scenes), generator=gen)))
        noise = torch.randn(latents.shape, generator=gen)
        tb = t[:, None, None, None, None]
        noisy = (1 - tb) * latents + tb * noise
        for group in state.dit_opt.param_groups:
            group["lr"] = _cosine_lr(plan.dit_lr, step, plan.dit_steps)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            velocity = dit(noisy, t, word_ids).float()
        loss = F.mse_loss(velocity, noise - latents)
        state.dit_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(dit.parameters(), 1.0)
        state.dit_opt.step()
        decay = min(plan.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for ema_p, p in zip(state.ema.parameters(), dit.parameters()):
                ema_p.lerp_(p, 1 - decay)
        state.dit_step += 1
        progress("dit", state.dit_step, plan.dit_steps, loss.item())
        if state.dit_step % plan.checkpoint_every == 0 or state.dit_step == plan.dit_steps:
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
        _train_dit(plan, state, logged, checkpoint)
    finally:
        log.close()
    model = BuiltinModel(state.config, state.autoencoder.eval(), state.ema.eval())
    save_model(model, plan.out_dir)
    return model
