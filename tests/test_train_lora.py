"""LoRA training for the open-model families on tiny random models and a tiny drawn dataset: the
loss goes down, the trained LoRA changes the clip and switching it off restores it exactly, a
stopped run resumes and ends where an unbroken one does, and the encoders run once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ungated.errors import InvalidRequest, TrainingCancelled
from ungated.train.demo_data import write_demo_dataset
from ungated.train.lora import LoraRun, LoraTrainPlan, prepare, train

from .test_open_models import engine_for, run, tiny_plan

# tiny pipeline -> the catalog model of its family it stands in for
MODELS = {"wan": "wan2.1-t2v-1.3b", "ltx": "ltx-video", "cogvideox": "cogvideox-2b", "hunyuan": "hunyuanvideo"}


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory) -> Path:
    # 6.5 s at 8 fps: long enough for CogVideoX's fixed 49 frames.
    return write_demo_dataset(tmp_path_factory.mktemp("lora-clips"), width=96, height=64, seconds=6.5, fps=8,
                              scenes=["ball", "sunset"])


def _plan(kind: str, folder: Path, data: Path, tmp_path: Path, name: str = "run", **overrides) -> LoraTrainPlan:
    base = dict(model_id=MODELS[kind], data_dir=data, out=tmp_path / name / "style.safetensors",
                work_dir=tmp_path / name / "work", model_path=folder, rank=4, alpha=4, lr=1e-2, steps=6,
                resolution=64, max_frames=9, sample_every=0, sample_steps=2, checkpoint_every=2)
    return LoraTrainPlan(**{**base, **overrides})


def _held_out_loss(lora_run: LoraRun) -> float:
    with torch.no_grad():
        return float(np.mean([lora_run.loss(*lora_run.batch(step)).item() for step in (10_000, 10_001, 10_002)]))


@pytest.mark.parametrize("kind", list(MODELS))
def test_the_loss_goes_down_and_the_lora_changes_the_clip(kind, tiny_folders, clips_dir, tmp_path):
    plan = _plan(kind, tiny_folders[kind], clips_dir, tmp_path, steps=12)
    lora_run = LoraRun(plan, prepare(plan))
    before = _held_out_loss(lora_run)
    for _ in range(plan.steps):
        lora_run.train_step()
    after = _held_out_loss(lora_run)
    assert after < before, (before, after)
    lora = lora_run.save_lora(plan.out)
    # Through the generate path, as `ungated generate --lora` applies it.
    engine = engine_for(MODELS[kind], tiny_folders[kind])
    base = run(engine, tiny_plan(9))
    styled = run(engine, tiny_plan(9, loras=[{"path": lora}]))
    assert not np.array_equal(styled, base)
    assert np.array_equal(run(engine, tiny_plan(9, loras=[{"path": lora, "weight": 0}])), base)
    assert np.array_equal(run(engine, tiny_plan(9)), base)


def test_a_stopped_run_resumes_and_ends_where_an_unbroken_one_does(tiny_folders, clips_dir, tmp_path):
    straight = _plan("wan", tiny_folders["wan"], clips_dir, tmp_path, "straight")
    train(straight, prepare(straight))
    broken = _plan("wan", tiny_folders["wan"], clips_dir, tmp_path, "broken")
    data = prepare(broken)
    seen: list[int] = []
    with pytest.raises(TrainingCancelled):
        train(broken, data, lambda step, total, loss: seen.append(step), should_cancel=lambda: len(seen) == 3)
    resumed: list[int] = []
    train(broken, data, lambda step, total, loss: resumed.append(step))
    assert resumed == [4, 5, 6]
    a, b = load_file(str(straight.out)), load_file(str(broken.out))
    assert a.keys() == b.keys() and all(key.startswith("transformer.") for key in a)
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)
    assert broken.out.with_suffix(".sample.mp4").is_file() and broken.out.with_suffix(".loss.png").is_file()


def test_latents_and_captions_are_encoded_once(tiny_folders, clips_dir, tmp_path, monkeypatch):
    plan = _plan("wan", tiny_folders["wan"], clips_dir, tmp_path)
    first = prepare(plan)
    assert first.count == 2 and not first.skipped
    from ungated.train import lora

    def no_encoders(*args, **kwargs):
        raise AssertionError("the encoders ran again")

    monkeypatch.setattr(lora.hub, "load_pipeline", no_encoders)
    again = prepare(plan)
    assert again.items == first.items


def test_a_model_without_lora_training_is_refused_by_name(tiny_folders, clips_dir, tmp_path):
    plan = _plan("wan", tiny_folders["wan"], clips_dir, tmp_path, model_id="mochi-1")
    with pytest.raises(InvalidRequest, match="mochi-1") as err:
        prepare(plan)
    assert err.value.field == "--model"


@pytest.mark.parametrize("args, flag", [
    (["--model", "nope", "--data", "."], "--model"),
    (["--model", "wan2.1-t2v-1.3b", "--data", "missing"], "--data"),
    (["--model", "wan2.1-t2v-1.3b", "--data", ".", "--out", "x.pt"], "--out"),
    (["--model", "wan2.1-t2v-1.3b", "--data", ".", "--base", "fp4"], "--base"),
    (["--model", "wan2.1-t2v-1.3b", "--data", ".", "--rank", "0"], "--rank"),
])
def test_the_cli_refuses_bad_options_in_one_line(args, flag, tmp_path):
    result = subprocess.run([sys.executable, "-m", "ungated", "train", "lora", *args], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"error: {flag}") and result.stderr.count("\n") == 1
    assert not list(tmp_path.iterdir())
