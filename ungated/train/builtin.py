"""Training the built-in model from scratch on the shapes world.

Two stages, each on its own: the shape painter learns the four outlines from rendered frames
and their true tracks, and the track network learns to sample a clip's object tracks (tracks.py)
from its caption. Every batch is rendered fresh from a seed derived from
(seed, stage, step), so a run is deterministic and resumes exactly where its checkpoint left off.
The finished model folder also gets sample.mp4 (a clip the model makes from sample_prompt) and
loss.png (both stages' loss curves), as a run on an artist's clips (clips.py) does.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..engines.builtin import motion, tracks, world
from ..errors import InvalidRequest
from ..engines.builtin.net import BuiltinConfig, ShapePainter, TrackNet, Tokenizer
from ..engines.builtin.weights import BuiltinModel, save_model
from .common import LOG_FILE, cosine_lr, flow_times, optimise, save_atomic, update_ema
from .curve import plot_losses

CHECKPOINT_FILE = "checkpoint.pt"
PAINTER_CLIP_FRAMES, PAINTER_CLIP_FPS = 16, 8  # the clips the painter's frames are picked from
STAGES = ("painter", "tracks")


@dataclass(frozen=True)
class TrainPlan:
    out_dir: Path
    work_dir: Path
    seed: int = 0
    painter_steps: int = 600
    painter_clips: int = 8  # clips rendered per painter step
    painter_frames: int = 4  # frames of each painted and compared
    painter_lr: float = 3e-3
    track_steps: int = 6000
    track_clips: int = 128  # clips per track step
    track_lr: float = 1e-3
    ema_decay: float = 0.999
    caption_dropout: float = 0.1
    checkpoint_every: int = 100
    sample_prompt: str = "a large red circle moving right on a blue background"
    config: BuiltinConfig = dataclasses.field(default_factory=lambda: BuiltinConfig(tuple(world.vocabulary())))

    def steps(self, stage: str) -> int:
        return {"painter": self.painter_steps, "tracks": self.track_steps}[stage]


# (stage, step, total steps, loss) -> None
ProgressFn = Callable[[str, int, int, float], None]


def _scenes(plan: TrainPlan, stage: str, step: int, clips: int) -> tuple[list[world.Scene], list[float], int]:
    """A batch of scenes, each laid out for its own frame aspect, and the seed that places them."""
    seed = zlib.crc32(f"{plan.seed}:{stage}:{step}".encode())  # hash() of a str varies per process
    rng = random.Random(seed)
    aspects = [world.sample_aspect(rng) for _ in range(clips)]
    return [world.sample_scene(rng, aspect=aspect) for aspect in aspects], aspects, seed


class _State:
    """Everything a checkpoint holds."""

    PARTS = ("painter", "tracks", "ema", "painter_opt", "tracks_opt")  # saved by state_dict()

    def __init__(self, plan: TrainPlan):
        torch.manual_seed(plan.seed)
        self.config = plan.config
        self.painter = ShapePainter(plan.config)
        self.tracks = TrackNet(plan.config)
        self.ema = copy.deepcopy(self.tracks).requires_grad_(False)
        self.painter_opt = torch.optim.AdamW(self.painter.parameters(), lr=plan.painter_lr, weight_decay=0.0)
        self.tracks_opt = torch.optim.AdamW(self.tracks.parameters(), lr=plan.track_lr, weight_decay=0.0)
        self.step = dict.fromkeys(STAGES, 0)

    def save(self, path: Path) -> None:
        save_atomic({"config": self.config.to_json(), "step": self.step,
                     **{name: getattr(self, name).state_dict() for name in self.PARTS}}, path)

    def load(self, path: Path) -> None:
        saved = torch.load(path, weights_only=True)
        if "step" not in saved or BuiltinConfig.from_json(saved["config"]) != self.config:
            raise InvalidRequest("--work-dir", f"{path} is a checkpoint of another model version or shape; "
                                 "pick another folder or delete it to start over")
        for name in self.PARTS:
            getattr(self, name).load_state_dict(saved[name])
        self.step = saved["step"]


def _painter_step(plan: TrainPlan, state: _State, step: int, tokenizer: Tokenizer) -> float:
    cfg = state.config
    scenes, aspects, seed = _scenes(plan, "painter", step, plan.painter_clips)
    aspect = aspects[0]  # one frame shape per batch: the clips are rendered together
    width, height = (round(cfg.size * aspect), cfg.size) if aspect >= 1 else (cfg.size, round(cfg.size / aspect))
    clips = world.render(scenes, PAINTER_CLIP_FRAMES, width, height, seed, PAINTER_CLIP_FPS)
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randperm(PAINTER_CLIP_FRAMES, generator=gen)[: plan.painter_frames]
    true = tracks.true_params(scenes, [width / height] * len(scenes), cfg.max_objects, seed)
    times = world.frame_times(PAINTER_CLIP_FRAMES, PAINTER_CLIP_FPS)[pick]
    paths = motion.simulate(true, true["shape"], times, PAINTER_CLIP_FRAMES / PAINTER_CLIP_FPS, width / height)
    # Soft edges first: a wrong outline several pixels off still gets a gradient.
    sharpness = 1 + 3 * min(1.0, 2 * step / plan.painter_steps)
    painted = state.painter(true, paths, width, height, sharpness)
    loss = (painted - clips[:, pick]).square().mean()
    optimise(state.painter_opt, state.painter.parameters(), loss, cosine_lr(plan.painter_lr, step, plan.painter_steps))
    return loss.item()


def _track_step(plan: TrainPlan, state: _State, step: int, tokenizer: Tokenizer) -> float:
    cfg = state.config
    scenes, aspects, seed = _scenes(plan, "tracks", step, plan.track_clips)
    target = tracks.encode(scenes, aspects, cfg.max_objects, seed)
    mask = tracks.value_mask(cfg.max_objects)
    gen = torch.Generator().manual_seed(seed)
    word_ids = tokenizer([s.caption() for s in scenes])
    word_ids[torch.rand(len(scenes), generator=gen) < plan.caption_dropout] = Tokenizer.PAD
    t = flow_times(len(scenes), gen)
    noise = torch.randn(target.shape, generator=gen) * mask
    tb = t[:, None, None]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        velocity = state.tracks((1 - tb) * target + tb * noise, t, state.tracks.text(word_ids),
                                torch.tensor(aspects)).float()
    loss = ((velocity - (noise - target)).square() * mask).sum() / (mask.sum() * len(scenes))
    optimise(state.tracks_opt, state.tracks.parameters(), loss, cosine_lr(plan.track_lr, step, plan.track_steps))
    update_ema(state.ema, state.tracks, step, plan.ema_decay)
    return loss.item()


def train(plan: TrainPlan, progress: ProgressFn = lambda *a: None) -> BuiltinModel:
    """Train (or resume) and write the finished model folder to plan.out_dir."""
    plan.work_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = plan.work_dir / CHECKPOINT_FILE
    state = _State(plan)
    if ckpt_path.exists():
        state.load(ckpt_path)
    tokenizer = Tokenizer(plan.config.vocabulary, plan.config.max_words)
    steppers = {"painter": _painter_step, "tracks": _track_step}
    with (plan.work_dir / LOG_FILE).open("a") as log:
        state.painter.train()
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
    model = BuiltinModel(state.config, state.ema.eval(), state.painter.eval())
    save_model(model, plan.out_dir)
    write_sample(plan.out_dir, plan.sample_prompt, plan.out_dir / "sample.mp4", plan.seed)
    plot_losses(plan.work_dir / LOG_FILE, plan.out_dir / "loss.png")
    return model


def write_sample(model_dir: Path, prompt: str, path: Path, seed: int = 0) -> Path:
    """The clip the model in model_dir makes from prompt, as `ungated generate` would (its default size and length),
    without the provenance steps."""
    from ..engines.builtin.engine import BuiltinEngine
    from ..media.encode import Mp4Writer
    from ..request import Request, plan

    engine = BuiltinEngine(model_dir)
    the_plan = plan(Request.build(prompt=prompt, seed=seed), engine.capabilities, engine.id)
    with Mp4Writer(path, the_plan.out_width, the_plan.out_height, the_plan.fps) as writer:
        for frame in engine.generate(the_plan, seed, lambda step, total: None, lambda: False):
            writer.write(frame)
    return path
