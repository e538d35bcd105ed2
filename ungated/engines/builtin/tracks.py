"""Object tracks: the built-in model's compact description of a clip.

A clip's tracks are a tensor [B, max_objects + 1, track_dims]. Row k < max_objects is object k
(in caption order): its centre x, centre y, radius and angle in each frame, then its color, its
shape (one number per shape, +1 for the object's and -1 for the others) and a presence flag (+1
present, -1 no such object). The last row holds the background color in its first three numbers.
Every number is scaled to roughly [-1, 1], the range the flow-matching noise lives in. Numbers
that carry nothing (the background row past its color) are masked out by `value_mask`.
"""

from __future__ import annotations

import math
import random

import torch

from . import world

PER_FRAME = ("x", "y", "radius", "angle")  # the quantities a track holds for every frame
RADIUS_MID, RADIUS_SPAN = 0.15, 0.1  # radius (frame units) = RADIUS_MID + RADIUS_SPAN * value


def track_dims(frames: int) -> int:
    return 4 * frames + 3 + len(world.SHAPES) + 1  # x, y, radius, angle per frame; RGB; shape; presence


def fields(frames: int) -> dict[str, slice]:
    """Where each quantity sits in an object row (presence is the last number)."""
    colors = 4 * frames
    return {"x": slice(0, frames), "y": slice(frames, 2 * frames), "radius": slice(2 * frames, 3 * frames),
            "angle": slice(3 * frames, colors), "color": slice(colors, colors + 3),
            "shape": slice(colors + 3, colors + 3 + len(world.SHAPES))}


def value_mask(frames: int, max_objects: int) -> torch.Tensor:
    """[rows, track_dims] True where a tracks tensor holds a value."""
    mask = torch.zeros(max_objects + 1, track_dims(frames), dtype=torch.bool)
    mask[:max_objects] = True
    mask[max_objects, :3] = True
    return mask


def _color_values(rgb: tuple[int, int, int]) -> torch.Tensor:
    return torch.tensor(rgb, dtype=torch.float32) / 127.5 - 1


def encode(scenes: list[world.Scene], frames: int, max_objects: int, seed: int) -> torch.Tensor:
    """The true tracks of scenes, positions drawn from seed exactly as world.render draws them."""
    paths = world.paths(scenes, frames, random.Random(seed))
    tracks = torch.zeros(len(scenes), max_objects + 1, track_dims(frames))
    tracks[:, :max_objects, -1] = -1
    field = fields(frames)
    for b, (scene, scene_paths) in enumerate(zip(scenes, paths)):
        for k, (spec, path) in enumerate(zip(scene.objects, scene_paths)):
            p = torch.tensor(path)  # [frames, (x, y, radius, angle)]
            row = tracks[b, k]
            row[field["x"]] = 2 * p[:, 0] - 1
            row[field["y"]] = 2 * p[:, 1] - 1
            row[field["radius"]] = (p[:, 2] - RADIUS_MID) / RADIUS_SPAN
            row[field["angle"]] = p[:, 3] / math.pi
            row[field["color"]] = _color_values(world.COLORS[spec.color])
            row[field["shape"]] = -1
            row[field["shape"]][world.SHAPES.index(spec.shape)] = 1
            row[-1] = 1
        tracks[b, max_objects, :3] = _color_values(world.BACKGROUNDS[scene.background])
    return tracks


def decode(tracks: torch.Tensor, frames: int) -> dict[str, torch.Tensor]:
    """Tracks [B, rows, dims] in frame units: per object x, y, radius, angle [B, objects, frames],
    color [B, objects, 3] in [-1, 1], shape index and presence [B, objects]; background [B, 3]."""
    field = fields(frames)
    objects = tracks[:, :-1]
    return {
        "x": (objects[..., field["x"]] + 1) / 2,
        "y": (objects[..., field["y"]] + 1) / 2,
        "radius": (RADIUS_MID + RADIUS_SPAN * objects[..., field["radius"]]).clamp(min=1e-3),
        "angle": objects[..., field["angle"]] * math.pi,
        "color": objects[..., field["color"]].clamp(-1, 1),
        "shape": objects[..., field["shape"]].argmax(-1),
        "present": objects[..., -1] > 0,
        "background": tracks[:, -1, :3].clamp(-1, 1),
    }
