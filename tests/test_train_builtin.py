import random

import pytest
import torch
from safetensors.torch import load_file

from ungated.engines.builtin import world
from ungated.engines.builtin.net import CaptionDecoder, Tokenizer
from ungated.engines.builtin.weights import load_model
from ungated.errors import InvalidRequest
from ungated.train.builtin import TrainPlan, earlier_frames, train

from .conftest import TINY


def _plan(tmp_path, name, **overrides):
    base = dict(out_dir=tmp_path / name / "out", work_dir=tmp_path / name / "work", config=TINY,
                decoder_steps=4, decoder_clips=2, decoder_batch_frames=8, layout_steps=4, layout_clips=2,
                layout_batch=4, checkpoint_every=2)
    return TrainPlan(**{**base, **overrides})


def test_training_writes_a_loadable_model_and_reports_progress(tmp_path):
    seen = []
    train(_plan(tmp_path, "a"), lambda stage, step, total, loss: seen.append((stage, step, total)))
    assert seen[0] == ("decoder", 1, 4) and seen[-1] == ("layout", 4, 4)
    load_model(tmp_path / "a" / "out")
    assert (tmp_path / "a" / "work" / "loss.csv").read_text().count("\n") == 8


def test_training_is_deterministic_and_resumes_exactly(tmp_path):
    train(_plan(tmp_path, "straight"))
    # Stop after 2 layout steps, then resume to 4 from the checkpoint.
    train(_plan(tmp_path, "resumed", layout_steps=2))
    resumed_steps = []
    train(_plan(tmp_path, "resumed"), lambda stage, step, total, loss: resumed_steps.append((stage, step)))
    assert resumed_steps == [("layout", 3), ("layout", 4)]
    a = load_file(str(tmp_path / "straight" / "out" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "out" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)


def test_a_checkpoint_of_another_shape_is_refused_by_name(tmp_path):
    train(_plan(tmp_path, "a", layout_steps=2))
    other = TINY.__class__(**{**TINY.__dict__, "decoder_channels": 32})
    with pytest.raises(InvalidRequest, match="--work-dir"):
        train(_plan(tmp_path, "a", config=other))


def test_decoder_training_lowers_the_error_on_held_out_frames(tmp_path):
    scenes = [world.sample_scene(random.Random(99)) for _ in range(4)]
    frames = world.render(scenes, 4, 64, seed=99).flatten(0, 1)
    layouts = world.render_layout(scenes, 4, 64, 4, seed=99).flatten(0, 1)
    word_ids = Tokenizer(TINY.vocabulary, TINY.max_words)([s.caption() for s in scenes]).repeat_interleave(4, 0)
    when = torch.linspace(0, 1, 4).repeat(4)
    torch.manual_seed(0)  # the initial weights training starts from
    untrained = CaptionDecoder(TINY).eval()
    model = train(_plan(tmp_path, "c", decoder_steps=60, decoder_batch_frames=32, layout_steps=1, checkpoint_every=1000))
    with torch.no_grad():
        before = (untrained(layouts, word_ids, when) - frames).abs().mean()
        after = (model.decoder(layouts, word_ids, when) - frames).abs().mean()
    assert after < 0.8 * before


def test_earlier_frames_are_oldest_first_and_zero_before_the_start():
    clips = torch.arange(1, 7, dtype=torch.float32).reshape(1, 6, 1, 1, 1).repeat(3, 1, 1, 1, 1)  # frame k holds k + 1
    got = earlier_frames(clips, torch.tensor([0, 1, 5]), context=2)[..., 0, 0, 0]
    assert got.tolist() == [[0, 0], [0, 1], [4, 5]]


def test_flow_times_cover_low_noise_as_well_as_the_sampler_shift():
    from ungated.train.builtin import _flow_times

    t = _flow_times(20_000, torch.Generator().manual_seed(0))
    assert 0 <= t.min() and t.max() <= 1
    # The sampler's shift alone puts ~3% of times below 0.3, where edges are sharpened.
    assert (t < 0.3).float().mean() > 0.1
    assert (t > 0.7).float().mean() > 0.4  # and the high-noise steps that lay out a clip stay common
