"""The built-in model's networks: a word tokenizer, a frame autoencoder and a video DiT.

The autoencoder squeezes each 64x64 frame into a 16x16x4 latent and back; the DiT denoises a
clip of latents by flow matching. Video latents are cut into spatio-temporal patches and read
together with the caption's word tokens by one transformer (in-context conditioning), so every
patch can see the whole caption and the whole clip.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class BuiltinConfig:
    vocabulary: tuple[str, ...]
    frames: int = 16
    fps: int = 8
    size: int = 64
    latent_channels: int = 4
    latent_downscale: int = 4
    ae_width: int = 128
    patch: tuple[int, int, int] = (2, 4, 4)  # frames, height, width of one latent patch
    width: int = 256
    depth: int = 6
    heads: int = 4
    max_words: int = 24
    latent_scale: float = 1.0  # multiplies encoder output so latents have unit variance

    @property
    def latent_size(self) -> int:
        return self.size // self.latent_downscale

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "BuiltinConfig":
        raw = json.loads(text)
        raw["vocabulary"] = tuple(raw["vocabulary"])
        raw["patch"] = tuple(raw["patch"])
        return cls(**raw)


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


# ---------------------------------------------------------------------------------------------
# Frame autoencoder


class _ResBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(8, channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
            nn.GroupNorm(8, channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class FrameAutoencoder(nn.Module):
    """64x64 RGB frames <-> 16x16 latents. Frames are in [-1, 1], shape [N, 3, H, W].

    Every convolution runs at the latent resolution; pixel (un)shuffle moves between 4x4 pixel
    blocks and channels. Sub-pixel decoding learns sharp edges far sooner than stacks of
    upsampling convolutions, which matters when training on a laptop CPU.
    """

    def __init__(self, cfg: BuiltinConfig):
        super().__init__()
        w, c, f = cfg.ae_width, cfg.latent_channels, cfg.latent_downscale
        self.scale = cfg.latent_scale
        self.encoder = nn.Sequential(
            nn.PixelUnshuffle(f), nn.Conv2d(3 * f * f, w, 3, padding=1), _ResBlock(w), _ResBlock(w),
            nn.GroupNorm(8, w), nn.SiLU(), nn.Conv2d(w, c, 1),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(c, w, 3, padding=1), _ResBlock(w), _ResBlock(w), _ResBlock(w),
            nn.GroupNorm(8, w), nn.SiLU(), nn.Conv2d(w, 3 * f * f, 3, padding=1), nn.PixelShuffle(f),
        )

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        return self.encoder(frames) * self.scale

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decoder(latents / self.scale)


# ---------------------------------------------------------------------------------------------
# Video DiT


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of flow times t in [0, 1]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    angles = 1000 * t[:, None].float() * freqs[None]
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


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
        shift1, scale1, gate1, shift2, scale2, gate2 = (modulation + self.modulation_bias).unbind(1)
        h = self.norm1(x) * (1 + scale1[:, None]) + shift1[:, None]
        q, k, v = self.qkv(h).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + gate1[:, None] * self.proj(h.transpose(1, 2).flatten(2))
        h = self.norm2(x) * (1 + scale2[:, None]) + shift2[:, None]
        return x + gate2[:, None] * self.mlp(h)


class VideoDiT(nn.Module):
    """Predicts the flow velocity of latent clips [B, C, T, h, w] given word ids [B, L]."""

    def __init__(self, cfg: BuiltinConfig):
        super().__init__()
        pt, ph, pw = cfg.patch
        self.patch = cfg.patch
        self.grid = (cfg.frames // pt, cfg.latent_size // ph, cfg.latent_size // pw)
        patch_dim = cfg.latent_channels * pt * ph * pw
        d = cfg.width
        self.patch_in = nn.Linear(patch_dim, d)
        self.pos_t = nn.Parameter(torch.randn(self.grid[0], d) * 0.02)
        self.pos_y = nn.Parameter(torch.randn(self.grid[1], d) * 0.02)
        self.pos_x = nn.Parameter(torch.randn(self.grid[2], d) * 0.02)
        self.words = nn.Embedding(len(cfg.vocabulary) + 2, d, padding_idx=Tokenizer.PAD)
        self.pos_words = nn.Parameter(torch.randn(cfg.max_words, d) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        # One modulation MLP shared by all blocks (adaLN-single); each block adds its own bias.
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))
        self.blocks = nn.ModuleList(_Block(d, cfg.heads) for _ in range(cfg.depth))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False)
        self.out_modulation = nn.Linear(d, 2 * d)
        self.patch_out = nn.Linear(d, patch_dim)
        nn.init.zeros_(self.patch_out.weight)
        nn.init.zeros_(self.patch_out.bias)
        nn.init.zeros_(self.modulation[1].weight)
        nn.init.zeros_(self.modulation[1].bias)

    def _patchify(self, x: torch.Tensor) -> torch.Tensor:
        b, c, _, _, _ = x.shape
        (gt, gy, gx), (pt, ph, pw) = self.grid, self.patch
        x = x.reshape(b, c, gt, pt, gy, ph, gx, pw).permute(0, 2, 4, 6, 1, 3, 5, 7)
        return x.reshape(b, gt * gy * gx, c * pt * ph * pw)

    def _unpatchify(self, x: torch.Tensor, channels: int) -> torch.Tensor:
        b = x.shape[0]
        (gt, gy, gx), (pt, ph, pw) = self.grid, self.patch
        x = x.reshape(b, gt, gy, gx, channels, pt, ph, pw).permute(0, 4, 1, 5, 2, 6, 3, 7)
        return x.reshape(b, channels, gt * pt, gy * ph, gx * pw)

    def forward(self, latents: torch.Tensor, t: torch.Tensor, word_ids: torch.Tensor) -> torch.Tensor:
        pos = (self.pos_t[:, None, None] + self.pos_y[None, :, None] + self.pos_x[None, None, :]).flatten(0, 2)
        video = self.patch_in(self._patchify(latents)) + pos
        text = self.words(word_ids) + self.pos_words[: word_ids.shape[1]]
        x = torch.cat([text, video], dim=1)
        keep = torch.cat([word_ids != Tokenizer.PAD, torch.ones(video.shape[:2], dtype=torch.bool, device=x.device)], 1)
        mask = keep[:, None, None, :]  # padding words are never attended to
        emb = self.time_mlp(timestep_embedding(t, x.shape[-1]))
        modulation = self.modulation(emb).unflatten(1, (6, -1))
        for block in self.blocks:
            x = block(x, modulation, mask)
        shift, scale = self.out_modulation(F.silu(emb)).chunk(2, dim=1)
        x = self.norm_out(x[:, text.shape[1]:]) * (1 + scale[:, None]) + shift[:, None]
        return self._unpatchify(self.patch_out(x), latents.shape[1])
