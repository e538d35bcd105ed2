"""The built-in model's networks: a word tokenizer and text encoder, a layout network and a
caption decoder.

A clip is made in two steps. The layout network draws it at 16x16, one frame at a time, by flow
matching: each frame is denoised given the caption and the two frames before it. A layout shows
every object as a disc of its color and size, so this network only learns where things are and
how they move. The caption decoder then paints each 64x64 frame from its layout frame, the
caption and the frame's time in the clip: that is where shapes (and their spin) come in.
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
    layout_downscale: int = 4  # layout frames are size / layout_downscale pixels wide
    context_frames: int = 2  # earlier frames the layout network sees
    channels: tuple[int, ...] = (32, 64, 128)  # layout U-Net channels per level, finest first
    width: int = 192  # layout transformer width and its text encoder's
    depth: int = 3
    heads: int = 4
    text_depth: int = 2
    max_words: int = 24
    decoder_channels: int = 128
    decoder_depth: int = 4
    decoder_text_width: int = 256

    @property
    def layout_size(self) -> int:
        return self.size // self.layout_downscale

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
# Building blocks shared by both networks. Feature maps are [B, C, H, W].


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
# Layout network


class LayoutNet(nn.Module):
    """Predicts the flow velocity of one noisy layout frame [B, 3, S, S] given the frames before
    it [B, context, 3, S, S] (oldest first, zeros before the clip starts), the frame's index in
    the clip [B] and the caption encoded by its own text encoder (`self.text(word_ids)`): a
    sampler calls it many times per caption and encodes the caption once.

    Convolutions at each level draw discs the same way wherever they are; each level halves
    height and width. At the coarsest level a transformer reads the frame together with the
    caption's words, which decides where the next frame's objects go.
    """

    def __init__(self, cfg: BuiltinConfig):
        super().__init__()
        chans, d = cfg.channels, cfg.width
        self.frames, self.context = cfg.frames, cfg.context_frames
        self.text = TextEncoder(cfg, d)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        # Input: the noisy frame, the earlier frames, which of them exist, and where in the clip it is.
        inputs = 3 * (1 + cfg.context_frames) + cfg.context_frames + 1
        self.conv_in = nn.Conv2d(inputs, chans[0], 3, padding=1)
        self.down = nn.ModuleList(_ResBlock(c, c, d) for c in chans)
        self.down_words = nn.ModuleList(_CrossAttention(c, d) for c in chans)
        self.downsample = nn.ModuleList(nn.Conv2d(a, b, 2, stride=2) for a, b in zip(chans, chans[1:]))
        self.mid_in = nn.Linear(chans[-1], d)
        grid = cfg.layout_size >> (len(chans) - 1)
        self.pos_y = nn.Parameter(torch.randn(grid, 1, d) * 0.02)
        self.pos_x = nn.Parameter(torch.randn(1, grid, d) * 0.02)
        # One modulation layer shared by all blocks (adaLN-single); each block adds its own bias.
        self.modulation = nn.Linear(d, 6 * d)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)
        self.mid = nn.ModuleList(_Block(d, cfg.heads) for _ in range(cfg.depth))
        self.mid_out = nn.Linear(d, chans[-1])
        self.upsample = nn.ModuleList(nn.Conv2d(b, a, 3, padding=1) for a, b in zip(chans, chans[1:]))
        self.up = nn.ModuleList(_ResBlock(2 * c, c, d) for c in chans)
        self.up_words = nn.ModuleList(_CrossAttention(c, d) for c in chans)
        self.norm_out = _group_norm(chans[0])
        self.conv_out = nn.Conv2d(chans[0], 3, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(
        self, noisy: torch.Tensor, previous: torch.Tensor, index: torch.Tensor, t: torch.Tensor, text: Text
    ) -> torch.Tensor:
        h, w = noisy.shape[2:]
        # previous[:, j] exists once the clip is context - j frames in.
        exists = index[:, None] >= torch.arange(self.context, 0, -1, device=index.device)
        position = index.float() / (self.frames - 1)
        planes = torch.cat([exists.float(), position[:, None]], 1)[:, :, None, None].expand(-1, -1, h, w)
        x = self.conv_in(torch.cat([noisy, previous.flatten(1, 2), planes], 1))

        words, keep, pooled = text
        emb = self.time_mlp(timestep_embedding(t, words.shape[-1])) + pooled
        skips = []
        for i, block in enumerate(self.down):
            x = self.down_words[i](block(x, emb), words, keep)
            skips.append(x)
            if i < len(self.downsample):
                x = self.downsample[i](x)
        # Coarsest level: frame tokens and word tokens in one sequence.
        gy, gx = x.shape[2:]
        tokens = (self.mid_in(x.permute(0, 2, 3, 1)) + self.pos_y + self.pos_x).flatten(1, 2)
        seq = torch.cat([words, tokens], dim=1)
        mask = torch.cat([keep, torch.ones(tokens.shape[:2], dtype=torch.bool, device=x.device)], 1)[:, None, None]
        modulation = self.modulation(F.silu(emb)).unflatten(1, (6, -1))
        for block in self.mid:
            seq = block(seq, modulation, mask)
        x = x + self.mid_out(seq[:, words.shape[1]:]).unflatten(1, (gy, gx)).permute(0, 3, 1, 2)
        for i in reversed(range(len(self.up))):
            if i < len(self.upsample):
                x = self.upsample[i](F.interpolate(x, scale_factor=2, mode="nearest"))
            x = self.up_words[i](self.up[i](torch.cat([x, skips[i]], dim=1), emb), words, keep)
        return self.conv_out(F.silu(self.norm_out(x)))


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
