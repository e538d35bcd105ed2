"""Object tracks: the built-in model's compact description of a clip, the numbers its track
network samples.

A clip's tracks are a tensor [B, max_objects + 1, track_dims]. Row k < max_objects is object k
(in caption order): its motion numbers (motion.PARAMS: where it starts, its size, how it moves;
the bounce's phase as the cosine and sine of twice its angle), then its color, its shape (one
number per shape, +1 for the object's and -1 for the others) and a presence flag (+1 present, -1
no such object). The last row holds the background color in its first three numbers. Every
number is scaled to roughly [-1, 1], the range the flow-matching noise lives in; numbers that
carry nothing (the background row past its color) are masked out by `value_mask`.

A whole path is a dozen numbers and motion.simulate draws it at any length and frame rate, so a
sampled path cannot wobble from one frame to the next, and "moving right quickly" is one number.
"""

from __future__ import annotations

import random

import torch

from . import motion, world

# (offset, scale): a row holds (value - offset) / scale. The phase is held as two numbers.
_SCALING = {"x": (0.5, 0.5), "y": (0.5, 0.5), "radius": (0.155, 0.045), "scale": (0.9, 0.4), "growth": (0.0, 0.8),
            "angle": (0.0, 3.14159), "vx": (0.0, 0.5), "vy": (0.0, 0.5), "spin": (0.5, 0.5), "bounce": (0.5, 0.5)}
NUMBERS = (*_SCALING, "phase_cos", "phase_sin")
GROWTH_SNAP = 0.1  # sampled growth smaller than this is none (a still object must not creep)


def track_dims() -> int:
    return len(NUMBERS) + 3 + len(world.SHAPES) + 1  # motion; RGB; shape; presence


def fields() -> dict[str, slice]:
    """Where each quantity sits in an object row (presence is the last number)."""
    out = {name: slice(i, i + 1) for i, name in enumerate(NUMBERS)}
    colors = len(NUMBERS)
    return {**out, "color": slice(colors, colors + 3), "shape": slice(colors + 3, colors + 3 + len(world.SHAPES))}


def value_mask(max_objects: int) -> torch.Tensor:
    """[rows, track_dims] True where a tracks tensor holds a value."""
    mask = torch.zeros(max_objects + 1, track_dims(), dtype=torch.bool)
    mask[:max_objects] = True
    mask[max_objects, :3] = True
    return mask


def true_params(scenes: list[world.Scene], aspects: list[float], max_objects: int, seed: int) -> dict[str, torch.Tensor]:
    """The scenes' exact numbers (world.as_tensors), drawn from seed exactly as world.render draws them."""
    return world.as_tensors(scenes, world.scene_params(scenes, aspects, random.Random(seed)), max_objects)


def encode_params(p: dict[str, torch.Tensor]) -> torch.Tensor:
    """Numbers (world.as_tensors' layout) -> tracks [B, max_objects + 1, track_dims]."""
    batch, max_objects = p["present"].shape
    tracks = torch.zeros(batch, max_objects + 1, track_dims())
    field = fields()
    present = p["present"].float()
    for name, (offset, scale) in _SCALING.items():
        tracks[:, :max_objects, field[name].start] = (p[name] - offset) / scale * present
    tracks[:, :max_objects, field["phase_cos"].start] = torch.cos(2 * p["phase"]) * present
    tracks[:, :max_objects, field["phase_sin"].start] = torch.sin(2 * p["phase"]) * present
    tracks[:, :max_objects, field["color"]] = p["color"] * present[..., None]
    one_hot = torch.nn.functional.one_hot(p["shape"], len(world.SHAPES)).float()
    tracks[:, :max_objects, field["shape"]] = (2 * one_hot - 1) * present[..., None]
    tracks[:, :max_objects, -1] = 2 * present - 1
    tracks[:, max_objects, :3] = p["background"]
    return tracks


def encode(scenes: list[world.Scene], aspects: list[float], max_objects: int, seed: int) -> torch.Tensor:
    """The scenes' tracks, numbers as in true_params()."""
    return encode_params(true_params(scenes, aspects, max_objects, seed))


def decode(tracks: torch.Tensor) -> dict[str, torch.Tensor]:
    """Tracks [B, rows, dims] -> numbers in world.as_tensors' layout."""
    field = fields()
    objects = tracks[:, :-1]
    out = {name: objects[..., field[name].start] * scale + offset for name, (offset, scale) in _SCALING.items()}
    out["growth"] = torch.where(out["growth"].abs() < GROWTH_SNAP, 0.0, out["growth"])
    out["radius"] = out["radius"].clamp(min=0.02)
    out["scale"] = out["scale"].clamp(*motion.GROW_RANGE)
    out["phase"] = torch.atan2(objects[..., field["phase_sin"].start], objects[..., field["phase_cos"].start]) / 2
    return out | {
        "color": objects[..., field["color"]].clamp(-1, 1),
        "shape": objects[..., field["shape"]].argmax(-1),
        "present": objects[..., -1] > 0,
        "background": tracks[:, -1, :3].clamp(-1, 1),
    }
