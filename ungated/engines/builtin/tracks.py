"""Object tracks: the built-in model's compact description of a clip, and how it becomes layouts.

A clip's tracks are a tensor [B, max_objects + 1, track_dims]. Row k < max_objects is object k
(in caption order): its centre x, its centre y and its radius in each frame, then its color and
a presence flag (+1 present, -1 no such object). The last row holds the background color in its
first three numbers. Every number is scaled to roughly [-1, 1], the range the flow-matching
noise lives in. Rows and numbers that carry nothing (the background row past its color) are
masked out of training and sampling by `value_mask`.

`draw_layouts` turns tracks into layout frames: each object as an antialiased disc of its color
and radius, rendered at full size and averaged down to the layout size. The caption decoder
paints frames from those layouts; it is trained on the layouts of true tracks.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from . import world

_RADIUS_MID, _RADIUS_SPAN = 0.15, 0.1  # radius (frame units) = _RADIUS_MID + _RADIUS_SPAN * value


def track_dims(frames: int) -> int:
    return 3 * frames + 4  # x, y, radius per frame; R, G, B; presence


def _fields(frames: int) -> dict[str, slice]:
    """Where each quantity sits in an object row (presence is the last number)."""
    return {"x": slice(0, frames), "y": slice(frames, 2 * frames), "radius": slice(2 * frames, 3 * frames),
            "color": slice(3 * frames, 3 * frames + 3)}


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
    field = _fields(frames)
    for b, (scene, scene_paths) in enumerate(zip(scenes, paths)):
        for k, (spec, path) in enumerate(zip(scene.objects, scene_paths)):
            p = torch.tensor(path)  # [frames, (x, y, radius, angle)]
            row = tracks[b, k]
            row[field["x"]] = 2 * p[:, 0] - 1
            row[field["y"]] = 2 * p[:, 1] - 1
            row[field["radius"]] = (p[:, 2] - _RADIUS_MID) / _RADIUS_SPAN
            row[field["color"]] = _color_values(world.COLORS[spec.color])
            row[-1] = 1
        tracks[b, max_objects, :3] = _color_values(world.BACKGROUNDS[scene.background])
    return tracks


def draw_layouts(tracks: torch.Tensor, frames: int, size: int, downscale: int) -> torch.Tensor:
    """Tracks [B, rows, dims] -> layout clips [B, frames, 3, size / downscale, size / downscale]
    in [-1, 1]; objects are painted in row order, so a later one covers an earlier one."""
    batch, max_objects = len(tracks), tracks.shape[1] - 1
    background = tracks[:, max_objects, :3].clamp(-1, 1)
    canvas = background[:, None, :, None, None].expand(batch, frames, 3, size, size)
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    field = _fields(frames)
    for k in range(max_objects):
        row = tracks[:, k]
        x, y = (row[:, field["x"]] + 1) / 2, (row[:, field["y"]] + 1) / 2
        radius = (_RADIUS_MID + _RADIUS_SPAN * row[:, field["radius"]]).clamp(min=0.0)
        centre_distance = torch.sqrt((gx - x[..., None, None]) ** 2 + (gy - y[..., None, None]) ** 2)
        alpha = (0.5 - (centre_distance - radius[..., None, None]) * size).clamp(0, 1)  # px of coverage
        alpha = alpha[:, :, None] * (row[:, -1] > 0).float()[:, None, None, None, None]
        color = row[:, field["color"]].clamp(-1, 1)[:, None, :, None, None]
        canvas = canvas * (1 - alpha) + color * alpha
    return F.avg_pool2d(canvas.flatten(0, 1), downscale).unflatten(0, (batch, frames))
