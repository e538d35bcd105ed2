"""The built-in clip model: a small pixel-space video denoiser an artist trains on their own clips.

The shapes model (net.py) can only draw the shapes world; a folder of real clips needs a model
that draws pixels. This one works on frames folded 2x2 into channels (pixel unshuffle), through
a three-level convolutional U-Net whose blocks mix space with 3x3 convolutions and time with
a 3-tap convolution across frames; the lowest level also attends over the caption's words.
The timestep and the pooled caption shift and scale every block (FiLM). It is trained by flow
matching but predicts the clean clip rather than the velocity (the velocity follows from it): a
small pixel-space network cannot predict per-pixel noise exactly, and a velocity model that
misses leaves that grain in every sample, where a clean-clip prediction is smooth where it is
unsure and the last Euler step lands exactly on it.

Sizes are set by ClipConfig, saved beside the weights; at the default widths the model has 1.5M
parameters (benchmarks/bench_train.py measures its training speed).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .net import TextEncoder, Tokenizer, timestep_embedding

KIND = "clips"  # config.json's "kind": how the engine tells this model from the shapes model


@dataclass(frozen=True)
class ClipConfig:
    vocabulary: tuple[str, ...]  # the words of the training captions
    width: int = 64
    height: int = 64
    frames: int = 16
    fps: int = 8
    channels: tuple[int, ...] = (32, 64, 128)  # per U-Net level; each halves the frame size
    text_width: int = 128
    heads: int = 4
    text_depth: int = 2
    max_words: int = 32
    kind: str = KIND

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "ClipConfig":
        raw = json.loads(text)
        raw["vocabulary"] = tuple(raw["vocabulary"])
        raw["channels"] = tuple(raw["channels"])
        return cls(**raw)

    @property
    def depth_multiple(self) -> int:
        """Width and height must divide by this: the 2x2 fold and one halving per lower level."""
        return 2 ** len(self.channels)


def _groups(channels: int) -> int:
    return next(g for g in (16, 8, 4, 2, 1) if channels % g == 0)


class _Block(nn.Module):
    """Residual block over frames [B*T, C, H, W]: two 3x3 convolutions in space, FiLM from the
    conditioning vector, and a 3-tap convolution across the T frames of each clip."""

    def __init__(self, cin: int, cout: int, cond: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.film = nn.Linear(cond, 2 * cout)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.time = nn.Conv1d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        nn.init.zeros_(self.time.weight)
        nn.init.zeros_(self.time.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor, frames: int) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(cond).repeat_interleave(frames, 0)[:, :, None, None].chunk(2, dim=1)
        h = self.conv2(F.silu(self.norm2(h) * (1 + scale) + shift))
        x = self.skip(x) + h
        bt, c, hh, ww = x.shape
        # Time mixing: each pixel's channel vector, convolved along its clip's frames.
        seq = x.view(bt // frames, frames, c, hh * ww).permute(0, 3, 2, 1).reshape(-1, c, frames)
        mixed = self.time(F.silu(seq)).view(bt // frames, hh * ww, c, frames).permute(0, 3, 2, 1)
        return x + mixed.reshape(bt, c, hh, ww)


class _WordAttention(nn.Module):
    """Every position of the lowest level attends over the caption's words."""

    def __init__(self, channels: int, text_width: int, heads: int):
        super().__init__()
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.attn = nn.MultiheadAttention(channels, heads, kdim=text_width, vdim=text_width, batch_first=True)
        nn.init.zeros_(self.attn.out_proj.weight)
        nn.init.zeros_(self.attn.out_proj.bias)

    def forward(self, x: torch.Tensor, words: torch.Tensor, keep: torch.Tensor, frames: int) -> torch.Tensor:
        bt, c, h, w = x.shape
        queries = self.norm(x).view(bt // frames, frames, c, h * w).permute(0, 1, 3, 2).reshape(bt // frames, -1, c)
        out, _ = self.attn(queries, words, words, key_padding_mask=~keep, need_weights=False)
        return x + out.view(bt // frames, frames, h * w, c).permute(0, 1, 3, 2).reshape(bt, c, h, w)


class ClipNet(nn.Module):
    """Predicts the clean clip from noisy clips [B, T, 3, H, W] at flow times t [B] given the
    caption encoded once by `self.text(word_ids)`."""

    def __init__(self, cfg: ClipConfig):
        super().__init__()
        self.text = TextEncoder(_TextShape(cfg), cfg.text_width)
        cond = cfg.text_width
        self.time_mlp = nn.Sequential(nn.Linear(cond, cond), nn.SiLU(), nn.Linear(cond, cond))
        c = cfg.channels
        self.conv_in = nn.Conv2d(12, c[0], 3, padding=1)
        self.down = nn.ModuleList(_Block(a, b, cond) for a, b in zip((c[0], *c[:-1]), c))
        self.mid = _Block(c[-1], c[-1], cond)
        self.words = _WordAttention(c[-1], cfg.text_width, cfg.heads)
        self.up = nn.ModuleList(_Block(2 * b, a, cond) for a, b in zip((c[0], *c[:-1]), c))
        self.norm_out = nn.GroupNorm(_groups(c[0]), c[0])
        self.conv_out = nn.Conv2d(c[0], 12, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, noisy: torch.Tensor, t: torch.Tensor, text) -> torch.Tensor:
        words, keep, pooled = text
        batch, frames = noisy.shape[:2]
        cond = F.silu(self.time_mlp(timestep_embedding(t, words.shape[-1])) + pooled)
        x = self.conv_in(F.pixel_unshuffle(noisy.flatten(0, 1), 2))
        skips = []
        for index, block in enumerate(self.down):
            x = block(x, cond, frames)
            skips.append(x)
            if index < len(self.down) - 1:
                x = F.avg_pool2d(x, 2)
        x = self.words(self.mid(x, cond, frames), words, keep, frames)
        for index, block in reversed(list(enumerate(self.up))):
            if x.shape[-2:] != skips[index].shape[-2:]:
                x = F.interpolate(x, size=skips[index].shape[-2:], mode="nearest")
            x = block(torch.cat([x, skips[index]], dim=1), cond, frames)
        out = self.conv_out(F.silu(self.norm_out(x)))
        return F.pixel_shuffle(out, 2).unflatten(0, (batch, frames))


@dataclass(frozen=True)
class _TextShape:
    """What TextEncoder reads from a config, taken from a ClipConfig."""

    vocabulary: tuple[str, ...]
    max_words: int
    heads: int
    text_depth: int

    def __init__(self, cfg: ClipConfig):
        for name in ("vocabulary", "max_words", "heads", "text_depth"):
            object.__setattr__(self, name, getattr(cfg, name))


def caption_vocabulary(captions: list[str]) -> tuple[str, ...]:
    """The words of the captions, most frequent first (ties in first-seen order)."""
    counts: dict[str, int] = {}
    for caption in captions:
        for word in Tokenizer.words(caption):
            counts[word] = counts.get(word, 0) + 1
    return tuple(sorted(counts, key=lambda w: -counts[w]))
