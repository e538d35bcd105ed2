"""Training the built-in model from scratch on the shapes world.

Two stages, each on its own: the caption decoder learns to paint 64x64 frames from layout
frames and captions, and the track network learns to sample a clip's object tracks (tracks.py)
from its caption. Every batch is rendered fresh from a seed derived from
(seed, stage, step), so a run is deterministic and resumes exactly where its checkpoint left off.
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

from ..engines.builtin import tracks, world
from ..errors import InvalidRequest
from ..engines.builtin.net import BuiltinConfig, CaptionDecoder, TrackNet, Tokenizer
from ..engines.builtin.sampler import shift_time
from ..engines.builtin.weights import BuiltinModel, save_model

CHECKPOINT_FILE = "checkpoint.pt"
LOG_FILE = "loss.csv"
STAGES = ("decoder", "tracks")


@dataclass(frozen=True)
class TrainPlan:
    out_dir: Path
    work_dir: Path
    seed: int = 0
    decoder_steps: int = 2000
    decoder_clips: int = 8  # clips rendered per decoder step
    decoder_batch_frames: int = 64  # frames drawn from them
    decoder_lr: float = 1e-3
    # Extra decoder loss weight on object pixels: most of a frame is background, and shapes are
    # what the decoder is for. Only the decoder sees its target's object mask (docs/builtin-model.md).
    object_weight: float = 8.0
    layout_noise: float = 0.1  # up to this much noise on the decoder's input layout
    track_steps: int = 3000
    track_clips: int = 128  # clips per track step
    track_lr: float = 1e-3
    ema_decay: float = 0.999
    caption_dropout: float = 0.1
    checkpoint_every: int = 100
    config: BuiltinConfig = dataclasses.field(default_factory=lambda: BuiltinConfig(tuple(world.vocabulary())))

    def steps(self, stage: str) -> int:
        return {"decoder": self.decoder_steps, "tracks": self.track_steps}[stage]


# (stage, step, total steps, loss) -> None
ProgressFn = Callable[[str, int, int, float], None]


def _cosine_lr(base: float, step: int, total: int, warmup: int = 50) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _scenes(plan: TrainPlan, stage: str, step: int, clips: int) -> tuple[list[world.Scene], int]:
    seed = zlib.crc32(f"{plan.seed}:{stage}:{step}".encode())  # hash() of a str varies per process
    rng = random.Random(seed)
    return [world.sample_scene(rng) for _ in range(clips)], seed


def _object_mask(scenes: list[world.Scene], clips: torch.Tensor) -> torch.Tensor:
    """[B, T, 1, H, W]: 1 where a pixel is not the scene's background color."""
    backgrounds = torch.tensor([world.BACKGROUNDS[s.background] for s in scenes], dtype=torch.float32) / 127.5 - 1
    return ((clips - backgrounds[:, None, :, None, None]).abs().amax(2, keepdim=True) > 0.02).float()


def _flow_times(count: int, gen: torch.Generator) -> torch.Tensor:
    """Half the batch at logit-normal times shifted toward noise as the sampler's steps are (the
    high-noise steps lay out the frame), half uniform: the shift alone leaves almost no low-noise
    samples, and those are where edges get sharp."""
    shifted = shift_time(torch.sigmoid(torch.randn(count, generator=gen)))
    uniform = torch.rand(count, generator=gen)
    return torch.where(torch.arange(count) % 2 == 0, shifted, uniform)


class _State:
    """Everything a checkpoint holds."""

    PARTS = ("decoder", "tracks", "ema", "decoder_opt", "tracks_opt")  # saved by state_dict()

    def __init__(self, plan: TrainPlan):
        torch.manual_seed(plan.seed)
        self.config = plan.config
        self.decoder = CaptionDecoder(plan.config)
        self.tracks = TrackNet(plan.config)
        self.ema = copy.deepcopy(self.tracks).requires_grad_(False)
        self.decoder_opt = torch.optim.AdamW(self.decoder.parameters(), lr=plan.decoder_lr, weight_decay=0.0)
        self.tracks_opt = torch.optim.AdamW(self.tracks.parameters(), lr=plan.track_lr, weight_decay=0.0)
        self.step = dict.fromkeys(STAGES, 0)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        torch.save({
            "config": self.config.to_json(), "step": self.step,
            **{name: getattr(self, name).state_dict() for name in self.PARTS},
        }, tmp)
        tmp.replace(path)  # a crash mid-write never leaves a broken checkpoint

    def load(self, path: Path) -> None:
        saved = torch.load(path, weights_only=True)
        if "step" not in saved or BuiltinConfig.from_json(saved["config"]) != self.config:
            raise InvalidRequest("--work-dir", f"{path} is a checkpoint of another model version or shape; "
                                 "pick another folder or delete it to start over")
        for name in self.PARTS:
            getattr(self, name).load_state_dict(saved[name])
        self.step = saved["step"]


def _optimise(opt: torch.optim.Optimizer, net: torch.nn.Module, loss: torch.Tensor, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    opt.step()


def _decoder_step(plan: TrainPlan, state: _State, step: int, tokenizer: Tokenizer) -> float:
    cfg = state.config
    scenes, seed = _scenes(plan, "decoder", step, plan.decoder_clips)
    clips = world.render(scenes, cfg.frames, cfg.size, seed)
    true_tracks = tracks.encode(scenes, cfg.frames, cfg.max_objects, seed)
    layouts = tracks.draw_layouts(true_tracks, cfg.frames, cfg.size, cfg.layout_downscale)
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(scenes) * cfg.frames, generator=gen)[: plan.decoder_batch_frames]
    frames, layout = clips.flatten(0, 1)[pick], layouts.flatten(0, 1)[pick]
    weights = 1 + plan.object_weight * _object_mask(scenes, clips).flatten(0, 1)[pick]
    word_ids = tokenizer([s.caption() for s in scenes]).repeat_interleave(cfg.frames, 0)[pick]
    when = torch.linspace(0, 1, cfg.frames).repeat(len(scenes))[pick]
    # The layouts it will paint come from sampled tracks, a little off: teach it to forgive small errors.
    amount = plan.layout_noise * torch.rand(len(pick), 1, 1, 1, generator=gen)
    layout = layout + amount * torch.randn(layout.shape, generator=gen)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        painted = state.decoder(layout, word_ids, when).float()
    error = painted - frames
    loss = ((error.abs() + error.square()) * weights).mean() / weights.mean()
    _optimise(state.decoder_opt, state.decoder, loss, _cosine_lr(plan.decoder_lr, step, plan.decoder_steps))
    return loss.item()


def _track_step(plan: TrainPlan, state: _State, step: int, tokenizer: Tokenizer) -> float:
    cfg = state.config
    scenes, seed = _scenes(plan, "tracks", step, plan.track_clips)
    target = tracks.encode(scenes, cfg.frames, cfg.max_objects, seed)
    mask = tracks.value_mask(cfg.frames, cfg.max_objects)
    gen = torch.Generator().manual_seed(seed)
    word_ids = tokenizer([s.caption() for s in scenes])
    word_ids[torch.rand(len(scenes), generator=gen) < plan.caption_dropout] = Tokenizer.PAD
    t = _flow_times(len(scenes), gen)
    noise = torch.randn(target.shape, generator=gen) * mask
    tb = t[:, None, None]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        velocity = state.tracks((1 - tb) * target + tb * noise, t, state.tracks.text(word_ids)).float()
    loss = ((velocity - (noise - target)).square() * mask).sum() / (mask.sum() * len(scenes))
    _optimise(state.tracks_opt, state.tracks, loss, _cosine_lr(plan.track_lr, step, plan.track_steps))
    decay = min(plan.ema_decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for ema_p, p in zip(state.ema.parameters(), state.tracks.parameters()):
            ema_p.lerp_(p, 1 - decay)
    return loss.item()


def train(plan: TrainPlan, progress: ProgressFn = lambda *a: None) -> BuiltinModel:
    """Train (or resume) and write the finished model folder to plan.out_dir."""
    plan.work_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = plan.work_dir / CHECKPOINT_FILE
    state = _State(plan)
    if ckpt_path.exists():
        state.load(ckpt_path)
    tokenizer = Tokenizer(plan.config.vocabulary, plan.config.max_words)
    steppers = {"decoder": _decoder_step, "tracks": _track_step}
    with (plan.work_dir / LOG_FILE).open("a") as log:
        state.decoder.train()
        state.tracks.train()
        for stage in STAGES:
            total = plan.steps(stage)
            while state.step[stage] < total:
                loss = steppers[stage](plan, state, state.step[stage], tokenizer)
                state.step[stage] += 1
                log.write(f"{stage},{state.step[stage]},{loss:.6f}\n")
                progress(stage, state.step[stage], total, loss)
                if state.step[stage] % plan.checkpoint_every == 0 or state.step[stage] == total:
                    log.flush()
                    state.save(ckpt_path)
    model = BuiltinModel(state.config, state.ema.eval(), state.decoder.eval())
    save_model(model, plan.out_dir)
    return model
