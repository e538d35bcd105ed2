"""SkyReels V2's diffusion forcing (SkyReelsV2DiffusionForcingPipeline), which makes a clip longer
than one pass (`base_num_frames`) itself: each later pass continues from the last `overlap_history`
frames of the one before. What ungated does around that pipeline's call:

- noise: a later pass re-noises the frames it continues from (`addnoise_condition`) with
  `torch.randn_like`, which draws on torch's global generator, not on the `generator` argument. So
  the global generator is seeded from the request's seed first; otherwise one seed would give a
  different clip each time.
- progress: the pipeline counts its steps afresh in each pass; ungated reports one count over all
  the passes, so the progress bar and its ETA cover the whole clip.
"""

from __future__ import annotations

import torch

from ..base import ProgressFn

PIPELINE = "SkyReelsV2DiffusionForcingPipeline"


def passes(arguments: dict, temporal_ratio: int) -> int:
    """How many passes the pipeline makes for these arguments (its own arithmetic, in latent frames)."""
    frames, base, overlap = arguments["num_frames"], arguments.get("base_num_frames", 97), \
        arguments.get("overlap_history")
    if overlap is None or frames <= base:
        return 1
    latent, base_latent = (frames - 1) // temporal_ratio + 1, (base - 1) // temporal_ratio + 1
    overlap_latent = (overlap - 1) // temporal_ratio + 1
    return 2 + (latent - base_latent - 1) // (base_latent - overlap_latent)


def prepare(pipe, arguments: dict, on_progress: ProgressFn) -> ProgressFn:
    """Seed the global generator and count progress over all passes, for a diffusion forcing
    pipeline; any other pipeline's progress goes through unchanged."""
    if type(pipe).__name__ != PIPELINE:
        return on_progress
    torch.manual_seed(arguments["generator"].initial_seed())
    count = passes(arguments, pipe.vae_scale_factor_temporal)
    state = {"pass": 0, "last": 0}

    def progress(done: int, total: int) -> None:
        if done <= state["last"]:  # the pipeline started its next pass
            state["pass"] += 1
        state["last"] = done
        on_progress(state["pass"] * total + done, count * total)

    return progress
