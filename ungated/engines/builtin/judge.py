"""An analytic judge of shapes-world clips: reads what a clip shows straight from its pixels.

No neural network is involved, so the judge cannot share a model's blind spots. Given a clip
(frames [T, H, W, 3] uint8 at the native size) it finds the background color, splits the rest
into objects by palette color, and measures each object's shape, size and motion from its masks.
Thresholds sit halfway between what the world's renderer draws for neighbouring classes; the
tests check that the judge reads the renderer's own clips correctly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from . import world

MIN_OBJECT_CORE = 4  # inner pixels per frame, on average, before a color counts as an object
TRAVEL_PX = 8  # travel over the clip that counts as moving (the world's slowest move is ~13 px)
SPIN_IOU = 0.85  # below this, the centred outline has turned
ATTRIBUTES = ("color", "shape", "size", "motion", "speed")  # what a caption says of each object
SIZE_SPLIT = math.sqrt(world.SIZES["small"] * world.SIZES["large"])  # radius, frame units
# Travel (frame units) halfway between neighbouring speeds: slowly | usual pace | quickly.
_SPEEDS_IN_ORDER = sorted(world.SPEEDS.values())
_SPEED_SPLITS = [(a + b) / 2 for a, b in zip(_SPEEDS_IN_ORDER, _SPEEDS_IN_ORDER[1:])]


@dataclass(frozen=True)
class JudgedObject:
    color: str
    shape: str
    size: str
    motion: str
    speed: str  # for a move, as world.SPEEDS names it ("" is the usual pace); "" otherwise
    stable: bool  # present as one piece in every frame, with no jumps
    centre: tuple[float, float] = (0.0, 0.0)  # mean x, y over the clip, in pixels

    @staticmethod
    def named(spec: world.ShapeSpec) -> tuple[str, ...]:
        """The attributes a caption names for an object: speed only for a move."""
        return ATTRIBUTES if spec.motion in world.MOVES else ATTRIBUTES[:-1]

    def matches(self, spec: world.ShapeSpec) -> dict[str, bool]:
        return {a: getattr(self, a) == getattr(spec, a) for a in self.named(spec)}


@dataclass(frozen=True)
class Judgement:
    background: str
    objects: tuple[JudgedObject, ...]


def _nearest(rgb: np.ndarray, palette: dict[str, tuple[int, int, int]]) -> str:
    names = list(palette)
    distances = np.linalg.norm(np.array([palette[n] for n in names], dtype=np.float32) - rgb, axis=1)
    return names[int(distances.argmin())]


def judge(frames: np.ndarray) -> Judgement:
    """Read background and objects from a clip [T, H, W, 3] uint8."""
    pixels = frames.astype(np.float32)
    border = np.concatenate([pixels[:, 0], pixels[:, -1], pixels[:, :, 0], pixels[:, :, -1]], axis=1)
    background = _nearest(np.median(border.reshape(-1, 3), axis=0), world.BACKGROUNDS)
    candidates = {c: rgb for c, rgb in world.COLORS.items() if c != background}
    names = list(candidates)
    palette = np.array([world.BACKGROUNDS[background], *(candidates[n] for n in names)], dtype=np.float32)
    # Label every pixel with its nearest palette entry (0 = background). Antialiased edges fall
    # to whichever side they are nearer, which is where the renderer's half-coverage edge lies.
    labels = np.linalg.norm(pixels[..., None, :] - palette, axis=-1).argmin(-1)
    objects = []
    for index, color in enumerate(names, start=1):
        masks = labels == index
        # A blend of two colors along an edge can sit nearest a third: such a rim is one pixel
        # thin, so only a color with pixels inside its own region counts as an object.
        core = ndimage.binary_erosion(masks, np.ones((1, 3, 3), dtype=bool))
        if core.sum() / len(frames) >= MIN_OBJECT_CORE:
            masks = _without_rims(masks, core, (labels != 0) & ~masks)
            coverage = _coverage(pixels, masks, palette[0], palette[index])
            objects.append(_judge_object(color, masks, coverage))
    objects.sort(key=lambda o: -o[1])  # largest first
    return Judgement(background, tuple(o[0] for o in objects))


def _without_rims(masks: np.ndarray, core: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Masks [T, H, W] less the pieces that are another object's blended edge: pieces with no
    inner pixel of their own that touch a pixel of another color."""
    near_others = ndimage.binary_dilation(others, np.ones((1, 3, 3), dtype=bool))
    out = masks.copy()
    for f, mask in enumerate(masks):
        parts, count = ndimage.label(mask)
        if count == 0:
            continue
        has_core = np.bincount(parts[core[f]], minlength=count + 1) > 0
        touches = np.bincount(parts[near_others[f]], minlength=count + 1) > 0
        rim = ~has_core & touches
        rim[0] = False
        out[f] = mask & ~rim[parts]
    return out


def _coverage(pixels: np.ndarray, masks: np.ndarray, background: np.ndarray, color: np.ndarray) -> np.ndarray:
    """[T, H, W] how much of each pixel the object covers, read from where its color sits
    between the background's and the object's: antialiased edges place the outline to a
    fraction of a pixel. Only pixels at or next to the object's mask count."""
    near = ndimage.binary_dilation(masks, np.ones((1, 3, 3), dtype=bool))
    span = color - background
    alpha = ((pixels - background) @ span) / float(span @ span)
    return np.clip(alpha, 0, 1) * near


def _judge_object(color: str, masks: np.ndarray, coverage: np.ndarray) -> tuple[JudgedObject, float]:
    size_px = masks.shape[1]
    tracks = [_measure(m) for m in masks]
    present = [t for t in tracks if t is not None]
    if len(present) < 2:
        return JudgedObject(color, "unknown", "unknown", "unknown", "unknown", False), 0.0
    shape = _shape(present)
    radii = [t.outer_radius / world.OUTER_RADIUS[shape] / size_px for t in present]
    size = "large" if float(np.median(radii)) > SIZE_SPLIT else "small"
    motion, travel = _motion(present, coverage)
    speed = ""
    if motion in world.MOVES and travel < _SPEED_SPLITS[0] * size_px:
        speed = "slowly"
    elif motion in world.MOVES and travel > _SPEED_SPLITS[1] * size_px:
        speed = "quickly"
    jumps = [math.dist(a.centre, b.centre) for a, b in zip(present, present[1:])]
    stable = len(present) == len(tracks) and all(t.largest_part >= 0.9 for t in present) and max(jumps) < 0.22 * size_px
    area = float(np.mean([t.area for t in present]))
    centre = (float(np.mean([t.centre[0] for t in present])), float(np.mean([t.centre[1] for t in present])))
    return JudgedObject(color, shape, size, motion, speed, stable, centre), area


@dataclass(frozen=True)
class _FrameMeasure:
    area: int
    centre: tuple[float, float]  # x, y in pixels
    outer_radius: float
    solidity: float  # area / convex hull area
    largest_part: float  # share of the mask in its largest connected piece


def _measure(mask: np.ndarray) -> _FrameMeasure | None:
    parts, count = ndimage.label(mask)
    if count == 0:
        return None
    sizes = np.bincount(parts.ravel())[1:]
    main = parts == (sizes.argmax() + 1)  # shape measures come from the main piece only
    ys, xs = np.nonzero(main)
    area = len(xs)
    if area < 3:
        return None
    cx, cy = xs.mean(), ys.mean()
    # Pixel corners, so that hull and radius cover whole pixels rather than their centres.
    corners = np.concatenate([np.stack([xs + dx, ys + dy], 1) for dx in (0, 1) for dy in (0, 1)]) - 0.5
    outer = float(np.sqrt(((corners - [cx, cy]) ** 2).sum(1)).max())
    try:
        hull_area = ConvexHull(corners).volume
    except QhullError:
        hull_area = float(area)
    return _FrameMeasure(area, (float(cx), float(cy)), outer, area / hull_area, sizes.max() / sizes.sum())


def _shape(tracks: list[_FrameMeasure]) -> str:
    solidity = float(np.median([t.solidity for t in tracks]))
    if solidity < 0.72:  # star 0.57; the convex shapes 0.86 and up
        return "star"
    # How much of the circle through the outermost point the shape fills; measured on the
    # renderer's pixels: circle 0.89, square 0.64, triangle 0.42.
    fill = float(np.median([t.area / (math.pi * t.outer_radius**2) for t in tracks]))
    if fill > 0.76:
        return "circle"
    return "square" if fill > 0.53 else "triangle"


def _motion(tracks: list[_FrameMeasure], coverage: np.ndarray) -> tuple[str, float]:
    """The motion an object's frames show, and for a move how far it went (pixels)."""
    head, tail = tracks[: max(1, len(tracks) // 5)], tracks[-max(1, len(tracks) // 5):]
    growth = np.mean([t.area for t in tail]) / np.mean([t.area for t in head])
    if growth > 2.5:
        return "growing", 0.0
    if growth < 0.4:
        return "shrinking", 0.0
    xs = np.array([t.centre[0] for t in tracks])
    ys = np.array([t.centre[1] for t in tracks])
    # Travel along the straight line that fits the centres best: exact for a steady move.
    frame = np.arange(len(tracks))
    dx, dy = (np.polyfit(frame, v, 1)[0] * (len(tracks) - 1) for v in (xs, ys))
    # A bounce goes down and back up: far more vertical path than net vertical travel.
    if np.abs(np.diff(ys)).sum() > 2 * abs(dy) + 2 * TRAVEL_PX and np.ptp(ys) > TRAVEL_PX:
        return "bouncing", 0.0
    if max(abs(dx), abs(dy)) > TRAVEL_PX:
        if abs(dx) >= abs(dy):
            return ("moving right" if dx > 0 else "moving left"), abs(dx)
        return ("moving down" if dy > 0 else "moving up"), abs(dy)
    if np.ptp(xs) < TRAVEL_PX and _turned(coverage):
        return "spinning", 0.0
    return "standing still", 0.0


def relation(first: JudgedObject, second: JudgedObject) -> str:
    """Where the first object sits relative to the second, as world.RELATIONS names it."""
    dx, dy = second.centre[0] - first.centre[0], second.centre[1] - first.centre[1]
    if abs(dx) >= abs(dy):
        return "left of" if dx > 0 else "right of"
    return "above" if dy > 0 else "below"


def _turned(coverage: np.ndarray) -> bool:
    """Whether the outline turns: each frame's coverage is resampled around its own centre at a
    scale set by its own area (both to a fraction of a pixel), so drift and small changes of
    size do not count, and compared with the first frame's."""
    offsets = np.linspace(-1.6, 1.6, 33)
    grid = np.stack(np.meshgrid(offsets, offsets, indexing="ij"))  # [2 (y, x), 33, 33] in radii

    def normalised(frame: np.ndarray) -> np.ndarray:
        total = frame.sum()
        ys, xs = np.indices(frame.shape)
        centre = np.array([(ys * frame).sum(), (xs * frame).sum()]) / total
        radius = math.sqrt(total / math.pi)
        return ndimage.map_coordinates(frame, grid * radius + centre[:, None, None], order=1)

    frames = [f for f in coverage if f.sum() > 0]
    first = normalised(frames[0])
    overlaps = []
    for frame in frames[1:]:
        other = normalised(frame)
        overlaps.append(np.minimum(first, other).sum() / np.maximum(first, other).sum())
    return min(overlaps, default=1.0) < SPIN_IOU
