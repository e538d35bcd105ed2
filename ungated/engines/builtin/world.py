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

from . import motion

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


def sample_pair(rng: random.Random, background: str, held_out: bool = False, aspect: float | None = None) -> Scene:
    """A two-object scene of a random wording whose objects fit a frame of the given aspect (by
    default each of ASPECTS) without touching; with held_out the first object is a combination
    training never draws (the second never is)."""
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
        if all(sum(_place(scene, shape, trials, tries=1) is not None for _ in range(20)) >= 2
               for shape in ([aspect] if aspect else ASPECTS)):
            return scene


def sample_scene(rng: random.Random, two_object_prob: float = 0.5, aspect: float | None = None) -> Scene:
    """A training scene, laid out to fit a frame of the given aspect (by default each of ASPECTS)."""
    background = rng.choice(list(BACKGROUNDS))
    if rng.random() < two_object_prob:
        return sample_pair(rng, background, aspect=aspect)
    return Scene((sample_object(rng, background),), background)


# ---------------------------------------------------------------------------------------------
# Motion: each object's numbers (motion.PARAMS), drawn so that the clip shows its words exactly.

ObjectParams = dict[str, float]
ASPECTS = (16 / 9, 9 / 16, 1.0)  # the frames a training scene is laid out on, besides random ones
EDGE_GAP = 0.02  # the least space between a placed object's circle and the frame's edge (shorter side)


def sample_aspect(rng: random.Random) -> float:
    """Width / height of a training frame: half the time 16:9, 9:16 or square, else any between."""
    if rng.random() < 0.5:
        return rng.choice(ASPECTS)
    return math.exp(rng.uniform(math.log(9 / 16), math.log(16 / 9)))


def _object_params(spec: ShapeSpec, aspect: float, rng: random.Random) -> ObjectParams:
    grows = spec.motion in ("growing", "shrinking")
    low, high = motion.GROW_RANGE
    scale = {"growing": low, "shrinking": high}.get(spec.motion, 1.0)
    growth = {"growing": high - low, "shrinking": low - high}.get(spec.motion, 0.0)
    radius = SIZES[spec.size]
    reach = radius * (high if grows else 1.0) * motion.EDGE_REACH + EDGE_GAP
    width, height = motion.extents(aspect)
    (x_lo, x_hi), (y_lo, y_hi) = ((reach / side, 1 - reach / side) for side in (width, height))
    travel = SPEEDS[spec.speed]
    p = dict.fromkeys(motion.PARAMS, 0.0) | {"radius": radius, "scale": scale, "growth": growth,
                                             "x": rng.uniform(x_lo, x_hi), "y": rng.uniform(y_lo, y_hi)}
    if spec.motion == "moving right":
        p |= {"x": rng.uniform(x_lo, max(x_lo, x_hi - travel)), "vx": travel}
    elif spec.motion == "moving left":
        p |= {"x": rng.uniform(min(x_hi, x_lo + travel), x_hi), "vx": -travel}
    elif spec.motion == "moving down":
        p |= {"y": rng.uniform(y_lo, max(y_lo, y_hi - travel)), "vy": travel}
    elif spec.motion == "moving up":
        p |= {"y": rng.uniform(min(y_hi, y_lo + travel), y_hi), "vy": -travel}
    elif spec.motion == "bouncing":
        p |= {"y": y_hi, "bounce": 1.0, "phase": rng.uniform(0, math.pi)}
    elif spec.motion == "spinning":
        p |= {"spin": 1.0}  # always from upright
    return p


def _sweep(shape: str, p: ObjectParams, aspect: float, steps: int = 17) -> list[tuple[float, float, float, float]]:
    """Where an object can be over its clip, in units of the frame's shorter side: per moment the
    centre's x, the top and bottom of the range its centre's y covers (a bounce covers its whole
    height at any moment, whatever the clip's length) and its outer radius."""
    width, height = motion.extents(aspect)
    out = []
    for i in range(steps):
        t = i / (steps - 1)
        x, y = p["x"] + p["vx"] * t, p["y"] + p["vy"] * t
        scale = p["scale"] + p["growth"] * t
        top = y - motion.BOUNCE_HEIGHT * (p["bounce"] > 0.5)
        out.append((x * width, top * height, y * height, OUTER_RADIUS[shape] * p["radius"] * scale))
    return out


def apart(shapes: list[str], params: list[ObjectParams], aspect: float) -> bool:
    """Whether objects stay PAIR_GAP apart over their whole clip, whatever its length."""
    sweeps = [_sweep(shape, p, aspect) for shape, p in zip(shapes, params)]
    for i, one in enumerate(sweeps):
        for two in sweeps[i + 1:]:
            for (x1, top1, bottom1, r1), (x2, top2, bottom2, r2) in zip(one, two):
                dy = max(0.0, top2 - bottom1, top1 - bottom2)
                if math.hypot(x2 - x1, dy) < r1 + r2 + PAIR_GAP:
                    return False
    return True


def _fits(scene: Scene, first: ObjectParams, second: ObjectParams, aspect: float) -> bool:
    """Whether two objects stay apart over the whole clip, and where a relation is named, the
    first clearly on that side of the second."""
    if not apart([o.shape for o in scene.objects], [first, second], aspect):
        return False
    return not scene.relation or placed(scene.relation, first, second, aspect)


def placed(relation: str, first: ObjectParams, second: ObjectParams, aspect: float) -> bool:
    """Whether the first object stands clearly on the relation's side of the second: at least
    RELATION_OFFSET away along its axis, and further along it than across."""
    width, height = motion.extents(aspect)
    dx, dy = (second["x"] - first["x"]) * width, (second["y"] - first["y"]) * height  # both stand still
    offsets = {"left of": (dx, dy), "right of": (-dx, dy), "above": (dy, dx), "below": (-dy, dx)}
    along, across = offsets[relation]
    return along >= RELATION_OFFSET and abs(across) < along


def _place(scene: Scene, aspect: float, rng: random.Random, tries: int = 1000) -> list[ObjectParams] | None:
    """Numbers for a scene's objects that fit (see _fits), or None when none were found."""
    for _ in range(tries):
        placed = [_object_params(o, aspect, rng) for o in scene.objects]
        if len(placed) == 1 or _fits(scene, *placed, aspect):
            return placed
    return None


def scene_params(scenes: list[Scene], aspects: list[float], rng: random.Random) -> list[list[ObjectParams]]:
    """Per scene, per object: its motion.PARAMS, the scene laid out on a frame of its aspect.
    render() and tracks.encode() call this with the same seed, so they agree on every number."""
    out = []
    for scene, aspect in zip(scenes, aspects):
        placed = _place(scene, aspect, rng)
        # The scene samplers only make pairs that fit; a hand-made one that does not is drawn anyway.
        out.append(placed or [_object_params(o, aspect, rng) for o in scene.objects])
    return out


def as_tensors(scenes: list[Scene], params: list[list[ObjectParams]], max_objects: int) -> dict[str, torch.Tensor]:
    """Scenes and their numbers as the batch tensors motion.simulate and the painters take: each
    PARAMS entry, shape (index), color (RGB in [-1, 1]) and present [B, max_objects], background [B, 3]."""
    batch = len(scenes)
    out = {name: torch.zeros(batch, max_objects) for name in motion.PARAMS}
    out["radius"] += 0.1  # absent objects: any size will do
    out["scale"] += 1.0
    out |= {"color": torch.zeros(batch, max_objects, 3), "shape": torch.zeros(batch, max_objects, dtype=torch.long),
            "present": torch.zeros(batch, max_objects, dtype=torch.bool), "background": torch.zeros(batch, 3)}
    for b, (scene, scene_params_) in enumerate(zip(scenes, params)):
        for k, (spec, p) in enumerate(zip(scene.objects, scene_params_)):
            for name in motion.PARAMS:
                out[name][b, k] = p[name]
            out["color"][b, k] = color_values(COLORS[spec.color])
            out["shape"][b, k] = SHAPES.index(spec.shape)
            out["present"][b, k] = True
        out["background"][b] = color_values(BACKGROUNDS[scene.background])
    return out


def color_values(rgb: tuple[int, int, int]) -> torch.Tensor:
    """A palette color in [-1, 1], as clips and tracks hold it."""
    return torch.tensor(rgb, dtype=torch.float32) / 127.5 - 1


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


def frame_times(frames: int, fps: int) -> torch.Tensor:
    """The moments (seconds from the start) a clip's frames show."""
    return torch.arange(frames, dtype=torch.float32) / fps


def render(scenes: list[Scene], frames: int, width: int, height: int, seed: int, fps: int = 8) -> torch.Tensor:
    """Render scenes to clips [B, T, 3, height, width] in [-1, 1], each object's numbers drawn
    from seed; a clip of `frames` frames at fps."""
    aspect = width / height
    params = as_tensors(scenes, scene_params(scenes, [aspect] * len(scenes), random.Random(seed)),
                        max(len(s.objects) for s in scenes))
    paths = motion.simulate(params, params["shape"], frame_times(frames, fps), frames / fps, aspect)
    short = min(width, height)
    canvas = params["background"][:, None, :, None, None].expand(len(scenes), frames, 3, height, width)
    xs = (torch.arange(width, dtype=torch.float32) + 0.5) / short  # pixel centres, shorter-side units
    ys = (torch.arange(height, dtype=torch.float32) + 0.5) / short
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pixels = torch.stack([gx, gy], -1).reshape(1, -1, 2)  # [1, P, 2]
    scale_x, scale_y = width / short, height / short
    for k in range(params["present"].shape[1]):
        centre = torch.stack([paths["x"][:, k] * scale_x, paths["y"][:, k] * scale_y], -1)  # [B, T, 2]
        radius, angle = paths["radius"][:, k], paths["angle"][:, k]
        # Into each object's own frame: translate, rotate by -angle, divide by radius.
        rel = pixels - centre.reshape(-1, 1, 2)  # [B*T, P, 2]
        c, s = angle.cos().reshape(-1, 1), angle.sin().reshape(-1, 1)
        local = torch.stack([c * rel[..., 0] + s * rel[..., 1], -s * rel[..., 0] + c * rel[..., 1]], -1)
        local = local / radius.reshape(-1, 1, 1)
        ids = params["shape"][:, k].repeat_interleave(frames)
        dist = _shape_distance(local, ids) * radius.reshape(-1, 1) * short  # in pixels
        alpha = (0.5 - dist).clamp(0, 1).reshape(len(scenes), frames, 1, height, width)
        alpha = alpha * params["present"][:, k, None, None, None, None]
        canvas = canvas * (1 - alpha) + params["color"][:, k, None, :, None, None] * alpha
    return canvas
