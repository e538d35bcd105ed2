"""Low-resolution previews of a clip while it is being sampled: the middle frame of the current
estimate, cheap enough to draw every few seconds.

Open models sample in a VAE latent space whose channels do not map to colours in any way shared
across families, so their previews are false-colour: the latent frame's three principal
components as red, green and blue. They show the composition and motion settling; colours are
not the clip's.
"""

from __future__ import annotations

import numpy as np
import torch


def false_colour(latent: torch.Tensor) -> np.ndarray:
    """A latent frame [C, H, W] -> uint8 RGB [H, W, 3] of its top three principal components."""
    channels, height, width = latent.shape
    points = latent.detach().float().cpu().reshape(channels, -1).T  # [H*W, C]
    points = points - points.mean(0)
    _, _, basis = torch.linalg.svd(points, full_matrices=False)
    components = points @ basis[:3].T
    if components.shape[1] < 3:  # fewer than three channels: pad with grey
        components = torch.nn.functional.pad(components, (0, 3 - components.shape[1]))
    low, high = components.quantile(0.02, dim=0), components.quantile(0.98, dim=0)
    scaled = ((components - low) / (high - low).clamp(min=1e-6)).clamp(0, 1)
    return (scaled * 255).round().byte().reshape(height, width, 3).numpy()


def middle_latent_frame(latents: torch.Tensor, layout: str, height: int, width: int,
                        spatial_ratio: int = 32) -> torch.Tensor | None:
    """The middle frame [C, H, W] of the first latent clip in a batch, from a family's layout:
    "bcfhw", "bfchw", "bfhwc", or "packed" ([B, F*H*W, C] with one token per latent pixel)."""
    clip = latents[0]
    if layout == "bcfhw":
        return clip[:, clip.shape[1] // 2]
    if layout == "bfchw":
        return clip[clip.shape[0] // 2]
    if layout == "bfhwc":
        return clip[clip.shape[0] // 2].permute(2, 0, 1)
    rows, cols = max(1, height // spatial_ratio), max(1, width // spatial_ratio)
    tokens, channels = clip.shape
    if tokens % (rows * cols):
        return None
    frames = tokens // (rows * cols)
    return clip.reshape(frames, rows, cols, channels)[frames // 2].permute(2, 0, 1)
