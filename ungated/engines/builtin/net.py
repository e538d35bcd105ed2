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
from .tracks import decode, track_dims


@dataclass(frozen=True)
class BuiltinConfig:
    vocabulary: tuple[str, ...]
    frames: int = 16
    fps: int = 8
    size: int = 64
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
    the background; see tracks.py) at flow time t [B], given the caption encoded by its own text
    encoder (`self.text(word_ids)`): a sampler calls it many times per caption and encodes the
    caption once.

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

    def forward(self, noisy: torch.Tensor, t: torch.Tensor, text: Text) -> torch.Tensor:
        words, keep, pooled = text
        emb = self.time_mlp(timestep_embedding(t, words.shape[-1])) + pooled
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
    """Paints clips [B, frames, 3, size, size] in [-1, 1] from tracks [B, rows, dims].

    Each object is drawn in its own frame of reference: centred on its track, turned back by its
    angle and scaled by its radius. There a small network gives the signed distance to the
    outline of the object's shape (negative inside, in radii), which sets how much of each pixel
    the object covers; objects are laid over the background in row order. Placing, turning and
    layering are fixed geometry. What each outline looks like is learned from rendered pixels,
    and any size renders from the same network.
    """

    FIELD_SIZE = 128

    def __init__(self, cfg: BuiltinConfig):
        super().__init__()
        w = cfg.painter_width
        self.frequencies = cfg.painter_frequencies
        self.shapes = nn.Embedding(len(world.SHAPES), w)
        self.coords = nn.Linear(2 + 4 * cfg.painter_frequencies, w)
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w), nn.SiLU(), nn.Linear(w, 1))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

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

    def forward(self, tracks: torch.Tensor, frames: int, size: int, sharpness: float = 4.0) -> torch.Tensor:
        return self.paint(decode(tracks, frames), size, sharpness)

    def paint(self, t: dict[str, torch.Tensor], size: int, sharpness: float = 4.0) -> torch.Tensor:
        """paint() of decoded tracks (tracks.decode), which may hold any subset of the frames."""
        batch, objects, frames = t["x"].shape
        # Outline distances are smooth: above FIELD_SIZE pixels they are computed at FIELD_SIZE
        # and interpolated, which keeps a 1080p clip as cheap as a 128 px one and its edges sharp.
        field = min(size, self.FIELD_SIZE)
        coords = (torch.arange(field, dtype=torch.float32, device=t["x"].device) + 0.5) / field
        gy, gx = torch.meshgrid(coords, coords, indexing="ij")
        canvas = t["background"][:, None, :, None, None].expand(batch, frames, 3, size, size)
        for k in range(objects):
            rx = gx.flatten() - t["x"][:, k, :, None]  # [B, T, P]
            ry = gy.flatten() - t["y"][:, k, :, None]
            cos, sin = t["angle"][:, k, :, None].cos(), t["angle"][:, k, :, None].sin()
            radius = t["radius"][:, k, :, None]
            local = torch.stack([cos * rx + sin * ry, cos * ry - sin * rx], dim=-1) / radius[..., None]
            shape = t["shape"][:, k].repeat_interleave(frames)
            frame_units = self.distance(local.flatten(0, 1), shape).unflatten(0, (batch, frames)) * radius
            frame_units = frame_units.unflatten(-1, (field, field))
            if field != size:
                frame_units = F.interpolate(frame_units, size=(size, size), mode="bilinear", align_corners=False)
            # Coverage from the distance in pixels: half at the outline, about one pixel of ramp.
            alpha = torch.sigmoid(-sharpness * size * frame_units) * t["present"][:, k, None, None, None]
            canvas = canvas * (1 - alpha[:, :, None]) + t["color"][:, k, None, :, None, None] * alpha[:, :, None]
        return canvas
