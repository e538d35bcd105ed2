"""The shipped built-in model follows prompts: judged from the pixels of what it generates."""

import numpy as np
import pytest

from ungated.engines.builtin import evaluate
from ungated.engines.builtin.engine import BuiltinEngine
from ungated.engines.builtin.judge import judge
from ungated.engines.builtin.world import Scene, ShapeSpec

SEEDS = range(3)


@pytest.fixture(scope="module")
def engine() -> BuiltinEngine:
    engine = BuiltinEngine()
    engine.load()
    return engine


def _clip(engine, prompt: str, seed: int) -> np.ndarray:
    return np.stack(list(evaluate.generate(engine, prompt, seed)))


CASES = [
    Scene((ShapeSpec("circle", "red", "small", "moving right"),), "blue"),  # the README's first command
    Scene((ShapeSpec("square", "yellow", "large", "moving left"),), "purple"),
    Scene((ShapeSpec("triangle", "white", "large", "moving up"),), "black"),
    Scene((ShapeSpec("star", "green", "small", "moving down"),), "white"),
    Scene((ShapeSpec("circle", "orange", "large", "growing"),), "gray"),
    Scene((ShapeSpec("square", "blue", "small", "bouncing"),), "yellow"),
]


@pytest.mark.parametrize("scene", CASES, ids=lambda s: s.caption())
def test_shipped_model_draws_the_prompted_object_background_and_motion(engine, scene):
    wanted = scene.objects[0]
    followed = []
    for seed in SEEDS:
        seen = judge(_clip(engine, scene.caption(), seed))
        followed.append(
            seen.background == scene.background and len(seen.objects) == 1
            and all(seen.objects[0].matches(wanted)[a] for a in ("color", "size", "motion"))
        )
    assert sum(followed) >= 2, f"{scene.caption()!r}: followed in {sum(followed)}/{len(SEEDS)} seeds"


def test_shipped_model_draws_the_readme_prompts_shape(engine):
    scene = CASES[0]
    shapes = [judge(_clip(engine, scene.caption(), seed)).objects[0].shape for seed in SEEDS]
    assert shapes.count("circle") >= 2, shapes
