"""Object tracks: the built-in model's compact description of a clip.

A clip's tracks are a tensor [B, max_objects + 1, track_dims]. Row k < max_objects is object k
(in caption order): its centre x, centre y, radius and angle over the clip, then its color, its
shape (one number per shape, +1 for the object's and -1 for the others) and a presence flag (+1
present, -1 no such object). The last row holds the background color in its first three numbers.
Every number is scaled to roughly [-1, 1], the range the flow-matching noise lives in. Numbers
that carry nothing (the background row past its color) are masked out by `value_mask`.

Each quantity over the clip is held as the amplitudes of its first few cosines in time (the
first is its mean), not frame by frame: the world's paths need no more (a ramp, a bounce, a
steady turn), and a sampled path cannot wobble from one frame to the next.
"""

from __future__ import annotations

import math
import random

import torch

from . import world

PER_FRAME = ("x", "y", "radius", "angle")  # the quantities a track holds for every frame
RADIUS_MID, RADIUS_SPAN = 0.15, 0.1  # radius (frame units) = RADIUS_MID + RADIUS_SPAN * value
COSINES = 8  # per quantity; tests/test_world.py checks the world's paths survive them


def track_dims() -> int:
    return len(PER_FRAME) * COSINES + 3 + len(world.SHAPES) + 1  # paths; RGB; shape; presence


def fields() -> dict[str, slice]:
    """Where each quantity sits in an object row (presence is the last number)."""
    out = {name: slice(i * COSINES, (i + 1) * COSINES) for i, name in enumerate(PER_FRAME)}
    colors = len(PER_FRAME) * COSINES
    return {**out, "color": slice(colors, colors + 3), "shape": slice(colors + 3, colors + 3 + len(world.SHAPES))}


def value_mask(max_objects: int) -> torch.Tensor:
    """[rows, track_dims] True where a tracks tensor holds a value."""
    mask = torch.zeros(max_objects + 1, track_dims(), dtype=torch.bool)
    mask[:max_objects] = True
    mask[max_objects, :3] = True
    return mask


def _cosines(frames: int) -> torch.Tensor:
    """[COSINES, frames]: cos(pi k (n + 1/2) / frames), the first row all ones."""
    k, n = torch.arange(COSINES, dtype=torch.float32)[:, None], torch.arange(frames, dtype=torch.float32)
    return torch.cos(math.pi * k * (n + 0.5) / frames)


def _color_values(rgb: tuple[int, int, int]) -> torch.Tensor:
    return torch.tensor(rgb, dtype=torch.float32) / 127.5 - 1


def true_paths(scenes: list[world.Scene], frames: int, max_objects: int, seed: int) -> dict[str, torch.Tensor]:
    """The scenes' exact tracks as decode() gives them (frame by frame, no cosines), positions
    drawn from seed exactly as world.render draws them."""
    paths = world.paths(scenes, frames, random.Random(seed))
    batch = len(scenes)
    out = {name: torch.zeros(batch, max_objects, frames) for name in PER_FRAME}
    out["radius"] += 1.0  # absent objects: any size will do
    out |= {"color": torch.zeros(batch, max_objects, 3), "shape": torch.zeros(batch, max_objects, dtype=torch.long),
            "present": torch.zeros(batch, max_objects, dtype=torch.bool), "background": torch.zeros(batch, 3)}
    for b, (scene, scene_paths) in enumerate(zip(scenes, paths)):
        for k, (spec, path) in enumerate(zip(scene.objects, scene_paths)):
            for name, values in zip(PER_FRAME, torch.tensor(path).T):
                out[name][b, k] = values
            out["color"][b, k] = _color_values(world.COLORS[spec.color])
            out["shape"][b, k] = world.SHAPES.index(spec.shape)
            out["present"][b, k] = True
        out["background"][b] = _color_values(world.BACKGROUNDS[scene.background])
    return out


def encode(scenes: list[world.Scene], frames: int, max_objects: int, seed: int) -> torch.Tensor:
    """The scenes' tracks [B, max_objects + 1, track_dims], paths as in true_paths()."""
    true = true_paths(scenes, frames, max_objects, seed)
    scaled = {"x": 2 * true["x"] - 1, "y": 2 * true["y"] - 1,
              "radius": (true["radius"] - RADIUS_MID) / RADIUS_SPAN, "angle": true["angle"] / math.pi}
    to_cosines = torch.linalg.pinv(_cosines(frames))  # [frames, COSINES]: the least-squares fit
    tracks = torch.zeros(len(scenes), max_objects + 1, track_dims())
    field = fields()
    present = true["present"][..., None].float()
    for name in PER_FRAME:
        tracks[:, :max_objects, field[name]] = (scaled[name] @ to_cosines) * present
    tracks[:, :max_objects, field["color"]] = true["color"]
    one_hot = torch.nn.functional.one_hot(true["shape"], len(world.SHAPES)).float()
    tracks[:, :max_objects, field["shape"]] = (2 * one_hot - 1) * present
    tracks[:, :max_objects, -1] = 2 * present[..., 0] - 1
    tracks[:, max_objects, :3] = true["background"]
    return tracks


def decode(tracks: torch.Tensor, frames: int) -> dict[str, torch.Tensor]:
    """Tracks [B, rows, dims] in frame units: per object x, y, radius, angle [B, objects, frames],
    color [B, objects, 3] in [-1, 1], shape index and presence [B, objects]; background [B, 3]."""
    field = fields()
    objects = tracks[:, :-1]
    cosines = _cosines(frames).to(tracks.device)
    path = {name: objects[..., field[name]] @ cosines for name in PER_FRAME}
    return {
        "x": (path["x"] + 1) / 2,
        "y": (path["y"] + 1) / 2,
        "radius": (RADIUS_MID + RADIUS_SPAN * path["radius"]).clamp(min=1e-3),
        "angle": path["angle"] * math.pi,
        "color": objects[..., field["color"]].clamp(-1, 1),
        "shape": objects[..., field["shape"]].argmax(-1),
        "present": objects[..., -1] > 0,
        "background": tracks[:, -1, :3].clamp(-1, 1),
    }
