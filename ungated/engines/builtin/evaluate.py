"""Measure how well a built-in model follows prompts it was never trained on.

Prompts come from attribute pairs the training world holds out (world.HELD_OUT_*). A model is
measured per set of clips (SETS: the square 2 s clips it was first built for, and long 16:9 and
9:16 ones); each clip is generated through the engine's own request path at the set's size,
length and rate, and read back by the analytic judge; every attribute the caption names is scored
against what the judge sees. Two baselines show the judge can fail: the same clips scored against
shuffled captions, and an untrained model of the same shape.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ...errors import UngatedError
from ...request import Request, plan
from . import world
from .engine import BuiltinEngine
from .judge import ATTRIBUTES, JudgedObject, Judgement, judge, relation


@dataclass(frozen=True)
class ClipSet:
    """The clips a set of prompts is generated as: drawn natively at this size (the judge reads
    any size; a modest one keeps an evaluation fast)."""

    name: str
    width: int
    height: int
    seconds: float
    fps: int

    @property
    def aspect(self) -> float:
        return self.width / self.height

    @property
    def frames(self) -> int:
        return round(self.seconds * self.fps)

    def describe(self) -> str:
        return f"{self.width}x{self.height}, {self.seconds:g} s at {self.fps} fps"


SETS: dict[str, ClipSet] = {s.name: s for s in (
    ClipSet("1:1", 64, 64, 2, 8),
    ClipSet("16:9", 256, 144, 10, 24),
    ClipSet("9:16", 144, 256, 10, 24),
)}
SQUARE = SETS["1:1"]


def held_out_scenes(count: int, seed: int = 0, aspect: float = 1.0) -> list[world.Scene]:
    """A fixed set of scenes whose first object is a held-out combination; every third has a
    second object of another color (the judge tells objects apart by color), worded in turn
    with its own motion, sharing one, or placed relative to the first, and laid out to fit a
    frame of the given aspect."""
    rng = random.Random(seed)
    scenes = []
    for i in range(count):
        background = rng.choice(list(world.BACKGROUNDS))
        if i % 3 == 2:
            scenes.append(world.sample_pair(rng, background, held_out=True, aspect=aspect))
        else:
            scenes.append(world.Scene((world.sample_object(rng, background, held_out=True),), background))
    return scenes


# The order scores are reported in: what a caption says of one object, of each of two, then all.
METRICS = ("background", *(f"single {a}" for a in ATTRIBUTES), "single exact",
           *(f"pair {a}" for a in ATTRIBUTES), "pair relation", "pair exact", "stability")


@dataclass
class Scores:
    """Hit counts per attribute over the objects (or scenes, for background) scored."""

    hits: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, hit: bool) -> None:
        self.hits[name] = self.hits.get(name, 0) + int(hit)
        self.totals[name] = self.totals.get(name, 0) + 1

    def rates(self) -> dict[str, float]:
        return {name: self.hits[name] / self.totals[name] for name in sorted(self.totals, key=METRICS.index)}


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


def generate(engine: BuiltinEngine, prompt: str, seed: int, clips: ClipSet = SQUARE) -> Iterator[np.ndarray]:
    """The frames of one clip as the set draws it, through the engine's own request path, with
    the engine's default sampling settings."""
    request = Request.build(prompt=prompt, seed=seed, size=f"{clips.width}x{clips.height}", seconds=clips.seconds,
                            fps=clips.fps)
    p = plan(request, engine.capabilities, engine.id)
    if (p.width, p.height, p.frames, p.fps) != (clips.width, clips.height, clips.frames, clips.fps):
        # The judge reads what it is given; scores of other clips would be labelled wrongly.
        raise UngatedError(f"{engine.id} does not draw the {clips.name} set's clips ({clips.describe()}): "
                           f"{'; '.join(map(str, p.adjustments)) or 'the plan differs'}")
    return engine.generate(p, seed, lambda *a: None, lambda: False)


def generate_and_judge(
    engine: BuiltinEngine, scenes: list[world.Scene], seed: int = 0, clips: ClipSet = SQUARE,
    on_clip: Callable[[int, int], None] = lambda done, total: None,
) -> list[Judgement]:
    """Generate each scene's caption (scene i with seed + i) as the set's clips and judge them."""
    judgements = []
    for i, scene in enumerate(scenes):
        judgements.append(judge(np.stack(list(generate(engine, scene.caption(), seed + i, clips)))))
        on_clip(i + 1, len(scenes))
    return judgements


def evaluate_set(
    engine: BuiltinEngine, untrained: BuiltinEngine, clips: ClipSet, prompts: int, seed: int = 0,
    on_clip: Callable[[str, int, int], None] = lambda which, done, total: None,
) -> dict[str, dict[str, float]]:
    """Scores of the model, of shuffled captions for its clips and of the untrained model, on
    `prompts` held-out prompts laid out for the set's aspect. on_clip(which, done, total) reports
    progress, which being "model" or "untrained model"."""
    scenes = held_out_scenes(prompts, seed, clips.aspect)
    results = {}
    for name, candidate in (("model", engine), ("untrained model", untrained)):
        judged = generate_and_judge(candidate, scenes, seed, clips,
                                    lambda done, total, name=name: on_clip(name, done, total))
        results[name] = score(scenes, judged)
        if name == "model":
            results["shuffled captions"] = score(shuffled(scenes, seed), judged)
    return {name: results[name] for name in ("model", "shuffled captions", "untrained model")}


def summary(clips: ClipSet, prompts: int, results: dict[str, dict[str, float]]) -> str:
    """One line for a set: the model's headline scores, then the baselines' exact match."""

    def pct(table: dict[str, float], metric: str) -> str:
        return f"{table[metric]:.0%}" if metric in table else "-"

    model = results["model"]
    baselines = ", ".join(f"{name} {pct(results[name], 'single exact')} / {pct(results[name], 'pair exact')}"
                          for name in ("shuffled captions", "untrained model"))
    return (f"{clips.name} ({clips.describe()}, {prompts} prompts): exact one object {pct(model, 'single exact')}, "
            f"two objects {pct(model, 'pair exact')}; relation {pct(model, 'pair relation')}, stability "
            f"{pct(model, 'stability')}; baselines exact (one / two objects): {baselines}")
