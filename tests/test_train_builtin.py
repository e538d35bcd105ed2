import random

import torch
from safetensors.torch import load_file

from ungated.engines.builtin import world
from ungated.engines.builtin.net import FrameAutoencoder
from ungated.engines.builtin.weights import load_model
from ungated.train.builtin import TrainPlan, train

from .conftest import TINY


def _plan(tmp_path, name, **overrides):
    base = dict(out_dir=tmp_path / name / "out", work_dir=tmp_path / name / "work", config=TINY,
                ae_steps=4, ae_batch_frames=8, denoiser_steps=4, denoiser_batch=2, fresh_clips=1, window_steps=2,
                checkpoint_every=2)
    return TrainPlan(**{**base, **overrides})


def test_training_writes_a_loadable_model_and_reports_progress(tmp_path):
    seen = []
    train(_plan(tmp_path, "a"), lambda stage, step, total, loss: seen.append((stage, step, total)))
    assert seen[0] == ("autoencoder", 1, 4) and seen[-1] == ("denoiser", 4, 4)
    model = load_model(tmp_path / "a" / "out")
    assert model.config.latent_scale != 1.0  # measured after the autoencoder stage
    assert (tmp_path / "a" / "work" / "loss.csv").read_text().count("\n") == 8


def test_training_is_deterministic_and_resumes_exactly(tmp_path):
    train(_plan(tmp_path, "straight"))
    # Stop after 2 denoiser steps, then resume to 4 from the checkpoint.
    train(_plan(tmp_path, "resumed", denoiser_steps=2))
    resumed_steps = []
    train(_plan(tmp_path, "resumed"), lambda stage, step, total, loss: resumed_steps.append((stage, step)))
    assert resumed_steps == [("denoiser", 3), ("denoiser", 4)]
    a = load_file(str(tmp_path / "straight" / "out" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "out" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)


def test_training_lowers_the_error_on_held_out_frames(tmp_path):
    frames = world.render([world.sample_scene(random.Random(99)) for _ in range(4)], 4, 64, seed=99).flatten(0, 1)
    torch.manual_seed(0)  # the initial weights training starts from
    untrained = FrameAutoencoder(TINY).eval()
    model = train(_plan(tmp_path, "c", ae_steps=100, ae_batch_frames=32, denoiser_steps=1, checkpoint_every=1000))
    with torch.no_grad():
        before = (untrained.decode(untrained.encode(frames)) - frames).abs().mean()
        after = (model.autoencoder.decode(model.autoencoder.encode(frames)) - frames).abs().mean()
    assert after < 0.8 * before  # measured: 0.92 -> 0.59


def test_flow_times_cover_low_noise_as_well_as_the_sampler_shift():
    from ungated.train.builtin import _flow_times

    t = _flow_times(20_000, torch.Generator().manual_seed(0))
    assert 0 <= t.min() and t.max() <= 1
    # The sampler's shift alone puts ~3% of times below 0.3, where edges are sharpened.
    assert (t < 0.3).float().mean() > 0.1
    assert (t > 0.7).float().mean() > 0.4  # and the high-noise steps that lay out a clip stay common
