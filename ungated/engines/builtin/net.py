"""The built-in model's networks: a word tokenizer, a frame autoencoder and a video U-Net.

The autoencoder squeezes each 64x64 frame into a 16x16x4 latent and back; the U-Net denoises a
clip of latents by flow matching. Its convolutions draw; a transformer at its coarsest level
reads the clip together with the caption's words, so every place in the clip sees the whole
caption.
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
    channels: tuple[int, ...] = (32, 64, 128)  # U-Net channels per level, finest first
    width: int = 256  # transformer width at the coarsest level and in the text encoder
    depth: int = 4
    text_depth: int = 2
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
        raw["channels"] = tuple(raw["channels"])
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
# Video U-Net


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of flow times t in [0, 1]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    angles = 1000 * t[:, None].float() * freqs[None]
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels // 4), channels)


class _VideoResBlock(nn.Module):
    """(2+1)D residual block: a spatial 3x3 and a temporal 3-tap convolution, with the norm
    in between scaled and shifted by the timestep-and-caption embedding."""

    def __init__(self, cin: int, cout: int, emb_dim: int):
        super().__init__()
        self.norm1 = _group_norm(cin)
        self.spatial = nn.Conv3d(cin, cout, (1, 3, 3), padding=(0, 1, 1))
        self.temporal = nn.Conv3d(cout, cout, (3, 1, 1), padding=(1, 0, 0))
        self.emb = nn.Linear(emb_dim, 2 * cout)
        self.norm2 = _group_norm(cout)
        self.out = nn.Conv3d(cout, cout, (1, 3, 3), padding=(0, 1, 1))
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.skip = nn.Conv3d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.spatial(F.silu(self.norm1(x)))
        h = h + self.temporal(h)
        scale, shift = self.emb(emb)[:, :, None, None, None].chunk(2, dim=1)
        h = self.out(F.silu(self.norm2(h) * (1 + scale) + shift))
        return self.skip(x) + h


class _CrossAttention(nn.Module):
    """Every place in a feature map [B, C, T, h, w] reads the caption's words.

    Computed channels-first throughout (scores are [words, places]), so the convolutions
    around it never see a transposed tensor: on CPU that keeps the whole block cheap.
    """

    def __init__(self, channels: int, width: int):
        super().__init__()
        self.heads = max(1, channels // 32)
        self.norm = _group_norm(channels)
        self.q = nn.Conv3d(channels, channels, 1)
        self.kv = nn.Linear(width, 2 * channels)
        self.out = nn.Conv3d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, words: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        q = self.q(self.norm(x)).reshape(b, self.heads, c // self.heads, -1)  # [B, H, d, N]
        k, v = self.kv(words).unflatten(-1, (2, self.heads, -1)).permute(2, 0, 3, 1, 4)  # [B, H, L, d]
        scores = (k @ q) * (c // self.heads) ** -0.5  # [B, H, L, N]
        weights = scores.masked_fill(~keep[:, None, :, None], float("-inf")).softmax(dim=2)
        h = v.transpose(-1, -2) @ weights  # [B, H, d, N]
        return x + self.out(h.reshape(x.shape))


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


class VideoUNet(nn.Module):
    """Predicts the flow velocity of latent clips [B, C, T, h, w] given word ids [B, L].

    Convolutions at each level draw shapes the same way wherever they are; every level halves
    time, height and width. At the coarsest level a transformer reads the clip together with
    the caption's words, which decides what goes where and keeps one object one object.
    """

    def __init__(self, cfg: BuiltinConfig):
        super().__init__()
        chans, d = cfg.channels, cfg.width
        self.text = TextEncoder(cfg)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.conv_in = nn.Conv3d(cfg.latent_channels, chans[0], (1, 3, 3), padding=(0, 1, 1))
        # Convolutions cannot tell frames apart: motion needs to know where in the clip it is.
        self.frame_pos = nn.Parameter(torch.randn(1, chans[0], cfg.frames, 1, 1) * 0.02)
        self.down = nn.ModuleList(_VideoResBlock(c, c, d) for c in chans)
        self.down_words = nn.ModuleList(_CrossAttention(c, d) for c in chans)
        self.downsample = nn.ModuleList(nn.Conv3d(a, b, 2, stride=2) for a, b in zip(chans, chans[1:]))
        self.mid_in = nn.Linear(chans[-1], d)
        grid = (cfg.frames >> (len(chans) - 1), cfg.latent_size >> (len(chans) - 1))
        self.pos_t = nn.Parameter(torch.randn(grid[0], 1, 1, d) * 0.02)
        self.pos_y = nn.Parameter(torch.randn(1, grid[1], 1, d) * 0.02)
        self.pos_x = nn.Parameter(torch.randn(1, 1, grid[1], d) * 0.02)
        # One modulation layer shared by all blocks (adaLN-single); each block adds its own bias.
        self.modulation = nn.Linear(d, 6 * d)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)
        self.mid = nn.ModuleList(_Block(d, cfg.heads) for _ in range(cfg.depth))
        self.mid_out = nn.Linear(d, chans[-1])
        self.upsample = nn.ModuleList(
            nn.Conv3d(b, a, (1, 3, 3), padding=(0, 1, 1)) for a, b in zip(chans, chans[1:])
        )
        self.up = nn.ModuleList(_VideoResBlock(2 * c, c, d) for c in chans)
        self.up_words = nn.ModuleList(_CrossAttention(c, d) for c in chans)
        self.norm_out = _group_norm(chans[0])
        self.conv_out = nn.Conv3d(chans[0], cfg.latent_channels, (1, 3, 3), padding=(0, 1, 1))
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, latents: torch.Tensor, t: torch.Tensor, word_ids: torch.Tensor) -> torch.Tensor:
        words, keep, pooled = self.text(word_ids)
        emb = self.time_mlp(timestep_embedding(t, words.shape[-1])) + pooled
        x = self.conv_in(latents) + self.frame_pos
        skips = []
        for i, block in enumerate(self.down):
            x = self.down_words[i](block(x, emb), words, keep)
            skips.append(x)
            if i < len(self.downsample):
                x = self.downsample[i](x)
        # Coarsest level: clip tokens and word tokens in one sequence.
        gt, gy, gx = x.shape[2:]
        tokens = self.mid_in(x.permute(0, 2, 3, 4, 1)) + self.pos_t + self.pos_y + self.pos_x
        tokens = tokens.flatten(1, 3)
        seq = torch.cat([words, tokens], dim=1)
        mask = torch.cat([keep, torch.ones(tokens.shape[:2], dtype=torch.bool, device=x.device)], 1)[:, None, None]
        modulation = self.modulation(F.silu(emb)).unflatten(1, (6, -1))
        for block in self.mid:
            seq = block(seq, modulation, mask)
        x = x + self.mid_out(seq[:, words.shape[1]:]).unflatten(1, (gt, gy, gx)).permute(0, 4, 1, 2, 3)
        for i in reversed(range(len(self.up))):
            if i < len(self.upsample):
                x = self.upsample[i](F.interpolate(x, scale_factor=2, mode="nearest"))
            x = self.up_words[i](self.up[i](torch.cat([x, skips[i]], dim=1), emb), words, keep)
        return self.conv_out(F.silu(self.norm_out(x)))


class TextEncoder(nn.Module):
    """Word ids [B, L] -> contextual word vectors [B, L, D], a keep mask and a pooled vector."""

    def __init__(self, cfg: BuiltinConfig):
        super().__init__()
        d = cfg.width
        self.words = nn.Embedding(len(cfg.vocabulary) + 2, d, padding_idx=Tokenizer.PAD)
        self.pos = nn.Parameter(torch.randn(cfg.max_words, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, cfg.heads, 2 * d, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.text_depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)

    def forward(self, word_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        keep = word_ids != Tokenizer.PAD
        # An empty caption (guidance, caption dropout) still needs one key to attend to.
        keep = keep | ~keep.any(1, keepdim=True) & (torch.arange(keep.shape[1], device=keep.device) == 0)
        x = self.encoder(self.words(word_ids) + self.pos[: word_ids.shape[1]], src_key_padding_mask=~keep)
        x = self.norm(x)
        pooled = (x * keep[..., None]).sum(1) / keep.sum(1, keepdim=True)
        return x, keep, pooled
