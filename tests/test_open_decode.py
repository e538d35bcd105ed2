"""Decoding a clip's latents in windows: stitched in the right places, and identical to the
pipeline's own decode when the clip fits the budget."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ungated.engines.open import decode
from ungated.errors import GenerationCancelled

from .test_open_models import FAMILIES, engine_for, run, tiny_plan


class RampVAE:
    """Decodes a clip of `frames` frames to a ramp from -1 to 1 (two uint8 levels or more apart from one
    frame to the next, for up to 127 frames), laid out the way a video VAE of temporal compression
    `ratio` lays out its frames: latent frame k is frame k * ratio."""

    def __init__(self, ratio: int, frames: int):
        self.ratio, self.step, self.calls = ratio, 2 / frames, []

    def latents(self, count: int) -> torch.Tensor:
        return (-1 + torch.arange(count) * self.ratio * self.step).view(1, 1, -1, 1, 1).expand(1, 4, -1, 2, 2)

    def decode(self, latents: torch.Tensor, return_dict: bool = True):
        self.calls.append(latents.shape[2])
        first = latents[0, 0, 0, 0, 0]
        ramp = first + torch.arange((latents.shape[2] - 1) * self.ratio + 1) * self.step
        return (ramp.view(1, 1, -1, 1, 1).expand(1, 3, -1, 2, 2).clone(),)


@pytest.mark.parametrize("ratio,latent_frames", [(4, 21), (8, 13), (6, 10), (4, 4)])
def test_windows_are_stitched_where_they_belong(ratio, latent_frames):
    frames = (latent_frames - 1) * ratio + 1
    whole_vae, windowed_vae = RampVAE(ratio, frames), RampVAE(ratio, frames)
    call = decode.DecodeCall(whole_vae.latents(latent_frames), (), {})
    whole = np.stack(list(decode.stream(whole_vae, call, frames, 4, lambda: False, budget=1 << 40)))
    one_frame_bytes = 4 * 3 * call.latents.element_size()
    windowed = np.stack(list(decode.stream(windowed_vae, call, frames, 4, lambda: False,
                                           budget=4 * ratio * one_frame_bytes)))
    assert len(windowed) == len(whole) == frames
    assert whole_vae.calls == [latent_frames]
    # Equal up to float rounding (one level); a frame out of place would be two levels off or more.
    assert np.abs(windowed.astype(int) - whole).max() <= 1
    assert max(windowed_vae.calls) <= 4 and (len(windowed_vae.calls) > 1) == (latent_frames > 4)


def test_window_spans_cover_every_latent_frame_and_share_the_overlap():
    assert decode.windows(10, 4, 2) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    assert decode.windows(11, 4, 2) == [(0, 4), (2, 6), (4, 8), (6, 10), (8, 11)]
    assert decode.windows(3, 4, 2) == [(0, 3)]


def test_cancel_between_windows():
    polls = []
    vae = RampVAE(4, 45)
    frames = decode.stream(vae, decode.DecodeCall(vae.latents(12), (), {}), 45, 4,
                           lambda: polls.append(1) or len(polls) > 1, budget=1)
    with pytest.raises(GenerationCancelled):
        list(frames)
    assert len(polls) == 2


@pytest.mark.parametrize("kind", list(FAMILIES))
def test_one_window_is_exactly_the_pipelines_own_decode(kind, tiny_folders):
    model_id, frames = FAMILIES[kind]
    engine = engine_for(model_id, tiny_folders[kind])
    ours = run(engine, tiny_plan(frames), seed=2)
    pipe = engine.pipeline_for("t2v")
    arguments = engine.call_arguments(tiny_plan(frames), 2, "t2v", pipe)
    theirs = pipe(**arguments).frames[0]
    assert np.array_equal(ours, (np.clip(theirs, 0, 1) * 255).round().astype(np.uint8))


@pytest.mark.parametrize("kind", list(FAMILIES))
def test_a_clip_over_the_budget_decodes_in_windows_to_the_planned_frames(kind, tiny_folders, monkeypatch):
    model_id, _ = FAMILIES[kind]
    engine = engine_for(model_id, tiny_folders[kind])
    engine.load()
    calls = []
    original = engine.pipe.vae.decode
    engine.pipe.vae.decode = lambda latents, *args, **kwargs: calls.append(latents.shape[2]) or original(
        latents, *args, **kwargs)
    monkeypatch.setattr(decode, "BUDGET_BYTES", 1)
    frames = 25 if kind != "mochi" else 31
    clip = run(engine, tiny_plan(frames))
    assert clip.shape == (frames, 32, 32, 3)
    if hasattr(engine.pipe.vae, "use_framewise_decoding"):  # the VAE's own temporal tiling, in one call
        assert len(calls) == 1
    else:
        assert len(calls) > 1 and max(calls) == decode.OVERLAP + 1
