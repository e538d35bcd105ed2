"""Pyramidal flow matching, as Pyramid Flow samples: each latent frame is made in three spatial
stages (a quarter, half, then full latent resolution), and the frames one after another, each
conditioned on the frames before it (the temporal pyramid: the latest at the stage's resolution,
older ones ever coarser).

Within a stage the flow runs from a partly noisy start to a less noisy end (the last stage to the
clean latent) with Euler steps; between stages the latent is upsampled (nearest) and renoised with
noise that is correlated within each 2x2 block, so the jump adds exactly the noise the next stage
starts from. The schedule's numbers follow the published scheduler: stage boundaries at 1/3 and
2/3 of the noise range, gamma 1/3, 1000 training timesteps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

STAGES = 3
STAGE_RANGE = (0.0, 1 / 3, 2 / 3, 1.0)
GAMMA = 1 / 3
TRAIN_TIMESTEPS = 1000


@dataclass(frozen=True)
class Stage:
    first_timestep: float  # what the transformer is told at the stage's first step
    last_timestep: float
    entry_signal: float  # the share of signal in the latent when the previous stage hands over (0 for stage 0)


def stages() -> list[Stage]:
    """The three stages' timestep ranges and hand-over points."""
    sigmas = [(TRAIN_TIMESTEPS - i) / TRAIN_TIMESTEPS for i in range(TRAIN_TIMESTEPS)]  # 1.0 .. 0.001

    def sigma_at(fraction: float) -> float:
        index = int(fraction * TRAIN_TIMESTEPS)
        return sigmas[index] if index < TRAIN_TIMESTEPS else 0.0

    starts, ends, entries = [], [], []
    for i in range(STAGES):
        start, end = sigma_at(STAGE_RANGE[i]), sigma_at(STAGE_RANGE[i + 1])
        entries.append(0.0 if i == 0 else 1 - start)
        if i > 0:  # the renoised start: the upsampled latent's signal, shrunk by the added noise
            signal = 1 - start
            start = 1 - signal / (math.sqrt(1 + 1 / GAMMA) * (1 - signal) + signal)
        starts.append(start)
        ends.append(end)
    lengths = [s - e for s, e in zip(starts, ends)]
    bounds = [sum(lengths[:i]) / sum(lengths) for i in range(STAGES + 1)]
    timesteps = [TRAIN_TIMESTEPS - i for i in range(TRAIN_TIMESTEPS)]  # 1000 .. 1
    result = []
    for i in range(STAGES):
        first = timesteps[int(bounds[i] * TRAIN_TIMESTEPS)]
        last_index = min(int(bounds[i + 1] * TRAIN_TIMESTEPS), TRAIN_TIMESTEPS - 1)
        last = first + (timesteps[last_index] - first) * (TRAIN_TIMESTEPS - 1) / TRAIN_TIMESTEPS
        result.append(Stage(float(first), float(last), entries[i]))
    return result


def renoise(latents: torch.Tensor, entry_signal: float, generator: torch.Generator) -> torch.Tensor:
    """Upsample a stage's result 2x (nearest) and add block-correlated noise: the next stage's start."""
    b, c, t, h, w = latents.shape
    up = F.interpolate(latents.transpose(1, 2).reshape(b * t, c, h, w), scale_factor=2, mode="nearest")
    up = up.reshape(b, t, c, 2 * h, 2 * w).transpose(1, 2)
    alpha = 1 / (math.sqrt(1 + 1 / GAMMA) * (1 - entry_signal) + entry_signal)
    beta = alpha * (1 - entry_signal) / math.sqrt(GAMMA)
    return alpha * up + beta * block_noise(up.shape, generator).to(up)


def block_noise(shape: torch.Size, generator: torch.Generator) -> torch.Tensor:
    """Unit-variance noise whose four values in each 2x2 block correlate at -gamma (their sum has
    no variance): what nearest upsampling followed by noising needs to match the training noise."""
    b, c, t, h, w = shape
    covariance = (1 + GAMMA) * torch.eye(4) - GAMMA * torch.ones(4, 4)
    # The covariance is singular (the block sum is fixed), so take its square root by eigenvalues.
    values, vectors = torch.linalg.eigh(covariance.double())
    root = (vectors * values.clamp(min=0).sqrt()).float()
    white = torch.randn(b, c, t, h // 2, w // 2, 4, generator=generator, device=generator.device)
    blocks = white @ root.T.to(white.device)
    return blocks.reshape(b, c, t, h // 2, w // 2, 2, 2).permute(0, 1, 2, 3, 5, 4, 6).reshape(shape)


def downsample(latents: torch.Tensor, keep_variance: bool = False) -> torch.Tensor:
    """Half the size in space (2x2 averages); keep_variance scales noise back to unit variance."""
    b, c, t, h, w = latents.shape
    small = F.avg_pool2d(latents.transpose(1, 2).reshape(b * t, c, h, w), 2)
    small = small.reshape(b, t, c, h // 2, w // 2).transpose(1, 2)
    return small * 2 if keep_variance else small


def history(generated: torch.Tensor, stage: int) -> list[torch.Tensor]:
    """The clean frames so far as the transformer sees them at `stage`, oldest first: the latest
    at the stage's resolution, the one before at the next coarser, and so on down to a quarter,
    where all older frames are."""
    pyramid = [generated]
    for _ in range(STAGES - 1):
        pyramid.insert(0, downsample(pyramid[0]))  # [quarter, half, full]
    count = generated.shape[2]
    parts = [pyramid[stage][:, :, -1:]]
    level, taken = stage, 1
    while taken < count:
        level = max(level - 1, 0)
        if level == 0:
            break
        taken += 1
        parts.append(pyramid[level][:, :, -taken:-(taken - 1)])
    if level == 0 and taken < count:
        parts.append(pyramid[0][:, :, :-taken])
    return parts[::-1]


# (latents at this stage, timestep [B], history clips) -> velocity
Denoiser = Callable[[torch.Tensor, torch.Tensor, list[torch.Tensor]], torch.Tensor]


def sample_frame(denoise: Denoiser, noise: torch.Tensor, past: torch.Tensor | None, steps: int,
                 generator: torch.Generator, on_step: Callable[[], None]) -> torch.Tensor:
    """One latent frame [B, C, 1, H, W] from noise at a quarter of its size, through the three
    stages, given the clean frames before it (or None for the first)."""
    latents = noise
    for index, stage in enumerate(stages()):
        if index > 0:
            latents = renoise(latents, stage.entry_signal, generator)
        timesteps = torch.linspace(stage.first_timestep, stage.last_timestep, steps)
        sigmas = [*torch.linspace(1.0, 0.001, steps).tolist(), 0.0]
        clips = history(past, index) if past is not None else []
        for step, timestep in enumerate(timesteps):
            velocity = denoise(latents, timestep.expand(latents.shape[0]).to(latents.device), clips)
            latents = (latents.float() + (sigmas[step + 1] - sigmas[step]) * velocity.float()).to(latents.dtype)
            on_step()
    return latents


def first_noise(shape: tuple[int, ...], generator: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """Noise for every frame at the first stage's size: full-size noise averaged down twice (so a
    seed draws the same clip at any stage count)."""
    noise = torch.randn(shape, generator=generator, device=generator.device, dtype=torch.float32)
    for _ in range(STAGES - 1):
        noise = downsample(noise, keep_variance=True)
    return noise.to(dtype)
