"""The shipped built-in model follows prompts: judged from the pixels of what it generates."""

import numpy as np
import pytest

from ungated.engines.builtin import evaluate
from ungated.engines.builtin.engine import BuiltinEngine
from ungated.engines.builtin.world import Scene, ShapeSpec

SEEDS = range(3)


@pytest.fixture(scope="module")
def engine() -> BuiltinEngine:
    engine = BuiltinEngine()
    engine.load()
    return engine


def _judged(engine, scene: Scene, seed: int) -> dict[str, float]:
    clip = np.stack(list(evaluate.generate(engine, scene.caption(), seed)))
    return evaluate.score([scene], [evaluate.judge(clip)])


CASES = [
    Scene((ShapeSpec("circle", "red", "small", "moving right"),), "blue"),  # the README's first command
    Scene((ShapeSpec("circle", "purple", "small", "moving right", "quickly"),), "gray"),  # held out
    Scene((ShapeSpec("square", "yellow", "large", "bouncing"),), "black"),  # held out
    Scene((ShapeSpec("star", "white", "large", "spinning"),), "purple"),
    Scene((ShapeSpec("triangle", "green", "small", "moving down", "slowly"),), "white"),
    Scene((ShapeSpec("circle", "red", "large", "standing still"), ShapeSpec("square", "blue", "small", "standing still")),
          "white", relation="left of"),
    Scene((ShapeSpec("star", "green", "small", "moving down", "slowly"),
           ShapeSpec("triangle", "yellow", "large", "moving down", "slowly")), "black", shared=True),
    Scene((ShapeSpec("circle", "orange", "small", "moving up"), ShapeSpec("star", "blue", "large", "growing")), "gray"),
]


@pytest.mark.parametrize("scene", CASES, ids=lambda s: s.caption())
def test_shipped_model_follows_every_word_of_the_prompt(engine, scene):
    kind = "single" if len(scene.objects) == 1 else "pair"
    results = [_judged(engine, scene, seed) for seed in SEEDS]
    followed = [r[f"{kind} exact"] == 1 for r in results]
    assert sum(followed) >= 2, f"{scene.caption()!r}: followed in {sum(followed)}/{len(SEEDS)} seeds: {results}"
