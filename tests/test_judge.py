"""The analytic judge reads the renderer's own clips correctly, and scoring can fail."""

import random

import pytest

from ungated.engines.builtin import evaluate, world
from ungated.engines.builtin.judge import judge


def _frames(scenes: list[world.Scene], seed: int):
    clips = world.render(scenes, 16, 64, seed=seed)
    return ((clips + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 1, 3, 4, 2).numpy()


@pytest.fixture(scope="module")
def rendered() -> tuple[list[world.Scene], list]:
    rng = random.Random(11)
    singles = [world.Scene((world.sample_object(rng, bg),), bg) for bg in rng.choices(list(world.BACKGROUNDS), k=120)]
    scenes = singles + evaluate.held_out_scenes(60, seed=5)
    return scenes, [judge(f) for f in _frames(scenes, seed=3)]


def test_the_judge_reads_every_attribute_of_rendered_clips(rendered):
    scenes, judgements = rendered
    rates = evaluate.score(scenes, judgements)
    assert rates["single exact"] == 1.0 and rates["pair exact"] == 1.0
    assert {"single speed", "pair speed", "pair relation"} <= rates.keys()


def test_shuffled_captions_score_near_chance(rendered):
    scenes, judgements = rendered
    rates = evaluate.score(evaluate.shuffled(scenes), judgements)
    assert rates["single exact"] < 0.05
    assert rates["background"] < 0.3 and rates["single motion"] < 0.3 and rates["single shape"] < 0.5
    assert rates["pair exact"] == 0 and rates["pair relation"] < 0.6


def test_held_out_scenes_are_fixed_and_never_drawn_in_training():
    scenes = evaluate.held_out_scenes(16, seed=0)
    assert scenes == evaluate.held_out_scenes(16, seed=0)
    assert all(world.is_held_out(s.objects[0]) for s in scenes)
    assert sum(len(s.objects) == 2 for s in scenes) == 5
