"""Training the built-in clip model on a folder of clips: the loss goes down, a stopped run resumes
where it stopped and ends exactly where an unbroken run does, the result generates through the
`builtin` engine, and fine-tuning adds new words without losing the old ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ungated.engines.builtin.clip_engine import BuiltinClipsEngine
from ungated.engines.builtin.net import Tokenizer
from ungated.engines.builtin.weights import load_clip_model
from ungated.engines.catalog import get_engine
from ungated.errors import InvalidRequest, TrainingCancelled
from ungated.request import Request, plan as make_plan
from ungated.train.clips import ClipTrainPlan, batch, flow_loss, prepare, train
from ungated.train.demo_data import write_demo_dataset


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory) -> Path:
    return write_demo_dataset(tmp_path_factory.mktemp("clips"), width=96, height=64, seconds=1.5, fps=8,
                              scenes=["ball", "sunset", "snow"])


def _plan(tmp_path: Path, data: Path, name: str = "run", **overrides) -> ClipTrainPlan:
    base = dict(data_dir=data, out_dir=tmp_path / name / "out", work_dir=tmp_path / name / "work", steps=6, batch=2,
                lr=3e-3, short_side=32, frames=8, channels=(8, 16), text_width=16, checkpoint_every=2,
                sample_every=0)
    return ClipTrainPlan(**{**base, **overrides})


def _held_out_loss(net, data, plan) -> float:
    """The loss on fixed batches and noise, the same before and after training."""
    tokenizer = Tokenizer(data.config.vocabulary, data.config.max_words)
    losses = []
    with torch.no_grad():
        for step in (10_000, 10_001, 10_002):
            clips, captions, gen = batch(plan, data, step, {})
            losses.append(flow_loss(net, tokenizer, clips, captions, gen).item())
    return float(np.mean(losses))


def test_preparing_reads_the_clips_and_caches_their_frames(clips_dir, tmp_path):
    plan = _plan(tmp_path, clips_dir)
    data = prepare(plan)
    assert data.count == 3 and not data.skipped
    assert (data.config.width, data.config.height) == (56, 32)  # 96x64 is wider than 1.2:1: 16:9 at 32 px high
    assert {"ball", "sun", "snow"} <= set(data.config.vocabulary)
    (bucket,) = data.clips
    assert (bucket.width, bucket.height, bucket.frames, bucket.fps) == (56, 32, 8, 8)
    cached = sorted((plan.work_dir / "cache").glob("*.npy"))
    assert len(cached) == 3 and np.load(cached[0]).shape == (8, 32, 56, 3)
    stamps = [p.stat().st_mtime_ns for p in cached]
    prepare(plan)  # a second run decodes nothing
    assert [p.stat().st_mtime_ns for p in cached] == stamps


def test_the_loss_goes_down(clips_dir, tmp_path):
    plan = _plan(tmp_path, clips_dir, steps=60, checkpoint_every=1000)
    data = prepare(plan)
    torch.manual_seed(plan.seed)  # the initial weights training starts from
    from ungated.engines.builtin.clipnet import ClipNet

    before = _held_out_loss(ClipNet(data.config), data, plan)
    train(plan, data)
    _, trained = load_clip_model(plan.out_dir)
    after = _held_out_loss(trained, data, plan)
    assert after < 0.85 * before, (before, after)
    assert (plan.out_dir / "loss.png").stat().st_size > 1000 and (plan.out_dir / "sample.mp4").is_file()


def test_a_stopped_run_resumes_and_ends_where_an_unbroken_one_does(clips_dir, tmp_path):
    straight = _plan(tmp_path, clips_dir, "straight")
    train(straight, prepare(straight))
    broken = _plan(tmp_path, clips_dir, "broken")
    data = prepare(broken)
    seen: list[int] = []
    with pytest.raises(TrainingCancelled) as stop:
        train(broken, data, lambda step, total, loss: seen.append(step), should_cancel=lambda: len(seen) == 3)
    assert stop.value.step == 3
    resumed: list[int] = []
    train(broken, data, lambda step, total, loss: resumed.append(step))
    assert resumed == [4, 5, 6]
    a = load_file(str(straight.out_dir / "model.safetensors"))
    b = load_file(str(broken.out_dir / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)


def test_the_trained_model_generates_through_the_builtin_engine(clips_dir, tmp_path, monkeypatch):
    plan = _plan(tmp_path, clips_dir)
    train(plan, prepare(plan))
    engine = get_engine("builtin", plan.out_dir)
    assert isinstance(engine, BuiltinClipsEngine)
    # config.toml can make it the server's `builtin` (what the studio's workers load).
    monkeypatch.setenv("UNGATED_HOME", str(tmp_path))
    (tmp_path / "config.toml").write_text(f'[models.builtin]\npath = "{plan.out_dir}"\n')
    assert isinstance(get_engine("builtin"), BuiltinClipsEngine)
    request = Request.build(prompt="a red ball bouncing across the grass", seed=3, steps=4)
    the_plan = make_plan(request, engine.capabilities, engine.id)
    frames = list(engine.generate(the_plan, 3, lambda step, total: None, lambda: False))
    assert len(frames) == 8 and frames[0].shape == (32, 56, 3) and frames[0].dtype == np.uint8
    again = list(engine.generate(the_plan, 3, lambda step, total: None, lambda: False))
    assert all(np.array_equal(x, y) for x, y in zip(frames, again))
    assert engine.prompt_notes("a purple dragon")[0].startswith("this model was trained on captions without")


def test_fine_tuning_keeps_the_old_words_and_learns_new_ones(clips_dir, tmp_path):
    first = _plan(tmp_path, clips_dir, "first")
    train(first, prepare(first))
    more = write_demo_dataset(tmp_path / "more", width=96, height=64, seconds=1.5, fps=8, scenes=["campfire"])
    tuned = _plan(tmp_path, more, "tuned", init=first.out_dir)
    data = prepare(tuned)
    old_config, old_net = load_clip_model(first.out_dir)
    assert data.config.vocabulary[: len(old_config.vocabulary)] == old_config.vocabulary
    assert "campfire" in data.config.vocabulary[len(old_config.vocabulary):]
    rows = len(old_config.vocabulary) + 2
    torch.testing.assert_close(data.start["text.words.weight"][:rows], old_net.text.words.weight)
    train(tuned, data)
    config, _ = load_clip_model(tuned.out_dir)
    assert config.vocabulary == data.config.vocabulary


def test_a_folder_with_no_usable_clip_is_refused_by_name(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidRequest, match="no usable clips") as err:
        prepare(_plan(tmp_path, tmp_path / "empty"))
    assert err.value.field == "--data"


@pytest.mark.parametrize("args, flag", [
    (["--init", "x"], "--init"),
    (["--data", "no-such-folder"], "--data"),
    (["--data", ".", "--track-steps", "3"], "--track-steps"),
    (["--data", ".", "--steps", "0"], "--steps"),
])
def test_the_cli_refuses_bad_options_in_one_line(args, flag, tmp_path):
    result = subprocess.run([sys.executable, "-m", "ungated", "train", "builtin", "--out", str(tmp_path / "m"), *args],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"error: {flag}") and result.stderr.count("\n") == 1
    assert not (tmp_path / "m").exists()


def test_ctrl_c_stops_at_a_step_and_the_same_command_resumes(clips_dir, tmp_path):
    import signal
    import time

    command = [sys.executable, "-m", "ungated", "train", "builtin", "--data", str(clips_dir), "--out",
               str(tmp_path / "m"), "--steps", "3", "--sample-every", "0"]
    first = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    said = []
    while not any(line.startswith("training on") for line in said):  # prepared: the steps start now
        said.append(first.stderr.readline())
        assert said[-1] or first.poll() is None, said
    time.sleep(0.5)
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 130, err
    assert "run the same command again to resume" in err
    stopped_at = torch.load(tmp_path / "m" / "work" / "checkpoint.pt", weights_only=True)["step"]
    assert 0 <= stopped_at < 3
    second = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "ungated generate --model-path" in second.stdout
    assert torch.load(tmp_path / "m" / "work" / "checkpoint.pt", weights_only=True)["step"] == 3
