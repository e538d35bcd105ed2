import json
import shutil

import numpy as np
import pytest

from ungated.engines.builtin.engine import BuiltinEngine
from ungated.errors import GenerationCancelled, ModelUnavailable
from ungated.request import Request, plan


def _plan(engine, **fields):
    return plan(Request.build(prompt="a small red circle moving right on a blue background", **fields),
                engine.capabilities, engine.id)


def test_frames_come_at_native_size_after_the_sampler_steps(tiny_engine):
    p = _plan(tiny_engine, steps=2, size="64x64")
    calls = []
    frames = list(tiny_engine.generate(p, 1, lambda step, total: calls.append((step, total)), lambda: False))
    assert len(frames) == 16 and all(f.shape == (64, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert calls == [(1, 2), (2, 2)]  # painting the whole clip takes milliseconds


def test_frames_are_drawn_at_the_output_size(tiny_engine):
    p = _plan(tiny_engine, steps=2, resolution="720p")
    assert (p.width, p.out_width) == (64, 720)
    frame = next(iter(tiny_engine.generate(p, 1, lambda *a: None, lambda: False)))
    assert frame.shape == (720, 720, 3)


def test_same_seed_same_clip_other_seed_other_clip(tiny_engine):
    p = _plan(tiny_engine, steps=2)
    run = lambda seed: np.stack(list(tiny_engine.generate(p, seed, lambda *a: None, lambda: False)))  # noqa: E731
    assert np.array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


def test_cancel_stops_before_the_next_frame(tiny_engine):
    p = _plan(tiny_engine, steps=10)
    steps = []
    frames = tiny_engine.generate(p, 0, lambda step, total: steps.append(step), lambda: len(steps) >= 3)
    with pytest.raises(GenerationCancelled):
        next(frames)
    assert steps == [1, 2, 3]


def test_missing_weights_say_what_to_run(tmp_path):
    engine = BuiltinEngine(model_dir=tmp_path)
    assert not engine.weights_present()
    with pytest.raises(ModelUnavailable, match="ungated train builtin"):
        engine.load()


def test_weights_of_another_architecture_say_what_to_run(tiny_model_dir, tmp_path):
    shutil.copytree(tiny_model_dir, tmp_path, dirs_exist_ok=True)
    config = json.loads((tmp_path / "config.json").read_text())
    config["width"] *= 2  # weights no longer fit the network
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelUnavailable, match="retrain them with `ungated train builtin`"):
        BuiltinEngine(model_dir=tmp_path).load()


def test_unknown_words_are_pointed_out(tiny_engine):
    assert tiny_engine.prompt_notes("a red circle moving right on a blue background") == []
    (note,) = tiny_engine.prompt_notes("a purple dragon flying")
    assert "dragon, flying" in note


def test_shipped_weights_are_present_and_small():
    engine = BuiltinEngine()
    assert engine.weights_present()
    assert (engine.model_dir / "model.safetensors").stat().st_size < 25 * 1024 * 1024
