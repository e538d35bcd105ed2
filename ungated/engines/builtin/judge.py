"""An analytic judge of shapes-world clips: reads what a clip shows straight from its pixels.

No neural network is involved, so the judge cannot share a model's blind spots. Given a clip
(frames [T, H, W, 3] uint8, any size and aspect, any length) it finds the background color,
splits the rest into objects by palette color, and measures each object's shape, size and motion
from its masks. Every threshold is a share of the frame, as the world's words are (motion.py):
sizes of the shorter side, travel of the frame's extent along the move's axis; so a clip reads the
same at 64x64 as at 256x144 or 1920x1080. Thresholds sit halfway between what the world's
renderer draws for neighbouring classes; the tests check that the judge reads the renderer's own
clips correctly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import pairwise

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from . import world

# Inner pixels per frame, on average, before a color counts as an object: a share of the shorter
# side squared (4 pixels at 64x64). A blended rim is one pixel thin and has none.
MIN_OBJECT_CORE = 0.001
# Travel over the clip that counts as moving, as a share of the frame along the move's axis (8
# pixels at 64; the world's slowest move is 0.2). A bounce rises more than this.
TRAVEL = 0.125
# A step between two frames longer than this share of the frame along either axis is a jump (the
# world's fastest step, a bounce at 8 fps, is 0.16 of the height).
JUMP = 0.22
SPIN_IOU = 0.85  # below this, the centred outline has turned
ATTRIBUTES = ("color", "shape", "size", "motion", "speed")  # what a caption says of each object
SIZE_SPLIT = math.sqrt(world.SIZES["small"] * world.SIZES["large"])  # radius, of the shorter side
# Travel (share of the axis) halfway between neighbouring speeds: slowly | usual pace | quickly.
_SPEEDS_IN_ORDER = sorted(world.SPEEDS.values())
_SPEED_SPLITS = [(a + b) / 2 for a, b in pairwise(_SPEEDS_IN_ORDER)]
_ONE_FRAME = np.zeros((3, 3, 3), dtype=bool)  # 4-connected within a frame, never across frames
_ONE_FRAME[1] = ndimage.generate_binary_structure(2, 1)
_SQUARE = np.ones((1, 3, 3), dtype=bool)  # a pixel's 8 neighbours in its own frame


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
    count, height, width = frames.shape[:3]
    border = np.concatenate([frames[:, 0], frames[:, -1], frames[:, :, 0], frames[:, :, -1]], axis=1)
    background = _nearest(np.median(border.reshape(-1, 3), axis=0), world.BACKGROUNDS)
    candidates = {c: rgb for c, rgb in world.COLORS.items() if c != background}
    names = list(candidates)
    palette = np.array([world.BACKGROUNDS[background], *(candidates[n] for n in names)], dtype=np.int32)
    labels = _labels(frames, palette)
    pixels_per_label = np.bincount(labels.ravel(), minlength=len(palette))
    min_core = MIN_OBJECT_CORE * min(height, width) ** 2 * count
    objects = []
    for index, color in enumerate(names, start=1):
        if pixels_per_label[index] < min_core:  # the core is part of the mask: too few either way
            continue
        box = _box(labels == index)
        masks = labels[box] == index
        # A blend of two colors along an edge can sit nearest a third: such a rim is one pixel
        # thin, so only a color with pixels inside its own region counts as an object.
        core = ndimage.binary_erosion(masks, _SQUARE)
        if core.sum() >= min_core:
            masks = _without_rims(masks, core, (labels[box] != 0) & ~masks)
            offset = (int(box[2].start), int(box[1].start))
            coverage = partial(_coverage, frames[box], masks, palette[0], palette[index])  # needed for a turn only
            objects.append(_judge_object(color, masks, offset, (width, height), coverage))
    objects.sort(key=lambda o: -o[1])  # largest first
    return Judgement(background, tuple(o[0] for o in objects))


def _labels(frames: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """[T, H, W] each pixel's nearest palette entry (0 = background). Antialiased edges fall to
    whichever side they are nearer, which is where the renderer's half-coverage edge lies. A clip
    holds few distinct colors: each is looked up once, in a table indexed by its 24-bit value."""
    table = np.full(1 << 24, -1, dtype=np.int8)
    flat = frames.reshape(-1, 3)
    labels = np.empty(len(flat), dtype=np.int8)
    step = 1 << 18
    for start in range(0, len(flat), step):
        part = flat[start:start + step]
        code = (part[:, 0].astype(np.int32) << 16) | (part[:, 1].astype(np.int32) << 8) | part[:, 2]
        found = table[code]
        missing = found < 0
        if missing.any():
            new = np.unique(code[missing])
            rgb = np.stack([new >> 16, (new >> 8) & 255, new & 255], 1)
            # Whole numbers, so ties are exact and go to the first entry.
            table[new] = ((rgb[:, None, :] - palette[None]) ** 2).sum(-1).argmin(1)
            found[missing] = table[code[missing]]
        labels[start:start + step] = found
    return labels.reshape(frames.shape[:3])


def _box(mask: np.ndarray) -> tuple[slice, slice, slice]:
    """All frames, and the rows and columns where mask [T, H, W] has pixels in any frame, one
    pixel wider on each side (within the frame): all that an object's measures look at."""
    rows, cols = np.nonzero(mask.any(axis=(0, 2)))[0], np.nonzero(mask.any(axis=(0, 1)))[0]
    return (slice(None), slice(max(rows[0] - 1, 0), rows[-1] + 2), slice(max(cols[0] - 1, 0), cols[-1] + 2))


def _without_rims(masks: np.ndarray, core: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Masks [T, H, W] less the pieces that are another object's blended edge: pieces with no
    inner pixel of their own that touch a pixel of another color."""
    near_others = ndimage.binary_dilation(others, _SQUARE)
    parts, count = ndimage.label(masks, _ONE_FRAME)
    if count == 0:
        return masks
    has_core = np.bincount(parts[core], minlength=count + 1) > 0
    touches = np.bincount(parts[near_others], minlength=count + 1) > 0
    rim = ~has_core & touches
    rim[0] = False
    return masks & ~rim[parts]


def _coverage(pixels: np.ndarray, masks: np.ndarray, background: np.ndarray, color: np.ndarray) -> np.ndarray:
    """[T, H, W] how much of each pixel the object covers, read from where its color sits
    between the background's and the object's: antialiased edges place the outline to a
    fraction of a pixel. Only pixels at or next to the object's mask count."""
    near = ndimage.binary_dilation(masks, _SQUARE)
    span = (color - background).astype(np.float32)
    alpha = ((pixels.astype(np.float32) - background) @ span) / float(span @ span)
    return np.clip(alpha, 0, 1) * near


@dataclass(frozen=True)
class _Track:
    """An object's measures in each frame it shows in (frame: their indices), from its largest piece."""

    frame: np.ndarray
    area: np.ndarray
    x: np.ndarray  # centre, pixels
    y: np.ndarray
    outer_radius: np.ndarray  # to the farthest pixel corner
    solidity: np.ndarray  # area / convex hull area
    largest_part: np.ndarray  # share of the mask in its largest connected piece


def _track(masks: np.ndarray) -> _Track:
    """Measures of masks [T, H, W], all frames at once."""
    parts, count = ndimage.label(masks, _ONE_FRAME)
    t, ys, xs = np.nonzero(parts)
    piece = parts[t, ys, xs]
    sizes = np.bincount(piece, minlength=count + 1)
    frame_of = np.zeros(count + 1, dtype=np.int64)
    frame_of[piece] = t
    # The largest piece of each frame: the last of its frame once sorted by (frame, size).
    order = np.lexsort((sizes[1:], frame_of[1:])) + 1
    last = np.r_[frame_of[order][1:] != frame_of[order][:-1], True]
    main = order[last]
    frames = frame_of[main]
    totals = np.bincount(frame_of[piece], minlength=len(masks))[frames]
    keep = sizes[main] >= 3
    main, frames, totals = main[keep], frames[keep], totals[keep]
    is_main = np.zeros(count + 1, dtype=bool)
    is_main[main] = True
    area = sizes[main].astype(np.float64)
    cx = np.bincount(piece, weights=xs, minlength=count + 1)[main] / area
    cy = np.bincount(piece, weights=ys, minlength=count + 1)[main] / area
    # Shape measures from the outline only: the hull's corners and the farthest corner are
    # always corners of edge pixels.
    edge = masks & ~ndimage.binary_erosion(masks, _SQUARE)
    edge &= is_main[parts]
    et, ey, ex = np.nonzero(edge)
    row = np.searchsorted(frames, et)
    reach = np.hypot(np.abs(ex - cx[row]) + 0.5, np.abs(ey - cy[row]) + 0.5)
    starts = np.searchsorted(et, frames)
    outer = np.maximum.reduceat(reach, starts) if len(reach) else reach
    solidity = np.empty(len(frames))
    for i, (a, b) in enumerate(zip(starts, np.r_[starts[1:], len(et)])):
        corners = np.concatenate([np.stack([ex[a:b] + dx, ey[a:b] + dy], 1) for dx in (0, 1) for dy in (0, 1)])
        try:
            hull_area = ConvexHull(corners).volume
        except QhullError:
            hull_area = area[i]
        solidity[i] = area[i] / hull_area
    return _Track(frames, area, cx, cy, outer, solidity, area / totals)


def _judge_object(color: str, masks: np.ndarray, offset: tuple[int, int], frame_size: tuple[int, int],
                  coverage: Callable[[], np.ndarray]) -> tuple[JudgedObject, float]:
    width, height = frame_size
    short = min(width, height)
    track = _track(masks)
    if len(track.frame) < 2:
        return JudgedObject(color, "unknown", "unknown", "unknown", "unknown", False), 0.0
    shape = _shape(track)
    size = "large" if float(np.median(track.outer_radius)) / world.OUTER_RADIUS[shape] / short > SIZE_SPLIT else "small"
    motion, travel = _motion(track, len(masks), (width, height), coverage)
    speed = ""
    if motion in world.MOVES and travel < _SPEED_SPLITS[0]:
        speed = "slowly"
    elif motion in world.MOVES and travel > _SPEED_SPLITS[1]:
        speed = "quickly"
    jumps = np.maximum(np.abs(np.diff(track.x)) / width, np.abs(np.diff(track.y)) / height)
    stable = len(track.frame) == len(masks) and bool((track.largest_part >= 0.9).all()) and float(jumps.max()) < JUMP
    centre = (float(track.x.mean()) + offset[0], float(track.y.mean()) + offset[1])
    return JudgedObject(color, shape, size, motion, speed, stable, centre), float(track.area.mean())


def _shape(track: _Track) -> str:
    if float(np.median(track.solidity)) < 0.72:  # star 0.57; the convex shapes 0.86 and up
        return "star"
    # How much of the circle through the outermost point the shape fills; measured on the
    # renderer's pixels at 64x64: circle 0.89, square 0.64, triangle 0.42 (larger frames come
    # nearer the true 1, 0.64 and 0.41).
    fill = float(np.median(track.area / (math.pi * track.outer_radius**2)))
    if fill > 0.76:
        return "circle"
    return "square" if fill > 0.53 else "triangle"


def _motion(track: _Track, frames: int, frame_size: tuple[int, int],
            coverage: Callable[[], np.ndarray]) -> tuple[str, float]:
    """The motion an object's frames show, and for a move how far it went over the clip (a share
    of the frame along its axis)."""
    fifth = max(1, len(track.area) // 5)
    growth = track.area[-fifth:].mean() / track.area[:fifth].mean()
    if growth > 2.5:
        return "growing", 0.0
    if growth < 0.4:
        return "shrinking", 0.0
    width, height = frame_size
    xs, ys = track.x / width, track.y / height  # shares of the frame
    # Travel over the clip along the straight line that fits the centres best: exact for a
    # steady move (the clip's frames span all but one frame's time of it).
    dx, dy = (np.polyfit(track.frame, v, 1)[0] * frames for v in (xs, ys))
    # A bounce goes down and back up, a hop a second: far more vertical path than net travel.
    if np.abs(np.diff(ys)).sum() > 2 * abs(dy) + 2 * TRAVEL and np.ptp(ys) > TRAVEL:
        return "bouncing", 0.0
    if max(abs(dx), abs(dy)) > TRAVEL:
        if abs(dx) >= abs(dy):
            return ("moving right" if dx > 0 else "moving left"), abs(dx)
        return ("moving down" if dy > 0 else "moving up"), abs(dy)
    if np.ptp(xs) < TRAVEL and _turned(coverage()):
        return "spinning", 0.0
    return "standing still", 0.0


def relation(first: JudgedObject, second: JudgedObject) -> str:
    """Where the first object sits relative to the second, as world.RELATIONS names it: the
    larger offset in pixels (the same distance across and along a frame) decides."""
    dx, dy = second.centre[0] - first.centre[0], second.centre[1] - first.centre[1]
    if abs(dx) >= abs(dy):
        return "left of" if dx > 0 else "right of"
    return "above" if dy > 0 else "below"


_GRID = np.stack(np.meshgrid(*[np.linspace(-1.6, 1.6, 33)] * 2, indexing="ij"))  # [2 (y, x), 33, 33] in radii


def _turned(coverage: np.ndarray) -> bool:
    """Whether the outline turns: each frame's coverage [T, H, W] is resampled around its own
    centre at a scale set by its own area (both to a fraction of a pixel), so drift and small
    changes of size do not count, and compared with the first frame's."""
    coverage = coverage[coverage.sum(axis=(1, 2)) > 0]
    if len(coverage) < 2:
        return False
    total = coverage.sum(axis=(1, 2))
    cy = np.einsum("thw,h->t", coverage, np.arange(coverage.shape[1], dtype=np.float32)) / total
    cx = np.einsum("thw,w->t", coverage, np.arange(coverage.shape[2], dtype=np.float32)) / total
    radius = np.sqrt(total / math.pi)
    where = _GRID[:, None] * radius[:, None, None] + np.stack([cy, cx])[:, :, None, None]  # [2, T, 33, 33]
    t = np.broadcast_to(np.arange(len(coverage), dtype=np.float64)[:, None, None], where.shape[1:])
    # Whole frame indices: order-1 interpolation stays inside each frame.
    normalised = ndimage.map_coordinates(coverage, [t, where[0], where[1]], order=1)
    first, rest = normalised[:1], normalised[1:]
    overlaps = np.minimum(first, rest).sum(axis=(1, 2)) / np.maximum(first, rest).sum(axis=(1, 2))
    return float(overlaps.min()) < SPIN_IOU
