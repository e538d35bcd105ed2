"""Pieces every trainer shares: the learning-rate schedule, one optimiser step, flow-matching
times, EMA, the loss log and atomic checkpoints."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch

from ..engines.builtin.sampler import shift_time
from ..errors import TrainingCancelled

LOG_FILE = "loss.csv"  # stage,step,loss per line; a resumed run appends


def cosine_lr(base: float, step: int, total: int, warmup: int = 50) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def short_warmup(total: int) -> int:
    """Warmup steps for a run of `total`: 50, or a tenth of a short run."""
    return max(1, min(50, total // 10))


def optimise(opt: torch.optim.Optimizer, params, loss: torch.Tensor, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()


def flow_times(count: int, gen: torch.Generator) -> torch.Tensor:
    """Half the batch at logit-normal times shifted toward noise as the sampler's steps are (the
    high-noise steps lay out the frame), half uniform: the shift alone leaves almost no low-noise
    samples, and those are where edges get sharp."""
    shifted = shift_time(torch.sigmoid(torch.randn(count, generator=gen)))
    uniform = torch.rand(count, generator=gen)
    return torch.where(torch.arange(count) % 2 == 0, shifted, uniform)


@torch.no_grad()
def update_ema(ema: torch.nn.Module, net: torch.nn.Module, step: int, decay: float) -> None:
    decay = min(decay, (1 + step) / (10 + step))  # short runs still move the average
    for ema_p, p in zip(ema.parameters(), net.parameters()):
        ema_p.lerp_(p, 1 - decay)


def save_atomic(state: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # a crash mid-write never leaves a broken checkpoint


class Run(Protocol):
    """A training run the step loop drives: its step count, one optimisation step, a checkpoint."""

    step: int

    def train_step(self) -> float: ...

    def save(self, path: Path) -> None: ...

    def load(self, path: Path) -> None: ...


# (step, total, loss) -> None
ProgressFn = Callable[[int, int, float], None]


def run_steps(run: Run, total: int, stage: str, work_dir: Path, checkpoint: Path, checkpoint_every: int,
              sample_every: int, sample: Callable[[int], None], progress: ProgressFn,
              should_cancel: Callable[[], bool]) -> None:
    """Resume from the checkpoint if there is one, then step until `total`: log each loss,
    checkpoint every `checkpoint_every` steps and at the end, and sample every `sample_every` (not
    at the end: the caller samples the finished model). A cancel saves a checkpoint at the step
    boundary and raises TrainingCancelled."""
    work_dir.mkdir(parents=True, exist_ok=True)
    if checkpoint.exists():
        run.load(checkpoint)
    with (work_dir / LOG_FILE).open("a", buffering=1) as log:  # line by line: the studio plots it live
        while run.step < total:
            if should_cancel():
                run.save(checkpoint)
                raise TrainingCancelled(run.step)
            loss = run.train_step()
            log.write(f"{stage},{run.step},{loss:.6f}\n")
            progress(run.step, total, loss)
            if run.step % checkpoint_every == 0 or run.step == total:
                run.save(checkpoint)
            if sample_every and run.step % sample_every == 0 and run.step < total:
                sample(run.step)
