"""The built-in model's networks: a word tokenizer and text encoder, a track network and a
shape painter.

A clip is made in two steps. The track network samples the whole clip's object tracks (where
each object is, how large and how far turned, frame by frame, its color and shape, and the
background color; see tracks.py) by flow matching from the caption. The shape painter draws
every frame from the tracks, with each object's outline coming from a small network that has
learned the four shapes from rendered pixels.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import world
from .tracks import track_dims


@dataclass(frozen=True)
class BuiltinConfig:
    vocabulary: tuple[str, ...]
    size: int = 64  # shorter side of the frames the painter learns from
    max_objects: int = 2
    width: int = 128  # track transformer width and its text encoder's
    depth: int = 4
    heads: int = 4
    text_depth: int = 2
    max_words: int = 24
    painter_width: int = 64
    painter_frequencies: int = 4  # sines and cosines of the outline network's coordinates

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "BuiltinConfig":
        raw = json.loads(text)
        raw["vocabulary"] = tuple(raw["vocabulary"])
        return cls(**raw)


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """Frames [T, 3, H, W] in [-1, 1] (clamped) -> uint8 [T, H, W, 3], as both built-in models draw them."""
    return ((frames.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


class Tokenizer:
    """Words to ids over a closed vocabulary; id 0 pads, id 1 stands for an unknown word."""

    PAD, UNKNOWN = 0, 1

    def __init__(self, vocabulary: tuple[str, ...], max_words: int):
        self.ids = {w: i + 2 for i, w in enumerate(vocabulary)}
        self.max_words = max_words

    @staticmethod
    def words(text: str) -> list[str]:
        return re.findall(r"[a-z]+", text.lower())

    def unknown_words(self, text: str) -> list[str]:
        return [w for w in self.words(text) if w not in self.ids]

    def __call__(self, texts: list[str]) -> torch.Tensor:
        out = torch.full((len(texts), self.max_words), self.PAD, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.ids.get(w, self.UNKNOWN) for w in self.words(text)][: self.max_words]
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out


Text = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # word vectors [B, L, D], keep mask [B, L], pooled [B, D]


class TextEncoder(nn.Module):
    """Word ids [B, L] -> contextual word vectors [B, L, D], a keep mask and a pooled vector."""

    def __init__(self, cfg: BuiltinConfig, width: int):
        super().__init__()
        self.words = nn.Embedding(len(cfg.vocabulary) + 2, width, padding_idx=Tokenizer.PAD)
        self.pos = nn.Parameter(torch.randn(cfg.max_words, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, cfg.heads, 2 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.text_depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)

    def forward(self, word_ids: torch.Tensor) -> Text:
        keep = word_ids != Tokenizer.PAD
        # An empty caption (guidance, caption dropout) still needs one key to attend to.
        keep = keep | ~keep.any(1, keepdim=True) & (torch.arange(keep.shape[1], device=keep.device) == 0)
        x = self.encoder(self.words(word_ids) + self.pos[: word_ids.shape[1]], src_key_padding_mask=~keep)
        x = self.norm(x)
        pooled = (x * keep[..., None]).sum(1) / keep.sum(1, keepdim=True)
        return x, keep, pooled


# ---------------------------------------------------------------------------------------------
# Track network


class _Block(nn.Module):
    """Pre-norm transformer block whose norms are shifted, scaled and gated by the timestep."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(approximate="tanh"), nn.Linear(4 * width, width))
        self.modulation_bias = nn.Parameter(torch.zeros(6, width))

    def forward(self, x: torch.Tensor, modulation: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = (modulation + self.modulation_bias)[:, :, None].unbind(1)
        h = self.norm1(x) * (1 + scale1) + shift1
        q, k, v = self.qkv(h).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + gate1 * self.proj(h.transpose(1, 2).flatten(2))
        h = self.norm2(x) * (1 + scale2) + shift2
        return x + gate2 * self.mlp(h)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of flow times t in [0, 1]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    angles = 1000 * t[:, None].float() * freqs[None]
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


class TrackNet(nn.Module):
    """Predicts the flow velocity of noisy tracks [B, rows, dims] (one row per object slot plus
    the background; see tracks.py) at flow time t [B] for a frame of aspect width / height [B],
    given the caption encoded by its own text encoder (`self.text(word_ids)`): a sampler calls it
    many times per caption and encodes the caption once. The aspect matters because the scene is
    laid out on the frame: what fits side by side in 16:9 may not in 9:16.

    Each row is one token, read together with the caption's words in one attention: a row's
    whole path is one vector, so "moving right" becomes a straight ramp in its x numbers without
    frames having to agree with each other step by step.
    """

    def __init__(self, cfg: BuiltinConfig):
        super().__init__()
        d = cfg.width
        dims = track_dims()
        self.text = TextEncoder(cfg, d)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.aspect_mlp = nn.Sequential(nn.Linear(1, d), nn.SiLU(), nn.Linear(d, d))
        self.rows_in = nn.Linear(dims, d)
        self.row_embedding = nn.Parameter(torch.randn(cfg.max_objects + 1, d) * 0.02)  # which slot
        # One modulation layer shared by all blocks (adaLN-single); each block adds its own bias.
        self.modulation = nn.Linear(d, 6 * d)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)
        self.blocks = nn.ModuleList(_Block(d, cfg.heads) for _ in range(cfg.depth))
        self.norm_out = nn.LayerNorm(d)
        self.rows_out = nn.Linear(d, dims)
        nn.init.zeros_(self.rows_out.weight)
        nn.init.zeros_(self.rows_out.bias)

    def forward(self, noisy: torch.Tensor, t: torch.Tensor, text: Text, aspect: torch.Tensor) -> torch.Tensor:
        words, keep, pooled = text
        emb = self.time_mlp(timestep_embedding(t, words.shape[-1])) + pooled
        emb = emb + self.aspect_mlp(aspect.float().log()[:, None])
        rows = self.rows_in(noisy) + self.row_embedding
        seq = torch.cat([words, rows], dim=1)
        mask = torch.cat([keep, torch.ones(rows.shape[:2], dtype=torch.bool, device=rows.device)], 1)[:, None, None]
        modulation = self.modulation(F.silu(emb)).unflatten(1, (6, -1))
        for block in self.blocks:
            seq = block(seq, modulation, mask)
        return self.rows_out(self.norm_out(seq[:, words.shape[1]:]))


# ---------------------------------------------------------------------------------------------
# Shape painter


class ShapePainter(nn.Module):
    """Paints frames [B, F, 3, height, width] in [-1, 1] from objects' paths (motion.simulate).

    Each object is drawn in its own frame of reference: centred on its path, turned back by its
    angle and scaled by its radius. There a small network gives the signed distance to the
    outline of the object's shape (negative inside, in radii), which sets how much of each pixel
    the object covers; objects are laid over the background in row order. Placing, turning and
    layering are fixed geometry. What each outline looks like is learned from rendered pixels,
    and any size and aspect renders from the same network.
    """

    TABLE_SIZE = 512  # draw() looks outlines up in a table of this many points across four radii

    def __init__(self, cfg: BuiltinConfig):
        super().__init__()
        w = cfg.painter_width
        self.frequencies = cfg.painter_frequencies
        self.shapes = nn.Embedding(len(world.SHAPES), w)
        self.coords = nn.Linear(2 + 4 * cfg.painter_frequencies, w)
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w), nn.SiLU(), nn.Linear(w, 1))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)
        self._table: torch.Tensor | None = None

    def distance(self, local: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        """Signed distance (radii) of points local [N, P, 2] to the outlines of shapes [N]: the
        unit circle's, plus what the network has learned each shape differs from it by. Points
        beyond two radii are outside every outline and skip the network: it cannot put a stray
        piece far from its object, and most of a frame costs nothing."""
        reach = local.norm(dim=-1)
        near = reach < 2
        out = reach - 1
        points = local[near]
        angles = points[..., None] * (math.pi * 2.0 ** torch.arange(self.frequencies, device=local.device))
        features = torch.cat([points, angles.sin().flatten(-2), angles.cos().flatten(-2)], dim=-1)
        which = shape[:, None].expand(near.shape)[near]
        h = self.coords(features) + self.shapes(which)
        return out.masked_scatter(near, out[near] + self.mlp(h)[..., 0])

    def outline_table(self) -> torch.Tensor:
        """distance() over the square of two radii around the centre, TABLE_SIZE points across,
        per shape [shapes, 1, TABLE_SIZE, TABLE_SIZE]; made once and kept until training."""
        if self._table is None:
            with torch.inference_mode():
                side = torch.linspace(-2, 2, self.TABLE_SIZE)
                gy, gx = torch.meshgrid(side, side, indexing="ij")
                points = torch.stack([gx, gy], -1).reshape(1, -1, 2).expand(len(world.SHAPES), -1, -1)
                table = self.distance(points, torch.arange(len(world.SHAPES)))
                self._table = table.reshape(len(world.SHAPES), 1, self.TABLE_SIZE, self.TABLE_SIZE)
        return self._table

    def train(self, mode: bool = True) -> "ShapePainter":
        self._table = None  # the outlines are about to change
        return super().train(mode)

    def forward(self, scene: dict[str, torch.Tensor], paths: dict[str, torch.Tensor], width: int, height: int,
                sharpness: float = 4.0, wraps: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Frames [B, F, 3, height, width] in [-1, 1] of the scene's objects (shape, color,
        present [B, K]; background [B, 3]) along paths (x, y, radius, angle [B, K, F]); wraps:
        which objects [B, K] a loop wraps around horizontally and vertically (drawn on both sides
        of the edge they cross). Differentiable: what training compares with rendered frames."""
        batch, _, frames = paths["x"].shape
        canvas = scene["background"][:, None, :, None, None].expand(batch, frames, 3, height, width)
        for k, alpha, (top, left) in self._coverages(scene, paths, width, height, sharpness, wraps, self.distance):
            alpha = F.pad(alpha, (left, width - left - alpha.shape[-1], top, height - top - alpha.shape[-2]))
            canvas = canvas + (scene["color"][:, k, None, :, None, None] - canvas) * alpha[:, :, None]
        return canvas

    @torch.inference_mode()
    def draw(self, scene: dict[str, torch.Tensor], paths: dict[str, torch.Tensor], width: int, height: int,
             wraps: tuple[torch.Tensor, torch.Tensor] | None = None) -> np.ndarray:
        """The first clip's frames as uint8 [F, height, width, 3], as forward() paints them, but
        fast enough for long 1080p clips: a shape's outline only turns and scales from frame to
        frame, so its distance is looked up (bilinear) in outline_table() rather than asked of the
        network per pixel, and each object is blended only over the pixels it can reach."""
        frames = paths["x"].shape[2]
        short = min(width, height)
        background = to_uint8(scene["background"][:1, :, None, None])[0]  # [1, 1, 3]
        canvas = np.empty((frames, height, width, 3), dtype=np.uint8)
        canvas[0] = background
        canvas[1:] = canvas[0]  # whole frames at a time: a plain memory copy
        canvas = torch.from_numpy(canvas)
        table = self.outline_table()
        for k in range(paths["x"].shape[1]):
            if not scene["present"][0, k]:
                continue
            color = (scene["color"][0, k].clamp(-1, 1) + 1) * 127.5
            copies = [(0.0, 0.0)]
            if wraps is not None:  # a looping move is also drawn a frame's width (height) to either side
                along = (float(wraps[0][0, k]) * width, float(wraps[1][0, k]) * height)
                copies += [along, (-along[0], -along[1])] if any(along) else []
            for f in range(frames):
                x, y = float(paths["x"][0, k, f]) * width, float(paths["y"][0, k, f]) * height
                radius = float(paths["radius"][0, k, f]) * short  # pixels
                angle = float(paths["angle"][0, k, f])
                for dx, dy in copies:
                    self._blend(canvas[f], table[int(scene["shape"][0, k])], x + dx, y + dy, radius, angle, color)
        return canvas.numpy()

    @staticmethod
    def _blend(frame: torch.Tensor, table: torch.Tensor, x: float, y: float, radius: float, angle: float,
               color: torch.Tensor) -> None:
        """Lay one object (centre x, y and radius in pixels) over frame [H, W, 3] uint8, in place."""
        height, width = frame.shape[:2]
        reach = DRAW_REACH * radius + 2
        left, right = max(0, math.floor(x - reach)), min(width, math.ceil(x + reach))
        top, bottom = max(0, math.floor(y - reach)), min(height, math.ceil(y + reach))
        if right - left < 2 or bottom - top < 2:
            return
        # The crop's pixel centres (align_corners: -1 and 1 are the first and last) mapped to the
        # table's coordinates (two radii to a side), turned back by the object's angle.
        cos, sin = math.cos(angle), math.sin(angle)
        half_w, half_h = (right - left - 1) / 2, (bottom - top - 1) / 2
        mid_x, mid_y = left + 0.5 + half_w - x, top + 0.5 + half_h - y  # crop centre from the object's
        unit = 1 / (2 * radius)
        theta = torch.tensor([[[cos * half_w * unit, sin * half_h * unit, (cos * mid_x + sin * mid_y) * unit],
                               [-sin * half_w * unit, cos * half_h * unit, (cos * mid_y - sin * mid_x) * unit]]])
        grid = F.affine_grid(theta, [1, 1, bottom - top, right - left], align_corners=True)
        distance = F.grid_sample(table[None], grid, mode="bilinear", padding_mode="border", align_corners=True)
        alpha = torch.sigmoid(distance[0, 0] * (-4.0 * radius))[..., None]  # radii -> pixels; as forward()
        region = frame[top:bottom, left:right].float()
        region += (color - region) * alpha
        frame[top:bottom, left:right] = region.round_().to(torch.uint8)

    def _coverages(self, scene, paths, width: int, height: int, sharpness: float, wraps, distance):
        """Per present object k: how much of each pixel it covers [B, F, h, w] over the crop of
        the frame it can reach in these frames, and the crop's (top, left); outlines from
        distance (one of the two above)."""
        batch, objects, frames = paths["x"].shape
        short = min(width, height)
        for k in range(objects):
            if not scene["present"][:, k].any():
                continue
            wrapping = wraps is not None and bool(wraps[0][:, k].any() or wraps[1][:, k].any())
            top, bottom, left, right = (0, height, 0, width) if wrapping else _reach(paths, k, width, height)
            if bottom <= top or right <= left:
                continue  # wholly outside the frame
            # Pixel centres of the crop, in shorter-side units.
            ys = (torch.arange(top, bottom, dtype=torch.float32) + 0.5) / short
            xs = (torch.arange(left, right, dtype=torch.float32) + 0.5) / short
            gy, gx = (g.flatten() for g in torch.meshgrid(ys, xs, indexing="ij"))
            cos, sin = paths["angle"][:, k, :, None].cos(), paths["angle"][:, k, :, None].sin()
            radius = paths["radius"][:, k, :, None]
            shape = scene["shape"][:, k].repeat_interleave(frames)
            units = None
            for dx, dy in self._copies(wraps, k, width / short, height / short):
                rx = gx - paths["x"][:, k, :, None] * (width / short) + dx  # [B, F, P]
                ry = gy - paths["y"][:, k, :, None] * (height / short) + dy
                local = torch.stack([cos * rx + sin * ry, cos * ry - sin * rx], dim=-1) / radius[..., None]
                copy = distance(local.flatten(0, 1), shape).unflatten(0, (batch, frames)) * radius
                units = copy if units is None else torch.minimum(units, copy)
            # Coverage from the distance in pixels: half at the outline, about one pixel of ramp.
            alpha = torch.sigmoid(-sharpness * short * units) * scene["present"][:, k, None, None]
            yield k, alpha.unflatten(-1, (bottom - top, right - left)), (top, left)

    @staticmethod
    def _copies(wraps, k: int, extent_x: float, extent_y: float) -> list[tuple[torch.Tensor | float, torch.Tensor | float]]:
        """Offsets (shorter-side units, [B, 1, 1] or 0) at which object k is drawn: itself, and
        for a wrapped move one frame's width or height to either side."""
        if wraps is None or not (wraps[0][:, k].any() or wraps[1][:, k].any()):
            return [(0.0, 0.0)]
        along_x = wraps[0][:, k, None, None].float() * extent_x
        along_y = wraps[1][:, k, None, None].float() * extent_y
        return [(0.0, 0.0), (along_x, along_y), (-along_x, -along_y)]


DRAW_REACH = 1.6  # radii around its centre that draw() blends an object over (outlines reach 1.3)


def _reach(paths: dict[str, torch.Tensor], k: int, width: int, height: int) -> tuple[int, int, int, int]:
    """The pixel rows and columns (top, bottom, left, right; clipped to the frame) that object k
    can cover in these frames: its centre's range, widened by the painter's reach of two radii
    and a pixel of antialiasing."""
    short = min(width, height)
    reach = 2 * float(paths["radius"][:, k].max()) * short + 2
    xs, ys = paths["x"][:, k] * width, paths["y"][:, k] * height
    left, right = math.floor(float(xs.min()) - reach), math.ceil(float(xs.max()) + reach)
    top, bottom = math.floor(float(ys.min()) - reach), math.ceil(float(ys.max()) + reach)
    return max(0, top), min(height, bottom), max(0, left), min(width, right)

