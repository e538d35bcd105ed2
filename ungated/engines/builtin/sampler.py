"""Flow-matching schedule and sampler for the built-in model.

Convention (rectified flow): x_t = (1 - t) * x_0 + t * noise, the model predicts the velocity
noise - x_0, and sampling integrates from t = 1 (noise) down to t = 0 (data).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, t) -> velocity


class Cancelled(Exception):
    """Raised by the sampler when should_cancel() turns true between steps."""


TIME_SHIFT = 3.0  # more steps at high noise, where the scene (what goes where) is decided


def shift_time(t: torch.Tensor, shift: float = TIME_SHIFT) -> torch.Tensor:
    """Warp times in [0, 1] toward 1 (noise); training and sampling must use the same warp."""
    return shift * t / (1 + (shift - 1) * t)


def shifted_times(steps: int, shift: float = TIME_SHIFT) -> torch.Tensor:
    """steps + 1 times from 1 to 0, spending more steps at high noise as shift grows."""
    return shift_time(torch.linspace(1.0, 0.0, steps + 1), shift)


def sample_euler(
    denoise: Denoiser,
    noise: torch.Tensor,
    times: torch.Tensor,
    on_step: Callable[[int, int], None] = lambda step, total: None,
    should_cancel: Callable[[], bool] = lambda: False,
) -> torch.Tensor:
    x = noise
    total = len(times) - 1
    for i in range(total):
        if should_cancel():
            raise Cancelled
        t, t_next = times[i], times[i + 1]
        velocity = denoise(x, t.expand(x.shape[0]))
        x = x + (t_next - t) * velocity
        on_step(i + 1, total)
    return x
