import json
import shutil

import av
import numpy as np
import pytest

from ungated.engines.builtin import tracks, world
from ungated.engines.builtin.engine import SCENE_TAG, BuiltinEngine
from ungated.errors import GenerationCancelled, InvalidRequest, ModelUnavailable
from ungated.generate import generate_clips
from ungated.media.encode import read_metadata
from ungated.request import Request, plan


def _plan(engine, **fields):
    return plan(Request.build(prompt="a small red circle moving right on a blue background", **fields),
                engine.capabilities, engine.id)


def test_frames_come_at_native_size_after_the_sampler_steps(tiny_engine):
    p = _plan(tiny_engine, steps=2, size="64x64", seconds=2, fps=8)
    calls = []
    frames = list(tiny_engine.generate(p, 1, lambda step, total: calls.append((step, total)), lambda: False))
    assert len(frames) == 16 and all(f.shape == (64, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]  # the sampler's 2 steps, then 2 x 8 frames painted


@pytest.mark.parametrize("fields, size", [
    ({"aspect": "16:9", "resolution": "720p"}, (1280, 720)),
    ({"aspect": "9:16", "resolution": "360p"}, (360, 640)),
    ({"size": "1024x1792"}, (1024, 1792)),
    ({"size": "300x200"}, (300, 200)),
])
def test_any_aspect_is_drawn_natively_at_the_size_asked(tiny_engine, fields, size):
    p = _plan(tiny_engine, steps=2, seconds=2, fps=8, **fields)
    assert (p.width, p.height) == (p.out_width, p.out_height) == size and not p.adjustments
    frame = next(iter(tiny_engine.generate(p, 1, lambda *a: None, lambda: False)))
    assert frame.shape == (size[1], size[0], 3)


def test_defaults_are_five_seconds_of_16_9_at_24_fps(tiny_engine):
    p = _plan(tiny_engine, steps=2)
    assert (p.width, p.height, p.fps, p.frames) == (854, 480, 24, 120)
    assert len(list(tiny_engine.generate(p, 1, lambda *a: None, lambda: False))) == 120


def test_same_seed_same_clip_other_seed_other_clip(tiny_engine):
    p = _plan(tiny_engine, steps=2, size="128x72", seconds=2, fps=8)
    run = lambda seed: np.stack(list(tiny_engine.generate(p, seed, lambda *a: None, lambda: False)))  # noqa: E731
    assert np.array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


def test_cancel_stops_before_the_next_frame(tiny_engine):
    p = _plan(tiny_engine, steps=10, size="128x72")
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


# ---------------------------------------------------------------------------------------------
# Extend and loop. The tiny model is untrained, so these tests give the engine a known scene (what
# a trained model samples for the prompt) and check what it does with it: the motion law itself is
# tested in test_world.py.

def _known_scene(monkeypatch, engine, *specs: world.ShapeSpec, aspect: float = 16 / 9):
    scene = world.Scene(specs, "blue")
    numbers = tracks.true_params([scene], [aspect], 2, seed=5)
    monkeypatch.setattr(engine, "_sample", lambda *args: numbers)


def _clip(engine, path, **fields):
    the_plan = plan(Request.build(prompt="a large red star moving right quickly on a blue background", seed=3,
                                  steps=2, **fields), engine.capabilities, engine.id)
    generate_clips(engine, the_plan, [path], lambda *a: None, sign=False)
    return np.stack([f.to_ndarray(format="rgb24") for f in av.open(str(path)).decode(video=0)]).astype(int)


def _step(frames) -> float:
    """The typical change between neighbouring frames."""
    return float(np.median([np.abs(a - b).mean() for a, b in zip(frames, frames[1:])]))


def test_extend_continues_the_clip_without_a_jump(tiny_engine, monkeypatch, tmp_path):
    _known_scene(monkeypatch, tiny_engine, world.ShapeSpec("star", "red", "large", "moving right", "quickly"),
                 world.ShapeSpec("square", "yellow", "small", "spinning"))
    first = _clip(tiny_engine, tmp_path / "first.mp4", size="320x180", seconds=2, fps=12)
    monkeypatch.setattr(tiny_engine, "_sample", lambda *args: pytest.fail("an extension samples no new scene"))
    both = _clip(tiny_engine, tmp_path / "both.mp4", seconds=2, extend=tmp_path / "first.mp4")  # its size and rate
    assert len(both) == 2 * len(first) == 48
    seam = np.abs(both[24] - both[23]).mean()
    assert seam < 2 * _step(both[:24]) and _step(both[:24]) > 0.3  # it moves, and on at the seam as before
    # The extension carries the scene too: it can be extended again.
    assert json.loads(read_metadata(tmp_path / "both.mp4")[SCENE_TAG]) == \
        json.loads(read_metadata(tmp_path / "first.mp4")[SCENE_TAG])


def test_a_clip_from_elsewhere_cannot_be_extended_and_says_why(tiny_engine, tmp_path):
    from ungated.media.encode import Mp4Writer

    with Mp4Writer(tmp_path / "other.mp4", 64, 64, 8) as writer:
        for _ in range(8):
            writer.write(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(InvalidRequest, match="continues only clips it made itself") as caught:
        _clip(tiny_engine, tmp_path / "out.mp4", size="64x64", seconds=2, fps=8, extend=tmp_path / "other.mp4")
    assert caught.value.field == "extend"
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("spec", [
    world.ShapeSpec("star", "red", "large", "moving right", "quickly"),
    world.ShapeSpec("circle", "red", "small", "moving up", "slowly"),
    world.ShapeSpec("circle", "red", "small", "bouncing"),
    world.ShapeSpec("square", "red", "large", "growing"),
])
def test_a_loop_flows_from_its_last_frame_into_its_first(tiny_engine, monkeypatch, tmp_path, spec):
    """(The untrained painter draws every shape as a circle, so a spin would not show here.)"""
    _known_scene(monkeypatch, tiny_engine, spec)
    frames = _clip(tiny_engine, tmp_path / "loop.mp4", size="320x180", seconds=3.5, fps=12, loop=True)
    assert _step(frames) > 0.2  # it does move
    assert np.abs(frames[-1] - frames[0]).mean() < 2 * _step(frames)
