"""The shapes world: the synthetic data the built-in model is trained on.

A scene is one or two flat-colored shapes moving over a plain background, captioned in plain
English ("a small red circle moving right on a blue background"). Scenes are rendered in
batches with torch from signed distance functions, so training data costs almost nothing to
make and never touches the disk.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 140, 20),
    "yellow": (240, 215, 40),
    "green": (40, 175, 70),
    "blue": (40, 90, 230),
    "purple": (145, 60, 200),
    "white": (245, 245, 245),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    **COLORS,
    "black": (15, 15, 20),
    "gray": (120, 120, 125),
}
SHAPES = ("circle", "square", "triangle", "star")
# Outer radius of each shape at unit size: the polygons reach past the unit circle.
OUTER_RADIUS = {"circle": 1.0, "square": 1.2, "triangle": 1.25, "star": 1.3}
SIZES: dict[str, float] = {"small": 0.11, "large": 0.2}  # radius as a fraction of the frame
MOTIONS = (
    "moving left",
    "moving right",
    "moving up",
    "moving down",
    "bouncing",
    "spinning",
    "growing",
    "shrinking",
    "standing still",
)
MOVES = MOTIONS[:4]  # the motions a speed word can qualify
SPEEDS: dict[str, float] = {"slowly": 0.2, "": 0.35, "quickly": 0.5}  # travel over one clip, frame units
RELATIONS = ("left of", "right of", "above", "below")  # the first object's place relative to the second
BOUNCE_HEIGHT = 0.4
GROW_RANGE = (0.5, 1.3)  # scale at the start and end of "growing"; reversed for "shrinking"
PAIR_GAP = 0.03  # the least space between two objects' outer circles, frame units
RELATION_OFFSET = 0.2  # the least centre distance along a relation's axis, frame units


@dataclass(frozen=True)
class ShapeSpec:
    shape: str
    color: str
    size: str
    motion: str
    speed: str = ""  # "slowly" or "quickly" for a move; "" for the usual pace

    def noun(self) -> str:
        return f"a {self.size} {self.color} {self.shape}"

    def how(self) -> str:
        return f"{self.motion} {self.speed}".strip()

    def phrase(self) -> str:
        return f"{self.noun()} {self.how()}"


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


@dataclass(frozen=True)
class Scene:
    """One or two objects on a background. A pair is worded one of three ways: each object
    with its own motion, both sharing one motion ("... and ... bouncing", shared=True), or one
    placed relative to the other ("... left of ...", relation set, both standing still)."""

    objects: tuple[ShapeSpec, ...]
    background: str
    relation: str = ""
    shared: bool = False

    def caption(self) -> str:
        bg = f" on {_article(self.background)} {self.background} background"
        if self.relation:
            first, second = self.objects
            return f"{first.noun()} {self.relation} {second.noun()}{bg}"
        if self.shared:
            return " and ".join(o.noun() for o in self.objects) + f" {self.objects[0].how()}{bg}"
        return " and ".join(o.phrase() for o in self.objects) + bg


def vocabulary() -> list[str]:
    """Every word a caption of this world can contain."""
    words: set[str] = {"a", "an", "and", "on", "background"}
    for group in (COLORS, BACKGROUNDS, SHAPES, SIZES, MOTIONS, SPEEDS, RELATIONS):
        for phrase in group:
            words.update(phrase.split())
    return sorted(words)


# Pairs the training world never draws, so that evaluation can ask for combinations the model
# has only seen the parts of. Each shape loses one color and one motion; every color and motion
# is still drawn on the other shapes.
HELD_OUT_COLORS = {("circle", "purple"), ("square", "orange"), ("triangle", "white"), ("star", "green")}
HELD_OUT_MOTIONS = {("circle", "moving up"), ("square", "bouncing"), ("triangle", "shrinking"), ("star", "moving left")}


def is_held_out(spec: ShapeSpec) -> bool:
    return (spec.shape, spec.color) in HELD_OUT_COLORS or (spec.shape, spec.motion) in HELD_OUT_MOTIONS


def _is_visible(spec: ShapeSpec) -> bool:
    # A spinning circle looks exactly like a still one: keep captions the pixels can back up.
    return not (spec.shape == "circle" and spec.motion == "spinning")


def sample_object(rng: random.Random, background: str, held_out: bool = False, motion: str | None = None,
                  speed: str | None = None) -> ShapeSpec:
    """An object for a training scene, or with held_out one that training never draws; motion
    and speed, when given, are kept."""
    while True:
        chosen = motion or rng.choice(MOTIONS)
        spec = ShapeSpec(
            shape=rng.choice(SHAPES),
            color=rng.choice([c for c in COLORS if c != background]),
            size=rng.choice(list(SIZES)),
            motion=chosen,
            speed=speed if speed is not None else (rng.choice(list(SPEEDS)) if chosen in MOVES else ""),
        )
        if _is_visible(spec) and is_held_out(spec) == held_out:
            return spec


def sample_pair(rng: random.Random, background: str, held_out: bool = False) -> Scene:
    """A two-object scene of a random wording whose objects fit the frame without touching; with
    held_out the first object is a combination training never draws (the second never is)."""
    while True:
        wording = rng.choice(("own", "own", "shared", "relation"))
        if wording == "relation":
            first = sample_object(rng, background, held_out, motion="standing still")
            second = sample_object(rng, background, motion="standing still")
        else:
            first = sample_object(rng, background, held_out)
            if wording == "shared":
                second = sample_object(rng, background, motion=first.motion, speed=first.speed)
            else:
                second = sample_object(rng, background)
        if second.color == first.color:
            continue  # two objects of one color would read as one
        relation = rng.choice(RELATIONS) if wording == "relation" else ""
        scene = Scene((first, second), background, relation, shared=wording == "shared")
        # Keep only pairs that fit often (2 or more of 20 random placements), so that the
        # placement render makes all but never fails.
        trials = random.Random(rng.random())
        if sum(_place(scene, 16, trials, tries=1) is not None for _ in range(20)) >= 2:
            return scene


def sample_scene(rng: random.Random, two_object_prob: float = 0.5) -> Scene:
    """A training scene."""
    background = rng.choice(list(BACKGROUNDS))
    if rng.random() < two_object_prob:
        return sample_pair(rng, background)
    return Scene((sample_object(rng, background),), background)


# ---------------------------------------------------------------------------------------------
# Trajectories: per object, per frame centre (x, y), radius and angle, in frame units (0..1).

ObjectPath = list[tuple[float, float, float, float]]


def _trajectory(spec: ShapeSpec, frames: int, rng: random.Random) -> ObjectPath:
    radius = SIZES[spec.size]
    max_scale = GROW_RANGE[1] if spec.motion in ("growing", "shrinking") else 1.0
    margin = radius * max_scale * 1.15 + 0.02
    lo, hi = margin, 1.0 - margin
    travel = SPEEDS[spec.speed]
    x0, y0 = rng.uniform(lo, hi), rng.uniform(lo, hi)
    start = rng.uniform(lo, max(lo, hi - travel))  # where a moving object starts along its path
    bounce_phase = rng.uniform(0, math.pi)
    out = []
    for i in range(frames):
        t = i / max(frames - 1, 1)
        x, y, scale, angle = x0, y0, 1.0, 0.0
        if spec.motion == "moving right":
            x = start + travel * t
        elif spec.motion == "moving left":
            x = 1.0 - start - travel * t
        elif spec.motion == "moving down":
            y = start + travel * t
        elif spec.motion == "moving up":
            y = 1.0 - start - travel * t
        elif spec.motion == "bouncing":
            y = hi - BOUNCE_HEIGHT * abs(math.sin(2 * math.pi * t + bounce_phase))
        elif spec.motion == "spinning":
            angle = math.pi * t  # always from upright
        elif spec.motion == "growing":
            scale = GROW_RANGE[0] + (GROW_RANGE[1] - GROW_RANGE[0]) * t
        elif spec.motion == "shrinking":
            scale = GROW_RANGE[1] - (GROW_RANGE[1] - GROW_RANGE[0]) * t
        out.append((x, y, scale * radius, angle))
    return out


def _fits(scene: Scene, first: ObjectPath, second: ObjectPath) -> bool:
    """Whether two paths keep the objects apart in every frame, and where a relation is named,
    the first object clearly on that side of the second."""
    a, b = (OUTER_RADIUS[o.shape] for o in scene.objects)
    for (x1, y1, r1, _), (x2, y2, r2, _) in zip(first, second):
        if math.hypot(x2 - x1, y2 - y1) < a * r1 + b * r2 + PAIR_GAP:
            return False
    if scene.relation:
        dx, dy = second[0][0] - first[0][0], second[0][1] - first[0][1]  # relation scenes stand still
        offsets = {"left of": (dx, dy), "right of": (-dx, dy), "above": (dy, dx), "below": (-dy, dx)}
        along, across = offsets[scene.relation]
        return along >= RELATION_OFFSET and abs(across) < along
    return True


def _place(scene: Scene, frames: int, rng: random.Random, tries: int = 1000) -> list[ObjectPath] | None:
    """Paths for a scene's objects that fit (see _fits), or None when none was found."""
    for _ in range(tries):
        placed = [_trajectory(o, frames, rng) for o in scene.objects]
        if len(placed) == 1 or _fits(scene, *placed):
            return placed
    return None


# ---------------------------------------------------------------------------------------------
# Rendering from signed distance functions.

def _regular(n: int, radius: float, phase: float = -math.pi / 2) -> list[tuple[float, float]]:
    return [(radius * math.cos(phase + k * 2 * math.pi / n), radius * math.sin(phase + k * 2 * math.pi / n)) for k in range(n)]


def _convex_pieces(shape: str) -> list[list[tuple[float, float]]]:
    """A shape at unit radius (y down) as a union of convex polygons."""
    if shape == "square":
        return [_regular(4, 1.2, math.pi / 4)]
    if shape == "triangle":
        return [_regular(3, 1.25)]
    if shape == "star":
        # Five overlapping kites, each from a tip to just past the centre: pieces that only
        # touched would leave a half-covered seam where they meet.
        tips, inner = _regular(5, 1.3), _regular(5, 0.55, -math.pi / 2 - math.pi / 5)
        return [[tip, inner[(k + 1) % 5], (-0.3 * tip[0] / 1.3, -0.3 * tip[1] / 1.3), inner[k]]
                for k, tip in enumerate(tips)]
    return []  # circle: it has its own distance


_PIECES, _PLANES = 5, 4


def _halfplanes(shape: str) -> torch.Tensor:
    """[pieces, planes, 3] rows (nx, ny, c): inside a piece means nx*x + ny*y - c <= 0 for all
    its planes. Padding planes never bind and padding pieces are never inside."""
    table = torch.zeros(_PIECES, _PLANES, 3)
    table[:, :, 2] = 1e3  # padding plane: distance -1e3, never the max
    table[:, 0, 2] = -1e3  # padding piece: distance +1e3, never the min
    for i, pts in enumerate(_convex_pieces(shape)):
        cx, cy = sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)
        for j, (a, b) in enumerate(zip(pts, pts[1:] + pts[:1])):
            nx, ny = b[1] - a[1], a[0] - b[0]
            norm = math.hypot(nx, ny)
            nx, ny = nx / norm, ny / norm
            if nx * (cx - a[0]) + ny * (cy - a[1]) > 0:  # point the normal away from the centre
                nx, ny = -nx, -ny
            table[i, j] = torch.tensor([nx, ny, nx * a[0] + ny * a[1]])
    return table


_SHAPE_PLANES = torch.stack([_halfplanes(s) for s in SHAPES])  # [shapes, pieces, planes, 3]


def _shape_distance(local: torch.Tensor, shape_ids: torch.Tensor) -> torch.Tensor:
    """Signed distance (unit radius, negative inside) of points local [N, P, 2] to shapes [N].
    Exact for the circle; for polygons the distance to the nearest edge line, which is exact
    within the one-pixel band that antialiasing looks at, except right at outer corners."""
    planes = _SHAPE_PLANES[shape_ids].reshape(len(shape_ids), _PIECES * _PLANES, 3)
    d = torch.baddbmm(-planes[:, None, :, 2], local, planes[:, :, :2].transpose(1, 2))
    poly = d.reshape(*d.shape[:2], _PIECES, _PLANES).amax(-1).amin(-1)
    circle = local.norm(dim=-1) - 1.0
    is_circle = (shape_ids == SHAPES.index("circle"))[:, None]
    return torch.where(is_circle, circle, poly)


def paths(scenes: list[Scene], frames: int, rng: random.Random) -> list[list[ObjectPath]]:
    """Per scene, per object, per frame: centre x, centre y, radius and angle (frame units).
    render() and tracks.encode() call this with the same seed, so they agree on every path."""
    out = []
    for scene in scenes:
        placed = _place(scene, frames, rng)
        # The scene samplers only make pairs that fit; a hand-made one that does not is drawn anyway.
        out.append(placed or [_trajectory(o, frames, rng) for o in scene.objects])
    return out


def render(scenes: list[Scene], frames: int, size: int, seed: int) -> torch.Tensor:
    """Render scenes to clips [B, T, 3, size, size] in [-1, 1]; positions drawn from seed."""
    scene_paths = paths(scenes, frames, random.Random(seed))
    batch = len(scenes)
    canvas = torch.empty(batch, frames, 3, size, size)
    for b, scene in enumerate(scenes):
        canvas[b] = torch.tensor(BACKGROUNDS[scene.background], dtype=torch.float32)[None, :, None, None]

    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    pixels = torch.stack([gx, gy], -1).reshape(1, -1, 2)  # [1, P, 2]

    for k in range(max(len(s.objects) for s in scenes)):
        rows = [b for b, s in enumerate(scenes) if len(s.objects) > k]
        params = torch.tensor([scene_paths[b][k] for b in rows])  # [R, T, 4]
        shape_ids = torch.tensor([SHAPES.index(scenes[b].objects[k].shape) for b in rows])
        centre, radius, angle = params[..., :2], params[..., 2], params[..., 3]
        cos, sin = torch.cos(angle), torch.sin(angle)
        # Into each object's own frame: translate, rotate by -angle, divide by radius.
        rel = pixels - centre.reshape(-1, 1, 2)  # [R*T, P, 2]
        c, s = cos.reshape(-1, 1), sin.reshape(-1, 1)
        local = torch.stack([c * rel[..., 0] + s * rel[..., 1], -s * rel[..., 0] + c * rel[..., 1]], -1)
        local = local / radius.reshape(-1, 1, 1)
        ids = shape_ids.repeat_interleave(frames)
        dist = _shape_distance(local, ids) * radius.reshape(-1, 1) * size  # in pixels
        alpha = (0.5 - dist).clamp(0, 1).reshape(len(rows), frames, 1, size, size)
        color = torch.tensor([COLORS[scenes[b].objects[k].color] for b in rows], dtype=torch.float32)
        color = color[:, None, :, None, None]
        canvas[rows] = canvas[rows] * (1 - alpha) + color * alpha
    return canvas / 127.5 - 1.0
