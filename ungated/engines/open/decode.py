"""Decode a clip's latents so that a long clip's frames never sit in memory all at once: a clip
whose decoded frames fit a budget decodes in one call, exactly as its pipeline would; a longer one
decodes window by window, each turned into uint8 frames and handed on before the next.

A VAE with temporal tiling of its own (LTX-Video, HunyuanVideo, Mochi: `use_framewise_decoding`)
decodes a long clip in one call with that tiling on: its seams are better than a cross-fade of
windows, and only its decoded frames, not its activations, are held whole.

The others (CogVideoX, Wan) decode window by window. Latent frames [k, k + n) decode to r * (n - 1) + 1
frames, the frames r * k .. r * (k + n - 1) of the whole clip, where r is the temporal compression
(4 for both), except that CogVideoX's VAE decodes latent frames in pairs and maps an even n to r * n
frames: its windows are all odd. Consecutive windows overlap by a few latent frames and are
cross-faded there. A window's first frame gets zero weight, because causal VAEs decode a window's
first latent frame as a still image.

The latents come from the pipeline itself: its call to `vae.decode` is intercepted, so each
family's own un-scaling (latent mean/std, scaling factor, LTX's decode timestep) is kept as is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from ...errors import GenerationCancelled
from ..base import CancelFn

# Decoded frames held at once, in the VAE's dtype. A clip under it decodes in one call, exactly as
# the pipeline would. 1 GiB is 86 frames of 1080p in 16-bit, about a third of a 10 s clip at 24 fps.
BUDGET_BYTES = 1 << 30
OVERLAP = 2  # latent frames two windows share and cross-fade: 8 frames at 4x, 16 at 8x


class DecodeCall(Exception):
    """Raised in place of the pipeline's own `vae.decode`, carrying the arguments it was given."""

    def __init__(self, latents: torch.Tensor, args: tuple, kwargs: dict):
        super().__init__("vae.decode intercepted")
        self.latents, self.args, self.kwargs = latents, args, kwargs


@contextmanager
def intercepted(vae):
    """While inside, the pipeline's `vae.decode(...)` raises DecodeCall instead of decoding."""

    def capture(latents, *args, **kwargs):
        raise DecodeCall(latents, args, kwargs)

    shadowed = vae.__dict__.get("decode")  # someone else's wrapper, kept for the real decode
    vae.decode = capture  # an instance attribute shadows the class's method
    try:
        yield
    finally:
        if shadowed is None:
            del vae.decode
        else:
            vae.decode = shadowed


def to_uint8(decoded: torch.Tensor) -> np.ndarray:
    """[1, 3, frames, height, width] in [-1, 1] -> uint8 [frames, height, width, 3] on the host."""
    pixels = ((decoded[0] / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
    return pixels.permute(1, 2, 3, 0).cpu().numpy()


def decodes_in_pairs(vae) -> bool:
    """CogVideoX's VAE: an even count of latent frames decodes to 4 frames each, an odd one as usual."""
    return hasattr(vae, "num_latent_frames_batch_size")


def window_length(latents: torch.Tensor, frames: int, frame_pixels: int, budget: int, odd: bool = False) -> int:
    """Latent frames per window: the whole clip when its decoded frames fit the budget; odd: an odd count."""
    count = latents.shape[2]
    if count <= OVERLAP + 1:
        return count
    ratio = max(1, (frames - 1) // (count - 1))
    per_latent_frame = ratio * frame_pixels * 3 * latents.element_size()
    window = max(OVERLAP + 1, min(count, budget // per_latent_frame))
    return window - 1 if odd and window < count and window % 2 == 0 else window


def windows(latent_frames: int, window: int, overlap: int, odd: bool = False) -> list[tuple[int, int]]:
    """[start, end) of each window; all but the last are full, and the last is longer than the overlap.
    odd: the last one too has an odd length (it starts a latent frame earlier where needed)."""
    stride = window - overlap
    spans, start = [], 0
    while start + window < latent_frames:
        spans.append((start, start + window))
        start += stride
    if odd and spans and (latent_frames - start) % 2 == 0:
        start -= 1
    spans.append((start, latent_frames))
    return spans


@contextmanager
def temporal_tiling(vae):
    """The VAE's own temporal tiling on, while inside."""
    before = vae.use_framewise_decoding
    vae.use_framewise_decoding = True
    try:
        yield
    finally:
        vae.use_framewise_decoding = before


def stream(vae, call: DecodeCall, frames: int, frame_pixels: int, should_cancel: CancelFn,
           budget: int | None = None) -> Iterator[np.ndarray]:
    """The clip the intercepted call would have decoded, yielded as uint8 frames window by window."""
    latents, arguments = call.latents, {**call.kwargs, "return_dict": False}
    count, odd = latents.shape[2], decodes_in_pairs(vae)
    window = window_length(latents, frames, frame_pixels, budget or BUDGET_BYTES, odd)
    if window < count and hasattr(vae, "use_framewise_decoding"):
        if should_cancel():
            raise GenerationCancelled
        with temporal_tiling(vae):
            yield from to_uint8(vae.decode(latents, *call.args, **arguments)[0])
        return
    spans = windows(count, window, OVERLAP, odd)
    pending = None  # decoded frames where the next window starts, to cross-fade
    for index, (start, end) in enumerate(spans):
        if should_cancel():
            raise GenerationCancelled
        piece = vae.decode(latents[:, :, start:end], *call.args, **arguments)[0]
        if pending is not None:
            shared = pending.shape[2]
            weight = (torch.arange(shared, device=piece.device, dtype=piece.dtype) / shared).view(1, 1, -1, 1, 1)
            piece[:, :, :shared] = pending.to(piece.device) * (1 - weight) + piece[:, :, :shared] * weight
        if index == len(spans) - 1:
            yield from to_uint8(piece)
            return
        ratio, remainder = divmod(piece.shape[2] - 1, end - start - 1)
        if remainder:
            raise RuntimeError(f"the VAE decoded {end - start} latent frames to {piece.shape[2]} frames, "
                               "which no temporal compression ratio explains")
        final = ratio * (spans[index + 1][0] - start)  # up to where the next window starts
        yield from to_uint8(piece[:, :, :final])
        pending = piece[:, :, final:]
