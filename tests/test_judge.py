"""The analytic judge reads the renderer's own clips correctly at every size, aspect and length,
and scoring can fail."""

import random
import time

import numpy as np
import pytest

from ungated.engines.builtin import evaluate, motion, world
from ungated.engines.builtin.judge import judge

# (width, height, seconds, fps): the evaluation's sets, a larger frame, and the ends of the
# engine's range of lengths and rates (small frames, to keep them cheap).
SETTINGS = {
    "1:1 64x64 2 s 8 fps": (64, 64, 2, 8),
    "16:9 256x144 10 s 24 fps": (256, 144, 10, 24),
    "9:16 144x256 10 s 24 fps": (144, 256, 10, 24),
    "16:9 480x270 2 s 8 fps": (480, 270, 2, 8),
    "9:16 72x128 20 s 8 fps": (72, 128, 20, 8),
    "16:9 128x72 2 s 30 fps": (128, 72, 2, 30),
}
PIXELS_PER_RENDER = 1 << 22  # pixels of all frames world.render draws at once: it holds ~80 bytes each


def _every_motion(rng: random.Random) -> list[world.Scene]:
    """One single object per motion and speed word, of random look."""
    scenes = []
    for how in world.MOTIONS:
        for speed in world.SPEEDS if how in world.MOVES else [""]:
            background = rng.choice(list(world.BACKGROUNDS))
            scenes.append(world.Scene((world.sample_object(rng, background, motion=how, speed=speed),), background))
    return scenes


def _every_wording(rng: random.Random, aspect: float, each: int) -> list[world.Scene]:
    """`each` pairs of every wording (own motions, one shared, a relation), laid out for aspect."""
    pairs: dict[str, list[world.Scene]] = {"own": [], "shared": [], "relation": []}
    while any(len(found) < each for found in pairs.values()):
        scene = world.sample_pair(rng, rng.choice(list(world.BACKGROUNDS)), held_out=rng.random() < 0.5, aspect=aspect)
        wording = "relation" if scene.relation else "shared" if scene.shared else "own"
        if len(pairs[wording]) < each:
            pairs[wording].append(scene)
    return [scene for found in pairs.values() for scene in found]


def _scenes(width: int, height: int) -> list[world.Scene]:
    rng = random.Random(11)
    aspect = width / height
    scenes = _every_motion(rng) + _every_wording(rng, aspect, each=2)
    if (width, height) == (64, 64):  # cheap to draw: many more, of every kind
        backgrounds = rng.choices(list(world.BACKGROUNDS), k=120)
        scenes += [world.Scene((world.sample_object(rng, bg),), bg) for bg in backgrounds]
        scenes += evaluate.held_out_scenes(60, seed=5, aspect=aspect)
    return scenes


@pytest.fixture(scope="module", params=list(SETTINGS), ids=list(SETTINGS))
def rendered(request) -> tuple[list[world.Scene], list, float]:
    """Scenes, the judge's reading of their rendered clips, and the longest a reading took (s)."""
    width, height, seconds, fps = SETTINGS[request.param]
    frames = seconds * fps
    scenes = _scenes(width, height)
    batch = max(1, PIXELS_PER_RENDER // (frames * width * height))
    judgements, slowest = [], 0.0
    for start in range(0, len(scenes), batch):
        clips = world.render(scenes[start:start + batch], frames, width, height, seed=start, fps=fps)
        for clip in ((clips + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 1, 3, 4, 2).numpy():
            began = time.perf_counter()
            judgements.append(judge(clip))
            slowest = max(slowest, time.perf_counter() - began)
    return scenes, judgements, slowest


def test_the_judge_reads_every_attribute_of_rendered_clips(rendered):
    scenes, judgements, _ = rendered
    rates = evaluate.score(scenes, judgements)
    misread = [(s.caption(), j) for s, j in zip(scenes, judgements)
               if min(evaluate.score([s], [j]).get(f"{kind} exact", 1) for kind in ("single", "pair")) < 1]
    assert rates["single exact"] == 1.0 and rates["pair exact"] == 1.0, misread
    # Only a small star shrunk to a few pixels may fall into pieces (at 64x64, 1 in 300).
    assert rates["stability"] >= 0.99
    assert {"single speed", "pair speed", "pair relation"} <= rates.keys()


def test_the_judge_keeps_up_with_long_clips(rendered):
    *_, slowest = rendered
    assert slowest < 5.0  # about half a second for 240 frames at 256x144 on one core


def test_shuffled_captions_score_near_chance(rendered):
    scenes, judgements, _ = rendered
    rates = evaluate.score(evaluate.shuffled(scenes), judgements)
    assert rates["single exact"] < 0.1
    assert rates["background"] < 0.3 and rates["single motion"] < 0.3 and rates["single shape"] < 0.5
    assert rates["pair exact"] == 0 and rates["pair relation"] < 0.7


@pytest.mark.parametrize("aspect", [1.0, 16 / 9, 9 / 16], ids=["1:1", "16:9", "9:16"])
def test_held_out_scenes_are_fixed_never_drawn_in_training_and_fit_the_frame(aspect):
    scenes = evaluate.held_out_scenes(16, seed=0, aspect=aspect)
    assert scenes == evaluate.held_out_scenes(16, seed=0, aspect=aspect)
    assert all(world.is_held_out(s.objects[0]) for s in scenes)
    pairs = [s for s in scenes if len(s.objects) == 2]
    assert len(pairs) == 5
    # Pairs are laid out for the set's aspect: apart over a long clip.
    p = world.as_tensors(pairs, world.scene_params(pairs, [aspect] * len(pairs), random.Random(1)), 2)
    paths = motion.simulate(p, p["shape"], world.frame_times(240, 24), 10.0, aspect)
    width, height = motion.extents(aspect)
    outer = np.array([world.OUTER_RADIUS[s] for s in world.SHAPES])[p["shape"].numpy()]
    x, y, radius = (paths[name].numpy() for name in ("x", "y", "radius"))
    apart = np.hypot((x[:, 0] - x[:, 1]) * width, (y[:, 0] - y[:, 1]) * height)
    reach = outer[:, :1] * radius[:, 0] + outer[:, 1:] * radius[:, 1]
    assert (apart - reach).min() > 0


def test_the_sets_are_the_issues_clips():
    assert {name: (s.width, s.height, s.seconds, s.fps, s.frames) for name, s in evaluate.SETS.items()} == {
        "1:1": (64, 64, 2, 8, 16), "16:9": (256, 144, 10, 24, 240), "9:16": (144, 256, 10, 24, 240)}
