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
TRAVEL = 0.45  # how far a moving object goes over one clip, as a fraction of the frame
BOUNCE_HEIGHT = 0.4
GROW_RANGE = (0.5, 1.3)  # scale at the start and end of "growing"; reversed for "shrinking"


@dataclass(frozen=True)
class ShapeSpec:
    shape: str
    color: str
    size: str
    motion: str

    def phrase(self) -> str:
        return f"a {self.size} {self.color} {self.shape} {self.motion}"


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


@dataclass(frozen=True)
class Scene:
    objects: tuple[ShapeSpec, ...]
    background: str

    def caption(self) -> str:
        bg = self.background
        return " and ".join(o.phrase() for o in self.objects) + f" on {_article(bg)} {bg} background"


def vocabulary() -> list[str]:
    """Every word a caption of this world can contain."""
    words: set[str] = {"a", "an", "and", "on", "background"}
    for group in (COLORS, BACKGROUNDS, SHAPES, SIZES, MOTIONS):
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


def sample_object(rng: random.Random, background: str, held_out: bool = False) -> ShapeSpec:
    """An object for a training scene, or with held_out one that training never draws."""
    while True:
        spec = ShapeSpec(
            shape=rng.choice(SHAPES),
            color=rng.choice([c for c in COLORS if c != background]),
            size=rng.choice(list(SIZES)),
            motion=rng.choice(MOTIONS),
        )
        if _is_visible(spec) and is_held_out(spec) == held_out:
            return spec


def sample_scene(rng: random.Random, two_object_prob: float = 0.25) -> Scene:
    """A training scene."""
    background = rng.choice(list(BACKGROUNDS))
    first = sample_object(rng, background)
    if rng.random() >= two_object_prob:
        return Scene((first,), background)
    while True:
        second = sample_object(rng, background)
        if second.color != first.color or second.shape != first.shape:
            return Scene((first, second), background)


# ---------------------------------------------------------------------------------------------
# Trajectories: per object, per frame centre (x, y), scale and angle, in frame units (0..1).


def _trajectory(spec: ShapeSpec, frames: int, rng: random.Random) -> list[tuple[float, float, float, float]]:
    radius = SIZES[spec.size]
    max_scale = GROW_RANGE[1] if spec.motion in ("growing", "shrinking") else 1.0
    margin = radius * max_scale * 1.15 + 0.02
    lo, hi = margin, 1.0 - margin
    x0, y0 = rng.uniform(lo, hi), rng.uniform(lo, hi)
    start = rng.uniform(lo, hi - TRAVEL)  # where a moving object starts along its path
    bounce_phase = rng.uniform(0, math.pi)
    out = []
    for i in range(frames):
        t = i / max(frames - 1, 1)
        x, y, scale, angle = x0, y0, 1.0, 0.0
        if spec.motion == "moving right":
            x = start + TRAVEL * t
        elif spec.motion == "moving left":
            x = 1.0 - start - TRAVEL * t
        elif spec.motion == "moving down":
            y = start + TRAVEL * t
        elif spec.motion == "moving up":
            y = 1.0 - start - TRAVEL * t
        elif spec.motion == "bouncing":
            y = hi - BOUNCE_HEIGHT * abs(math.sin(2 * math.pi * t + bounce_phase))
        elif spec.motion == "spinning":
            # Always from upright: a layout shows a disc, so how far a shape has turned must
            # follow from the frame's time alone.
            angle = math.pi * t
        elif spec.motion == "growing":
            scale = GROW_RANGE[0] + (GROW_RANGE[1] - GROW_RANGE[0]) * t
        elif spec.motion == "shrinking":
            scale = GROW_RANGE[1] - (GROW_RANGE[1] - GROW_RANGE[0]) * t
        out.append((x, y, scale * radius, angle))
    return out


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


def paths(scenes: list[Scene], frames: int, rng: random.Random) -> list[list[list[tuple[float, float, float, float]]]]:
    """Per scene, per object, per frame: centre x, centre y, radius and angle (frame units)."""
    out: list[list] = [[] for _ in scenes]
    # Object slot outermost: render() and tracks.encode() must draw positions in the same order.
    for k in range(max(len(s.objects) for s in scenes)):
        for b, scene in enumerate(scenes):
            if len(scene.objects) > k:
                out[b].append(_trajectory(scene.objects[k], frames, rng))
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
