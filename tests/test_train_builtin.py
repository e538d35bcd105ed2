import pytest
import torch
from safetensors.torch import load_file

from ungated.engines.builtin import evaluate, motion, tracks, world
from ungated.engines.builtin.net import ShapePainter
from ungated.engines.builtin.weights import load_model
from ungated.errors import InvalidRequest
from ungated.train.builtin import TrainPlan, train

from .conftest import TINY


def _plan(tmp_path, name, **overrides):
    base = dict(out_dir=tmp_path / name / "out", work_dir=tmp_path / name / "work", config=TINY,
                painter_steps=4, painter_clips=2, painter_frames=2, track_steps=4, track_clips=4,
                checkpoint_every=2)
    return TrainPlan(**{**base, **overrides})


def test_training_writes_a_loadable_model_and_reports_progress(tmp_path):
    seen = []
    train(_plan(tmp_path, "a"), lambda stage, step, total, loss: seen.append((stage, step, total)))
    assert seen[0] == ("painter", 1, 4) and seen[-1] == ("tracks", 4, 4)
    load_model(tmp_path / "a" / "out")
    assert (tmp_path / "a" / "work" / "loss.csv").read_text().count("\n") == 8


def test_training_is_deterministic_and_resumes_exactly(tmp_path):
    train(_plan(tmp_path, "straight"))
    # Stop after 2 track steps, then resume to 4 from the checkpoint.
    train(_plan(tmp_path, "resumed", track_steps=2))
    resumed_steps = []
    train(_plan(tmp_path, "resumed"), lambda stage, step, total, loss: resumed_steps.append((stage, step)))
    assert resumed_steps == [("tracks", 3), ("tracks", 4)]
    a = load_file(str(tmp_path / "straight" / "out" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "out" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)


def test_a_checkpoint_of_another_shape_is_refused_by_name(tmp_path):
    train(_plan(tmp_path, "a", track_steps=2))
    other = TINY.__class__(**{**TINY.__dict__, "painter_width": 32})
    with pytest.raises(InvalidRequest, match="--work-dir"):
        train(_plan(tmp_path, "a", config=other))


def test_painter_training_learns_outlines_from_pixels(tmp_path):
    """On frames it never trained on: the painter's error falls, and a star starts to differ
    from a circle (it starts as the circle)."""
    scenes = evaluate.held_out_scenes(6, seed=99)
    frames = world.render(scenes, 4, 96, 54, seed=99)
    true = tracks.true_params(scenes, [96 / 54] * len(scenes), 2, seed=99)
    paths = motion.simulate(true, true["shape"], world.frame_times(4, 8), 0.5, 96 / 54)
    torch.manual_seed(0)  # the initial weights training starts from
    untrained = ShapePainter(TINY).eval()
    model = train(_plan(tmp_path, "c", painter_steps=80, painter_clips=4, track_steps=1, checkpoint_every=1000))
    with torch.no_grad():
        before = (untrained(true, paths, 96, 54) - frames).square().mean()
        after = (model.painter(true, paths, 96, 54) - frames).square().mean()
        points = torch.stack(torch.meshgrid(torch.linspace(-1.5, 1.5, 31), torch.linspace(-1.5, 1.5, 31), indexing="ij"), -1)
        star, circle = model.painter.distance(points.reshape(1, -1, 2).repeat(2, 1, 1), torch.tensor([3, 0]))
    assert after < 0.7 * before
    assert (star - circle).abs().max() > 0.2


def test_flow_times_cover_low_noise_as_well_as_the_sampler_shift():
    from ungated.train.common import flow_times

    t = flow_times(20_000, torch.Generator().manual_seed(0))
    assert 0 <= t.min() and t.max() <= 1
    # The sampler's shift alone puts ~3% of times below 0.3, where edges are sharpened.
    assert (t < 0.3).float().mean() > 0.1
    assert (t > 0.7).float().mean() > 0.4  # and the high-noise steps that lay out a clip stay common


def test_drawing_matches_the_differentiable_painter(tmp_path):
    """draw() (outlines looked up in a table, blended only near each object) is what generation
    uses; forward() is what training fits. They must paint the same frames."""
    model = train(_plan(tmp_path, "d", painter_steps=40, painter_clips=4, track_steps=1, checkpoint_every=1000))
    scenes = evaluate.held_out_scenes(3, seed=7)
    for width, height in ((160, 90), (90, 160), (64, 64)):
        true = tracks.true_params(scenes, [width / height] * 3, 2, seed=7)
        paths = motion.simulate(true, true["shape"], world.frame_times(6, 8), 2.0, width / height)
        with torch.no_grad():
            painted = model.painter(true, paths, width, height)
        for b in range(3):
            one = {k: v[b:b + 1] for k, v in true.items()}
            drawn = model.painter.draw(one, {k: v[b:b + 1] for k, v in paths.items()}, width, height)
            expected = ((painted[b].clamp(-1, 1) + 1) * 127.5).round().permute(0, 2, 3, 1)
            assert (torch.from_numpy(drawn).float() - expected).abs().max() <= 2
