"""The shipped built-in model follows prompts: judged from the pixels of what it generates."""

import numpy as np
import pytest

from ungated.engines.builtin import world
from ungated.engines.builtin.engine import BuiltinEngine
from ungated.request import Request, plan


@pytest.fixture(scope="module")
def engine() -> BuiltinEngine:
    engine = BuiltinEngine()
    engine.load()
    return engine


def _clip(engine, prompt: str, seed: int) -> np.ndarray:
    p = plan(Request.build(prompt=prompt, seed=seed), engine.capabilities, engine.id)
    return np.stack(list(engine.generate(p, seed, lambda *a: None, lambda: False))).astype(np.float32)


def _nearest_color(rgb: np.ndarray, palette: dict[str, tuple[int, int, int]]) -> str:
    return min(palette, key=lambda name: np.abs(np.array(palette[name]) - rgb).sum())


def _object_track(clip: np.ndarray, color: str) -> list[tuple[float, float, int]]:
    """Per frame: centre (x, y) and area of the pixels near the object color."""
    near = np.abs(clip - np.array(world.COLORS[color])).sum(-1) < 90
    out = []
    for mask in near:
        ys, xs = np.nonzero(mask)
        out.append((xs.mean() if len(xs) else np.nan, ys.mean() if len(ys) else np.nan, len(xs)))
    return out


# The shipped v2 weights follow these in 1 of 3 seeds only (issue 2 stays open). Strict, so a
# case fails loudly the moment better weights make it pass and its mark must go.
_NOT_YET = pytest.mark.xfail(strict=True, reason="shipped built-in weights v2 follow this prompt in 1 of 3 seeds")

CASES = [
    ("a large red circle moving right on a blue background", "red", "blue", "right"),
    ("a large yellow square moving left on a purple background", "yellow", "purple", "left"),
    pytest.param("a large white triangle moving up on a black background", "white", "black", "up", marks=_NOT_YET),
    ("a large green star moving down on a white background", "green", "white", "down"),
    pytest.param("a large orange circle growing on a gray background", "orange", "gray", "grow", marks=_NOT_YET),
]


@pytest.mark.parametrize(("prompt", "color", "background", "motion"), CASES)
def test_shipped_model_draws_the_prompted_color_background_and_motion(engine, prompt, color, background, motion):
    hits = 0
    for seed in range(3):
        clip = _clip(engine, prompt, seed)
        corners = np.concatenate([clip[:, :4, :4], clip[:, -4:, -4:]], axis=1).reshape(-1, 3).mean(0)
        track = _object_track(clip, color)
        xs, ys, areas = (np.array(v, dtype=float) for v in zip(*track))
        if _nearest_color(corners, world.BACKGROUNDS) != background or np.isnan(xs).any() or areas.min() < 10:
            continue
        dx, dy, growth = xs[-1] - xs[0], ys[-1] - ys[0], areas[-1] / areas[0]
        moved = {"right": dx > 10, "left": dx < -10, "up": dy < -10, "down": dy > 10, "grow": growth > 1.5}
        hits += moved[motion]
    assert hits >= 2, f"{prompt!r}: prompt followed in {hits}/3 seeds"
