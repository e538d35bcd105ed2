"""How the shapes world moves: an object's motion as a dozen numbers, and the one law that turns
them into where the object is, how large and how far turned at any moment.

The same law draws the training world's clips and the model's: the model only picks the numbers.

Two clocks, so that a word means the same thing in a 2 s clip and a 20 s one:
- Moves and growth are measured over the clip. A move crosses a set share of the frame along its
  axis (world.SPEEDS: a fifth, about a third or half) whatever the clip's length; "growing" goes
  from half its size to 1.3 times it. A long clip shows the same path, more slowly.
- Bounces and spins keep a rhythm in seconds: one hop a second, a quarter turn a second.

Past the end of its clip (extend) the law goes on as a viewer would expect: a moving object keeps
its speed and turns back where it meets the frame's edge, a growing one stops at 1.3 times its
size, a shrinking one at half, bounces and spins keep their rhythm.

In a loop the clip's last frame flows into its first: a move wraps around (it leaves by one edge
and comes back in by the opposite one, once over the loop, twice when quick); hops and turns are
fitted to a whole number per loop; growing and shrinking become a pulse (out and back).

Units: x and y are fractions of the frame's width and height (0 left/top, 1 right/bottom), radius
a fraction of the frame's shorter side, angle radians, times seconds.
"""

from __future__ import annotations

import math

import torch

PARAMS = ("x", "y", "radius", "scale", "growth", "angle", "vx", "vy", "spin", "bounce", "phase")
# x, y: the centre at the start; radius: the object's size word; scale: its size multiple at the
# start; growth: the change of that multiple over the clip; angle: at the start; vx, vy: travel
# over the clip (fractions of the axis); spin and bounce: 1 when the object spins or bounces, else
# 0; phase: where in its hop a bounce starts (radians, 0..pi).

SPIN_RATE = math.pi / 2  # radians a second
HOP_SECONDS = 1.0  # one hop of a bounce
BOUNCE_HEIGHT = 0.4  # of the frame's height
GROW_RANGE = (0.5, 1.3)  # size multiples at the start and end of "growing"; reversed for "shrinking"
EDGE_REACH = 1.15  # a moving object turns back where its circle of this many radii meets the edge
QUICK_TRAVEL = 0.425  # travel above this is "quickly"; a looping quick move wraps twice
STILL_TRAVEL = 0.05  # travel below this is no move at all (a loop does not wrap it)
# Rotational symmetry of each shape (world.SHAPES order): a looping spin turns by a whole number.
SYMMETRY = (0.0, math.pi / 2, 2 * math.pi / 3, 2 * math.pi / 5)


def extents(aspect: float) -> tuple[float, float]:
    """The frame's width and height in units of its shorter side, for aspect = width / height."""
    return max(aspect, 1.0), max(1.0 / aspect, 1.0)


def largest_scale(scale: torch.Tensor, growth: torch.Tensor) -> torch.Tensor:
    """The largest size multiple an object ever reaches: growth stops at GROW_RANGE's end."""
    return torch.where(growth > 0, torch.maximum(scale, torch.full_like(scale, GROW_RANGE[1])), scale)


def edge_reach(p: dict[str, torch.Tensor]) -> torch.Tensor:
    """How near an edge (shorter-side units) each object [B, K] comes before a move turns it back:
    its largest size's circle of EDGE_REACH radii, or p["reach"] where a continuation set it
    nearer (an object that starts closer to the edge than that is not thrown back at the seam)."""
    if "reach" in p:
        return p["reach"]
    return p["radius"] * largest_scale(p["scale"], p["growth"]) * EDGE_REACH


def _reflect(u: torch.Tensor) -> torch.Tensor:
    """u folded into [0, 1] like a ball between two walls (a triangle wave)."""
    u = torch.remainder(u, 2.0)
    return torch.where(u > 1, 2 - u, u)


def _bounded(start: torch.Tensor, travel: torch.Tensor, t: torch.Tensor, margin: torch.Tensor) -> torch.Tensor:
    """start + travel * t, turned back at margin from either edge (all in fractions of the axis)."""
    lo = margin[..., None]
    span = (1 - 2 * margin).clamp(min=1e-3)[..., None]
    return lo + span * _reflect((start[..., None] + travel[..., None] * t - lo) / span)


def simulate(p: dict[str, torch.Tensor], shape: torch.Tensor, times: torch.Tensor, seconds: float, aspect: float,
             loop: bool = False) -> dict[str, torch.Tensor]:
    """Centre x, y, radius and angle [B, K, F] of objects p (each PARAMS entry [B, K]; shape
    [B, K] indexes world.SHAPES) at times [F] (seconds from the clip's start, past its end for an
    extension) of a clip `seconds` long on a frame of aspect width / height."""
    t = (times / seconds)[None, None]  # [1, 1, F]
    width, height = extents(aspect)
    spin = (p["spin"] > 0.5).float()[..., None] * SPIN_RATE
    bounce = (p["bounce"] > 0.5).float()[..., None] * BOUNCE_HEIGHT
    hop = HOP_SECONDS
    if loop:
        hop = seconds / max(1, round(seconds / HOP_SECONDS))
        symmetry = torch.tensor(SYMMETRY)[shape][..., None]
        turns = torch.clamp(torch.round(spin * seconds / symmetry.clamp(min=1e-6)), min=1)
        spin = torch.where((spin > 0) & (symmetry > 0), turns * symmetry / seconds, spin)
        scale = p["scale"][..., None] + p["growth"][..., None] * (1 - torch.cos(2 * math.pi * t)) / 2
        # Wrapped into the frame; the painter also draws a wrapping object across the edge.
        x = torch.remainder(p["x"][..., None] + _wraps(p["vx"])[..., None] * t, 1.0)
        y = torch.remainder(p["y"][..., None] + _wraps(p["vy"])[..., None] * t, 1.0)
    else:
        scale = (p["scale"][..., None] + p["growth"][..., None] * t).clamp(*GROW_RANGE)
        scale = torch.where(p["growth"][..., None] == 0, p["scale"][..., None], scale)
        reach = edge_reach(p)
        x = _bounded(p["x"], p["vx"], t, reach / width)
        y = _bounded(p["y"], p["vy"], t, reach / height)
    y = y - bounce * torch.sin(math.pi * times[None, None] / hop + p["phase"][..., None]).abs()
    angle = p["angle"][..., None] + spin * times[None, None]
    return {"x": x, "y": y, "radius": p["radius"][..., None] * scale, "angle": angle}


def _wraps(travel: torch.Tensor) -> torch.Tensor:
    """A looping move's travel over the loop: whole frames, so that it ends where it began."""
    crossings = torch.where(travel.abs() > QUICK_TRAVEL, 2.0, 1.0)
    return torch.where(travel.abs() < STILL_TRAVEL, 0.0, torch.sign(travel) * crossings)


def wrapped(p: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Which objects [B, K] a loop wraps around horizontally and vertically."""
    return p["vx"].abs() >= STILL_TRAVEL, p["vy"].abs() >= STILL_TRAVEL
