"""Measure how well a built-in model follows prompts it was never trained on.

Prompts come from attribute pairs the training world holds out (world.HELD_OUT_*). Each clip is
generated at the native size and read back by the analytic judge; every attribute the caption
names is scored against what the judge sees. Two baselines show the judge can fail: the same
clips scored against shuffled captions, and an untrained model of the same shape.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ...request import Request, plan
from . import world
from .engine import BuiltinEngine
from .judge import JudgedObject, Judgement, judge, relation


def held_out_scenes(count: int, seed: int = 0) -> list[world.Scene]:
    """A fixed set of scenes whose first object is a held-out combination; every third has a
    second object of another color (the judge tells objects apart by color), worded in turn
    with its own motion, sharing one, or placed relative to the first."""
    rng = random.Random(seed)
    scenes = []
    for i in range(count):
        background = rng.choice(list(world.BACKGROUNDS))
        if i % 3 == 2:
            scenes.append(world.sample_pair(rng, background, held_out=True))
        else:
            scenes.append(world.Scene((world.sample_object(rng, background, held_out=True),), background))
    return scenes


@dataclass
class Scores:
    """Hit counts per attribute over the objects (or scenes, for background) scored."""

    hits: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, hit: bool) -> None:
        self.hits[name] = self.hits.get(name, 0) + int(hit)
        self.totals[name] = self.totals.get(name, 0) + 1

    def rates(self) -> dict[str, float]:
        return {name: self.hits[name] / self.totals[name] for name in self.totals}


def _match(truth: world.ShapeSpec, seen: list[JudgedObject]) -> JudgedObject | None:
    """The judged object that stands for a caption's object: same color, else the largest left."""
    for obj in seen:
        if obj.color == truth.color:
            return obj
    return seen[0] if seen else None


def score(scenes: list[world.Scene], judgements: list[Judgement]) -> dict[str, float]:
    """Per-attribute accuracy, exact match per object count, and temporal stability."""
    scores = Scores()
    for scene, seen in zip(scenes, judgements):
        left = list(seen.objects)
        exact = seen.background == scene.background and len(seen.objects) == len(scene.objects)
        scores.add("background", seen.background == scene.background)
        kind = "single" if len(scene.objects) == 1 else "pair"
        matched: list[JudgedObject | None] = []
        for truth in scene.objects:
            obj = _match(truth, left)
            if obj is not None:
                left.remove(obj)
            matched.append(obj)
            hits = obj.matches(truth) if obj else dict.fromkeys(JudgedObject.named(truth), False)
            for name, hit in hits.items():
                scores.add(f"{kind} {name}", hit)
            scores.add("stability", obj is not None and obj.stable)
            exact = exact and all(hits.values())
        if scene.relation:
            placed = None not in matched and relation(*matched) == scene.relation
            scores.add("pair relation", placed)
            exact = exact and placed
        scores.add(f"{kind} exact", exact)
    return scores.rates()


def shuffled(scenes: list[world.Scene], seed: int = 0) -> list[world.Scene]:
    """The scenes in another order, none left in place: captions that do not fit the clips."""
    order = list(range(len(scenes)))
    rng = random.Random(seed)
    while len(scenes) > 1 and any(i == j for i, j in enumerate(order)):
        rng.shuffle(order)
    return [scenes[j] for j in order]


def generate(engine: BuiltinEngine, prompt: str, seed: int) -> Iterator[np.ndarray]:
    """The frames of one clip at the native size (what the judge reads), with the engine's
    default settings otherwise."""
    native = "{}x{}".format(*engine.capabilities.sizes[0])
    p = plan(Request.build(prompt=prompt, seed=seed, size=native), engine.capabilities, engine.id)
    return engine.generate(p, seed, lambda *a: None, lambda: False)


def generate_and_judge(
    engine: BuiltinEngine, scenes: list[world.Scene], seed: int = 0,
    on_clip: Callable[[int, int], None] = lambda done, total: None,
) -> list[Judgement]:
    """Generate each scene's caption (scene i with seed + i) and judge the clip."""
    judgements = []
    for i, scene in enumerate(scenes):
        judgements.append(judge(np.stack(list(generate(engine, scene.caption(), seed + i)))))
        on_clip(i + 1, len(scenes))
    return judgements
