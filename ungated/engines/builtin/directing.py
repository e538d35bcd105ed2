"""What a built-in clip shows at any moment, as segments, and how extend, re-cut, follows, edit
and blend build the next clip's segments from them.

A clip's MP4 carries its segments in the SCENE_TAG tag. A segment is either
- a Move: a scene (motion.PARAMS numbers, shape, color, presence, background) drawn by the
  motion law from clip time `start`, the law's clock reading `offset` there; its moves are
  measured over `seconds` (motion.py's first clock); or
- a Blend: a transition of `seconds` from one state of the objects to another (a blend's
  middle: each object glides from where clip A left it to where clip B starts it).
A segment lasts until the next one starts. Each keeps a digest of the prompt it was made for:
a continuation with the same prompt lets the law go on, one with another prompt starts a new
Move from the objects' state at the cut, so nothing jumps at a seam.

A state (what `state()` returns) is the objects at one moment, in the scene's layout: shape,
color, presence, size word ("radius") and background, and x, y (the centre drawn), "ground"
(where a bounce comes down to), "scale" (the size multiple), "angle", "bounce" (1 when
bouncing) and "hop" (where in its hop a bounce is, as motion.simulate counts it).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path

import av
import numpy as np
import torch

from ...media.encode import read_metadata
from . import motion, world
from .net import ShapePainter, Tokenizer

SCENE_TAG = "ungated_scene"
SCENE_KEYS = (*motion.PARAMS, "shape", "color", "present")
# Objects' fields that say what they are, not where: what a continuation keeps and an edit swaps.
LOOKS = ("shape", "color", "radius")
SEAM = 1e-4  # seconds: a frame at a segment's start (to float rounding) belongs to that segment

State = dict[str, torch.Tensor]
Scene = dict[str, torch.Tensor]


def prompt_digest(prompt: str) -> str:
    """What a segment keeps of its prompt: enough to know the same words again, never the words
    (a clip's tags are public; its prompt only where the artist publishes it)."""
    return hashlib.sha256(" ".join(Tokenizer.words(prompt)).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Move:
    scene: Scene  # [1, K] per key, background [1, 3]; "reach" where a continuation set one
    seconds: float  # what its moves are measured over: the length of the clip it was sampled for
    start: float = 0.0
    offset: float = 0.0
    prompt: str = ""  # prompt_digest of the prompt it was sampled from; "" unknown
    loop: bool = False

    def paths(self, times: torch.Tensor, aspect: float) -> dict[str, torch.Tensor]:
        law_times = times - self.start + self.offset
        return motion.simulate(self.scene, self.scene["shape"], law_times, self.seconds, aspect, self.loop)

    def paint(self, painter: ShapePainter, times: torch.Tensor, width: int, height: int) -> np.ndarray:
        wraps = motion.wrapped(self.scene) if self.loop else None
        return painter.draw(self.scene, self.paths(times, width / height), width, height, wraps=wraps)

    def state(self, time: float, aspect: float) -> State:
        at = torch.tensor([time], dtype=torch.float32)
        drawn = self.paths(at, aspect)
        resting = {**self.scene, "bounce": torch.zeros_like(self.scene["bounce"])}
        grounded = replace(self, scene=resting).paths(at, aspect)
        hop = math.pi * (time - self.start + self.offset) / motion.HOP_SECONDS + self.scene["phase"]
        return {**_looks(self.scene), "x": drawn["x"][..., 0], "y": drawn["y"][..., 0], "ground": grounded["y"][..., 0],
                "scale": drawn["radius"][..., 0] / self.scene["radius"], "angle": drawn["angle"][..., 0],
                "bounce": (self.scene["bounce"] > 0.5).float(), "hop": hop}

    def moved(self, start: float, offset: float) -> Move:
        return replace(self, start=start, offset=offset)

    def shifted(self, by: float) -> Move:
        return replace(self, start=self.start + by)

    def restyled(self, restyle) -> Move:
        # The turning points stay where they were: a new size must not move the object's path.
        return replace(self, scene=restyle({**self.scene, "reach": motion.edge_reach(self.scene)}))

    def to_json(self) -> dict:
        return {"scene": _numbers(self.scene), "seconds": self.seconds, "start": self.start, "offset": self.offset,
                "prompt": self.prompt, "loop": self.loop}


@dataclass(frozen=True)
class Blend:
    before: State  # at the blend's first frame: where clip A's law takes the objects next
    after: State  # at the frame after its last: clip B's first frame
    seconds: float
    start: float = 0.0
    prompt: str = ""

    def weight(self, time: float) -> float:
        return min(max((time - self.start) / self.seconds, 0.0), 1.0)

    def paint(self, painter: ShapePainter, times: torch.Tensor, width: int, height: int) -> np.ndarray:
        return np.stack([self._frame(painter, self.weight(float(t)), width, height) for t in times])

    def _frame(self, painter: ShapePainter, weight: float, width: int, height: int) -> np.ndarray:
        mixed = _mix(self.before, self.after, weight)
        shapes = _pick(self.before, self.after, "shape")
        first = paint_state(painter, {**mixed, "shape": shapes}, width, height)
        changing = self.before["present"] & self.after["present"] & (self.before["shape"] != self.after["shape"])
        if not changing.any():
            return first
        # A shape that changes is both shapes at once, one fading into the other.
        second = paint_state(painter, {**mixed, "shape": torch.where(changing, self.after["shape"], shapes)},
                             width, height)
        return np.round((1 - weight) * first.astype(np.float32) + weight * second).astype(np.uint8)

    def state(self, time: float, aspect: float) -> State:
        weight = self.weight(time)
        near, far = (self.before, self.after) if weight < 0.5 else (self.after, self.before)
        mixed = _mix(self.before, self.after, weight)
        size = mixed.pop("size")
        looks = {key: _pick(near, far, key) for key in LOOKS}
        zeros = torch.zeros_like(mixed["x"])
        return {**mixed, **looks, "scale": size / looks["radius"], "ground": mixed["y"], "bounce": zeros, "hop": zeros}

    def shifted(self, by: float) -> Blend:
        return replace(self, start=self.start + by)

    def restyled(self, restyle) -> Blend:
        return replace(self, before=restyle(self.before), after=restyle(self.after))

    def to_json(self) -> dict:
        return {"before": _numbers(self.before), "after": _numbers(self.after), "seconds": self.seconds,
                "start": self.start, "prompt": self.prompt}


Segment = Move | Blend


def _looks(scene: Scene) -> State:
    return {key: scene[key] for key in (*LOOKS, "present", "background")}


def _pick(first: State, second: State, key: str) -> torch.Tensor:
    """first's value of key where its object is present, else second's."""
    here = first["present"] if first[key].dim() == 2 else first["present"][..., None]
    return torch.where(here, first[key], second[key])


def _mix(before: State, after: State, weight: float) -> State:
    """The objects a share `weight` of the way from before to after: painted as they are (x, y,
    size: the radius drawn, angle, color, background). An object on one side only stays where it
    is and grows from nothing or shrinks to nothing."""
    both = before["present"] & after["present"]
    only_before, only_after = before["present"] & ~after["present"], after["present"] & ~before["present"]
    size_before, size_after = before["radius"] * before["scale"], after["radius"] * after["scale"]
    lerp = lambda key: torch.lerp(before[key], after[key], weight)
    mixed = {key: torch.where(both, lerp(key), _pick(before, after, key)) for key in ("x", "y", "angle")}
    mixed["size"] = torch.where(both, torch.lerp(size_before, size_after, weight),
                                torch.where(only_before, size_before * (1 - weight), size_after * weight))
    mixed["color"] = torch.where(both[..., None], lerp("color"), _pick(before, after, "color"))
    mixed["present"] = both | only_before & (weight < 1) | only_after & (weight > 0)
    mixed["background"] = lerp("background")
    return mixed


def paint_state(painter: ShapePainter, state: State, width: int, height: int) -> np.ndarray:
    """One frame [H, W, 3] uint8 of objects where state has them (x, y, size or radius * scale, angle)."""
    size = state["size"] if "size" in state else state["radius"] * state["scale"]
    paths = {"x": state["x"][..., None], "y": state["y"][..., None], "radius": size[..., None],
             "angle": state["angle"][..., None]}
    return painter.draw(state, paths, width, height)[0]


def named_looks(words: list[str]) -> frozenset[str]:
    """What of the objects' looks a prompt's words name: "shape", "color" (of an object: a color
    word not followed by "background"), "radius" (a size word), and "background"."""
    named = set()
    if any(word in world.SHAPES for word in words):
        named.add("shape")
    if any(word in world.COLORS and after != "background" for word, after in zip(words, [*words[1:], ""])):
        named.add("color")
    if any(word in world.SIZES for word in words):
        named.add("radius")
    if "background" in words:
        named.add("background")
    return frozenset(named)


def _restyled(scene: Scene, sample: Scene, named: frozenset[str]) -> Scene:
    """scene with the looks `named` taken from sample, slot by slot where both have an object."""
    out = dict(scene)
    both = scene["present"] & sample["present"]
    for key in LOOKS:
        if key in named:
            out[key] = torch.where(both if scene[key].dim() == 2 else both[..., None], sample[key], scene[key])
    if "background" in named:
        out["background"] = sample["background"]
    return out


def continued(state: State, sample: Scene, aspect: float, named: frozenset[str] = frozenset()) -> Scene:
    """A scene whose objects start as `state` leaves them (where they are, their size and turn)
    and move as `sample` says, slot by slot: each takes the sample's motion (none where the sample
    has no such object) and keeps its shape, color, size word and background unless the prompt
    names others (`named`, as named_looks reads it: then the sample's); an object only the sample
    has joins as sampled. A bounce that goes on keeps its rhythm; one that starts drops the object
    from where it is to the floor (a hop up from there would leave the frame), to hop back no
    higher; one that stops leaves it where it is."""
    kept = state["present"]
    scene = {key: sample[key] for key in SCENE_KEYS} | {"background": state["background"]}
    for key in ("x", "scale", "angle", *LOOKS):
        scene[key] = _pick(state, sample, key)
    scene = _restyled(scene, sample, named)
    for key in ("vx", "vy", "spin", "growth", "bounce"):
        scene[key] = torch.where(kept & ~sample["present"], torch.zeros_like(sample[key]), sample[key])
    width, height = motion.extents(aspect)
    bounces = kept & (scene["bounce"] > 0.5)
    hops_on, drops = bounces & (state["bounce"] > 0.5), bounces & (state["bounce"] <= 0.5)
    floor = torch.maximum(state["y"], 1 - motion.edge_reach(scene) / height)
    ground = torch.minimum(state["y"] + motion.BOUNCE_HEIGHT, floor)
    falling = math.pi - torch.asin(((ground - state["y"]) / motion.BOUNCE_HEIGHT).clamp(0, 1))  # |sin| = the lift
    scene["y"] = torch.where(hops_on, state["ground"], torch.where(drops, ground, _pick(state, sample, "y")))
    scene["phase"] = torch.where(hops_on, state["hop"], torch.where(drops, falling, torch.where(
        kept, torch.zeros_like(sample["phase"]), sample["phase"])))
    scene["present"] = kept | sample["present"]
    # The law turns a move back short of the edge: never further in than the object already is.
    room = torch.minimum(torch.minimum(scene["x"], 1 - scene["x"]) * width,
                         torch.minimum(scene["y"], 1 - scene["y"]) * height).clamp(min=1e-3)
    scene["reach"] = torch.minimum(motion.edge_reach(scene), room)
    return scene


def restyler(sample: Scene, named: frozenset[str]):
    """An edit: each object (slot by slot, in caption order) takes the sample's shape and color,
    and its size word and the background where the prompt names them (`named`)."""
    return lambda scene: _restyled(scene, sample, named | {"shape", "color"})


# ---------------------------------------------------------------------------------------------
# A clip's segments.

@dataclass(frozen=True)
class Script:
    """All of a clip's segments, in order of start, and the aspect its moves are drawn at."""

    segments: tuple[Segment, ...]
    aspect: float
    sampled: bool = False  # whether making it ran the sampler (progress counts its steps)

    def index(self, time: float) -> int:
        starts = [s.start for s in self.segments]
        return max(0, int(np.searchsorted(np.array(starts), time + SEAM, side="right")) - 1)

    def state(self, time: float) -> State:
        return self.segments[self.index(time)].state(time, self.aspect)

    def until(self, time: float) -> Script:
        """The segments that show anything before `time`: a cut there drops the rest (one that
        starts right at the cut too; the one before it leads there just the same)."""
        shown = sum(s.start < time - SEAM for s in self.segments)
        return replace(self, segments=self.segments[:max(shown, 1)], sampled=False)

    def paint(self, painter: ShapePainter, times: torch.Tensor, width: int, height: int) -> np.ndarray:
        which = np.array([self.index(float(t)) for t in times])
        return np.concatenate([self.segments[i].paint(painter, times[torch.from_numpy(which == i)], width, height)
                               for i in dict.fromkeys(which.tolist())])

    def tag(self) -> str:
        return json.dumps({"aspect": self.aspect, "segments": [s.to_json() for s in self.segments]})


def joined(clips: list[tuple[Path, float]]) -> Script | None:
    """One script for clips (path, seconds) played one after another: each clip's segments moved to
    where it starts; None unless every clip carries one, all at one aspect."""
    scripts = [read_script(path) for path, _ in clips]
    if not scripts or None in scripts or len({round(script.aspect, 3) for script in scripts}) != 1:
        return None
    segments, start = [], 0.0
    for script, (_, seconds) in zip(scripts, clips):
        segments += [segment.shifted(start) for segment in script.segments]
        start += seconds
    return Script(tuple(segments), scripts[0].aspect)


def read_script(clip: Path) -> Script | None:
    """The segments a built-in clip carries, or None for a clip that carries none, or none that
    makes sense (a clip's tags are whatever its sender wrote), or no clip. A clip made before
    segments carries one scene: one Move, its prompt known only where it was published."""
    try:
        tags = read_metadata(clip)
        saved = json.loads(tags[SCENE_TAG])
        if "segments" not in saved:
            digest = prompt_digest(tags["prompt"]) if "prompt" in tags else ""
            move = Move(_tensors(saved, SCENE_NEEDS), _positive(saved["seconds"]), prompt=digest,
                        loop=bool(saved.get("loop")))
            return Script((move,), _positive(saved["aspect"]))
        segments = tuple(_segment(s) for s in saved["segments"][:MAX_SEGMENTS])
        if not segments or segments[0].start != 0 or any(b.start < a.start for a, b in pairwise(segments)):
            return None
        return Script(segments, _positive(saved["aspect"]))
    except (KeyError, IndexError, ValueError, TypeError, AttributeError, RuntimeError, OSError, av.error.FFmpegError):
        return None


MAX_SEGMENTS = 1000  # far more than 60 s of clip can hold
SCENE_NEEDS = (*SCENE_KEYS, "background")
STATE_NEEDS = ("x", "y", "angle", "scale", *LOOKS, "present", "background")  # what a Blend paints from


def _segment(saved: dict) -> Segment:
    common = {"seconds": _positive(saved["seconds"]), "start": _finite(saved["start"]), "prompt": str(saved["prompt"])}
    if "scene" in saved:
        return Move(_tensors(saved["scene"], SCENE_NEEDS), offset=_finite(saved["offset"]), loop=bool(saved["loop"]),
                    **common)
    return Blend(_tensors(saved["before"], STATE_NEEDS), _tensors(saved["after"], STATE_NEEDS), **common)


def _finite(value) -> float:
    if not math.isfinite(number := float(value)):
        raise ValueError(value)
    return number


def _positive(value) -> float:
    if (number := _finite(value)) <= 0:
        raise ValueError(value)
    return number


def _numbers(values: dict[str, torch.Tensor]) -> dict[str, list]:
    return {key: value[0].tolist() for key, value in values.items()}


def _tensors(saved: dict[str, list], needs: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """A scene or state as saved, checked: every number it needs, finite, each object's in its slot,
    shapes the world has, sizes above nothing."""
    keys = (*needs, "reach") if "reach" in saved else needs
    out = {key: torch.tensor([saved[key]], dtype=torch.float32) for key in keys}
    objects = out["present"].shape[-1]
    for key, value in out.items():
        if value.shape != ((1, 3) if key == "background" else (1, objects, 3) if key == "color" else (1, objects)):
            raise ValueError(key)
    if not all(torch.isfinite(value).all() for value in out.values()):
        raise ValueError("not a number")
    shape, present = out["shape"].long(), out["present"].bool()
    unknown_shape = ((shape < 0) | (shape >= len(world.SHAPES))).any()
    if unknown_shape or ((out["radius"] <= 0) | (out["scale"] <= 0))[present].any():
        raise ValueError("no such object")
    return out | {"shape": shape, "present": present}
