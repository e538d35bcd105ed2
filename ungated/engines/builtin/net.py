"""The built-in model's networks: a word tokenizer and text encoder, a track network and a
caption decoder.

A clip is made in two steps. The track network samples the whole clip's object tracks (where
each object is and how large, frame by frame, its color, and the background color; see
tracks.py) by flow matching from the caption. Drawn as discs, the tracks make 16x16 layout
frames, and the caption decoder paints each 64x64 frame from its layout frame, the caption and
the frame's time in the clip: that is where shapes (and their spin) come in.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .tracks import track_dims


@dataclass(frozen=True)
class BuiltinConfig:
    vocabulary: tuple[str, ...]
    frames: int = 16
    fps: int = 8
    size: int = 64
    layout_downscale: int = 4  # layout frames are size / layout_downscale pixels wide
    max_objects: int = 2
    width: int = 128  # track transformer width and its text encoder's
    depth: int = 4
    heads: int = 4
    text_depth: int = 2
    max_words: int = 24
    decoder_channels: int = 128
    decoder_depth: int = 4
    decoder_text_width: int = 256

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "BuiltinConfig":
        raw = json.loads(text)
        raw["vocabulary"] = tuple(raw["vocabulary"])
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
# Building blocks. Feature maps are [B, C, H, W].


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels // 4), channels)


class _ResBlock(nn.Module):
    """Two 3x3 convolutions; the norm between them is scaled and shifted by a conditioning vector.
    The last convolution starts at zero, so a new block starts as the identity."""

    def __init__(self, cin: int, cout: int, emb_dim: int):
        super().__init__()
        self.norm1 = _group_norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * cout)
        self.norm2 = _group_norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(emb)[:, :, None, None].chunk(2, dim=1)
        return self.skip(x) + self.conv2(F.silu(self.norm2(h) * (1 + scale) + shift))


class _CrossAttention(nn.Module):
    """Every place in a feature map reads the caption's words.

    Computed channels-first throughout (scores are [words, places]), so the convolutions
    around it never see a transposed tensor: on CPU that keeps the whole block cheap.
    """

    def __init__(self, channels: int, width: int):
        super().__init__()
        self.heads = max(1, channels // 32)
        self.norm = _group_norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.kv = nn.Linear(width, 2 * channels)
        self.out = nn.Conv2d(channels, channels, 1)
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


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of flow times t in [0, 1]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    angles = 1000 * t[:, None].float() * freqs[None]
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


# ---------------------------------------------------------------------------------------------
# Track network


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
        dims = track_dims(cfg.frames)
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
# Caption decoder


def frame_time_features(when: torch.Tensor) -> torch.Tensor:
    """Sines and cosines of a frame's time in the clip (0 first frame, 1 last) at 8 frequencies."""
    angles = when[:, None].float() * torch.arange(1, 9, device=when.device) * math.pi
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class CaptionDecoder(nn.Module):
    """Paints a frame [B, 3, size, size] from its layout frame [B, 3, S, S], the caption's word
    ids [B, L] and the frame's time in the clip [B] (0 to 1).

    All convolutions run at the layout's resolution; a final pixel shuffle turns channels into
    the finer pixels, added to the upsampled layout. The layout says where a disc of which color
    is; the words say which shape to cut from it, and the time says how far a spinning one has
    turned.
    """

    def __init__(self, cfg: BuiltinConfig):
        super().__init__()
        c, d, f = cfg.decoder_channels, cfg.decoder_text_width, cfg.layout_downscale
        self.scale = f
        self.text = TextEncoder(cfg, d)
        self.time_mlp = nn.Sequential(nn.Linear(16, d), nn.SiLU(), nn.Linear(d, d))
        self.conv_in = nn.Conv2d(3, c, 3, padding=1)
        self.blocks = nn.ModuleList(_ResBlock(c, c, d) for _ in range(cfg.decoder_depth))
        self.words = nn.ModuleList(_CrossAttention(c, d) for _ in range(cfg.decoder_depth))
        self.out = nn.Sequential(_group_norm(c), nn.SiLU(), nn.Conv2d(c, 3 * f * f, 3, padding=1), nn.PixelShuffle(f))

    def forward(self, layout: torch.Tensor, word_ids: torch.Tensor, when: torch.Tensor) -> torch.Tensor:
        words, keep, pooled = self.text(word_ids)
        emb = pooled + self.time_mlp(frame_time_features(when))
        x = self.conv_in(layout)
        for block, read in zip(self.blocks, self.words):
            x = read(block(x, emb), words, keep)
        return F.interpolate(layout, scale_factor=self.scale, mode="nearest") + self.out(x)
