"""Pyramid Flow's causal video VAE: 8x smaller in space, 8x in time with the first frame on its own
(1 + 8k frames <-> 1 + k latent frames), 16 latent channels.

Every temporal convolution is causal (padded with zero frames in front only), and norms and
attention work frame by frame, so a clip decodes in chunks of latent frames with no seam: each
convolution keeps the last frames of its input in a per-decode cache and puts them in front of the
next chunk. `decode_chunks` yields pixel frames chunk by chunk (and tile by tile in space, blended
where tiles overlap), so a 10 s 768p clip never has all its frames at full resolution at once.

Parameter names and the config are the published checkpoint's (`causal_video_vae/`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention_processor import Attention
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

# Per-decode state: each causal convolution's cached input frames, keyed by the module.
Cache = dict[nn.Module, torch.Tensor]


class CausalConv3d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: tuple[int, int, int] = (1, 1, 1)):
        super().__init__()
        self.time_pad, self.space_pad = kernel - 1, kernel // 2
        self.conv = nn.Conv3d(in_channels, out_channels, kernel, stride=stride)

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        x = F.pad(x, (self.space_pad,) * 4)
        if self.time_pad:
            if cache is not None and self in cache:  # a later chunk: its past is the previous chunk's end
                x = torch.cat([cache[self], x], dim=2)
            else:
                x = F.pad(x, (0, 0, 0, 0, self.time_pad, 0))
            if cache is not None:
                cache[self] = x[:, :, -self.time_pad:]
        return self.conv(x)


class CausalGroupNorm(nn.GroupNorm):
    """GroupNorm over each frame on its own."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        y = super().forward(x.transpose(1, 2).reshape(b * t, c, h, w))
        return y.reshape(b, t, c, h, w).transpose(1, 2)


class ResnetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, groups: int):
        super().__init__()
        self.norm1 = CausalGroupNorm(groups, in_channels, eps=1e-6)
        self.conv1 = CausalConv3d(in_channels, out_channels, 3)
        self.norm2 = CausalGroupNorm(groups, out_channels, eps=1e-6)
        self.conv2 = CausalConv3d(out_channels, out_channels, 3)
        self.conv_shortcut = CausalConv3d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)), cache)
        h = self.conv2(F.silu(self.norm2(h)), cache)
        return (self.conv_shortcut(x, cache) if self.conv_shortcut is not None else x) + h


class Resample(nn.Module):
    """One causal convolution and a reshape: spatial or temporal, down (by stride) or up (by
    moving channels into pixels or frames)."""

    def __init__(self, channels: int, kind: str):
        super().__init__()
        self.kind = kind
        stride = {"down": (1, 2, 2), "temporal_down": (2, 1, 1)}.get(kind, (1, 1, 1))
        out = {"up": 4 * channels, "temporal_up": 2 * channels}.get(kind, channels)
        self.conv = CausalConv3d(channels, out, 3, stride)

    def forward(self, x: torch.Tensor, cache: Cache | None = None, first_chunk: bool = True) -> torch.Tensor:
        x = self.conv(x, cache)
        b, c, t, h, w = x.shape
        if self.kind == "up":
            x = x.reshape(b, c // 4, 2, 2, t, h, w).permute(0, 1, 4, 5, 2, 6, 3).reshape(b, c // 4, t, 2 * h, 2 * w)
        elif self.kind == "temporal_up":
            x = x.reshape(b, c // 2, 2, t, h, w).permute(0, 1, 3, 2, 4, 5).reshape(b, c // 2, 2 * t, h, w)
            if first_chunk:  # the first frame stands alone: it becomes one frame, not two
                x = x[:, :, 1:]
        return x


class MidBlock(nn.Module):
    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock(channels, channels, groups), ResnetBlock(channels, channels, groups)])
        self.attentions = nn.ModuleList([Attention(
            channels, heads=1, dim_head=channels, norm_num_groups=groups, eps=1e-6, residual_connection=True,
            bias=True, upcast_softmax=True, _from_deprecated_attn_block=True)])

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        x = self.resnets[0](x, cache)
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)  # attention within each frame
        x = self.attentions[0](frames).reshape(b, t, c, h, w).transpose(1, 2)
        return self.resnets[1](x, cache)


class Block(nn.Module):
    """Resnets, then a spatial and a temporal resampler where the config has them (named as the
    checkpoint names them: downsamplers / temporal_downsamplers, upsamplers / temporal_upsamplers)."""

    def __init__(self, in_channels: int, out_channels: int, layers: int, groups: int, direction: str,
                 spatial: bool, temporal: bool):
        super().__init__()
        self.resnets = nn.ModuleList(
            ResnetBlock(in_channels if i == 0 else out_channels, out_channels, groups) for i in range(layers))
        self.resamplers = []
        for wanted, prefix, kind in ((spatial, "", direction), (temporal, "temporal_", f"temporal_{direction}")):
            if wanted:
                name = f"{prefix}{direction}samplers"
                setattr(self, name, nn.ModuleList([Resample(out_channels, kind)]))
                self.resamplers.append(name)

    def forward(self, x: torch.Tensor, cache: Cache | None = None, first_chunk: bool = True) -> torch.Tensor:
        for resnet in self.resnets:
            x = resnet(x, cache)
        for name in self.resamplers:
            x = getattr(self, name)[0](x, cache, first_chunk)
        return x


class Encoder(nn.Module):
    def __init__(self, in_channels, out_channels, widths, layers, groups, spatial, temporal):
        super().__init__()
        self.conv_in = CausalConv3d(in_channels, widths[0], 3)
        self.down_blocks = nn.ModuleList(
            Block(widths[max(i - 1, 0)], widths[i], layers[i], groups, "down", spatial[i], temporal[i])
            for i in range(len(widths)))
        self.mid_block = MidBlock(widths[-1], groups)
        self.conv_norm_out = CausalGroupNorm(groups, widths[-1], eps=1e-6)
        self.conv_out = CausalConv3d(widths[-1], 2 * out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for block in self.down_blocks:
            x = block(x)
        return self.conv_out(F.silu(self.conv_norm_out(self.mid_block(x))))


class Decoder(nn.Module):
    def __init__(self, in_channels, out_channels, widths, layers, groups, spatial, temporal):
        super().__init__()
        widths = list(reversed(widths))
        self.conv_in = CausalConv3d(in_channels, widths[0], 3)
        self.mid_block = MidBlock(widths[0], groups)
        self.up_blocks = nn.ModuleList(
            Block(widths[max(i - 1, 0)], widths[i], layers[i], groups, "up", spatial[i], temporal[i])
            for i in range(len(widths)))
        self.conv_norm_out = CausalGroupNorm(groups, widths[-1], eps=1e-6)
        self.conv_out = CausalConv3d(widths[-1], out_channels, 3)

    def forward(self, z: torch.Tensor, cache: Cache | None = None, first_chunk: bool = True) -> torch.Tensor:
        x = self.mid_block(self.conv_in(z, cache), cache)
        for block in self.up_blocks:
            x = block(x, cache, first_chunk)
        return self.conv_out(F.silu(self.conv_norm_out(x)), cache)


class CausalVideoVAE(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, encoder_in_channels: int = 3, encoder_out_channels: int = 16,
                 encoder_block_out_channels: tuple[int, ...] = (128, 256, 512, 512),
                 encoder_layers_per_block: tuple[int, ...] = (2, 2, 2, 2), encoder_norm_num_groups: int = 32,
                 encoder_spatial_down_sample: tuple[bool, ...] = (True, True, True, False),
                 encoder_temporal_down_sample: tuple[bool, ...] = (True, True, True, False),
                 decoder_in_channels: int = 16, decoder_out_channels: int = 3,
                 decoder_block_out_channels: tuple[int, ...] = (128, 256, 512, 512),
                 decoder_layers_per_block: tuple[int, ...] = (3, 3, 3, 3), decoder_norm_num_groups: int = 32,
                 decoder_spatial_up_sample: tuple[bool, ...] = (True, True, True, False),
                 decoder_temporal_up_sample: tuple[bool, ...] = (True, True, True, False),
                 # Published settings this implementation has no choice about (one block type, SiLU,
                 # no dropout at inference, a mean-and-variance encoder):
                 add_post_quant_conv: bool = True, encoder_double_z: bool = True, encoder_act_fn: str = "silu",
                 decoder_act_fn: str = "silu", encoder_block_dropout=None, decoder_block_dropout=None,
                 encoder_down_block_types=None, decoder_up_block_types=None, encoder_type: str = "causal_vae_conv",
                 decoder_type: str = "causal_vae_conv", downsample_scale: int = 8, interpolate: bool = False,
                 sample_size: int = 256, scaling_factor: float = 0.13025):
        super().__init__()
        self.encoder = Encoder(encoder_in_channels, encoder_out_channels, encoder_block_out_channels,
                               encoder_layers_per_block, encoder_norm_num_groups, encoder_spatial_down_sample,
                               encoder_temporal_down_sample)
        self.decoder = Decoder(decoder_in_channels, decoder_out_channels, decoder_block_out_channels,
                               decoder_layers_per_block, decoder_norm_num_groups, decoder_spatial_up_sample,
                               decoder_temporal_up_sample)
        self.quant_conv = CausalConv3d(2 * encoder_out_channels, 2 * encoder_out_channels, 1)
        self.post_quant_conv = CausalConv3d(decoder_in_channels, decoder_in_channels, 1)

    @property
    def spatial_ratio(self) -> int:
        return 2 ** sum(self.config.decoder_spatial_up_sample)

    def encode(self, pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Latents of pixels [B, 3, T, H, W] in [-1, 1]: a sample of the encoder's distribution."""
        mean, logvar = self.quant_conv(self.encoder(pixels)).chunk(2, dim=1)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + torch.exp(0.5 * logvar.clamp(-30.0, 20.0)) * noise

    def decode(self, z: torch.Tensor, cache: Cache | None = None, first_chunk: bool = True) -> torch.Tensor:
        """Pixels in [-1, 1] of latents z [B, 16, T, h, w]; with a cache, z is one chunk of a longer
        clip and the cache carries the convolutions' past from chunk to chunk."""
        return self.decoder(self.post_quant_conv(z, cache), cache, first_chunk)

    def decode_chunks(self, z: torch.Tensor, window: int = 1, tile: int | None = None,
                      overlap: float = 0.25) -> Iterator[torch.Tensor]:
        """Pixel frames of z, a chunk at a time: the first latent frame with `window` more, then
        `window` at a time. With `tile` (latent pixels), each chunk is decoded in overlapping tiles
        of that size and blended."""
        tiles = _tiles(z.shape[-2], z.shape[-1], tile, overlap) if tile else [(0, z.shape[-2], 0, z.shape[-1])]
        caches: list[Cache] = [{} for _ in tiles]
        starts = [0, *range(1 + window, z.shape[2], window)]
        for index, start in enumerate(starts):
            end = starts[index + 1] if index + 1 < len(starts) else z.shape[2]
            pieces = [self.decode(z[:, :, start:end, top:bottom, left:right], cache, first_chunk=index == 0)
                      for (top, bottom, left, right), cache in zip(tiles, caches)]
            yield _blend(pieces, tiles, z.shape[-2], z.shape[-1], self.spatial_ratio) if tile else pieces[0]


def _tiles(height: int, width: int, tile: int, overlap: float) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) latent boxes of size `tile` covering the frame, overlapping by
    `overlap` of a tile."""
    stride = max(1, int(tile * (1 - overlap)))
    rows = [min(top, max(0, height - tile)) for top in range(0, max(height - tile, 0) + stride, stride)]
    columns = [min(left, max(0, width - tile)) for left in range(0, max(width - tile, 0) + stride, stride)]
    return [(top, min(top + tile, height), left, min(left + tile, width))
            for top in dict.fromkeys(rows) for left in dict.fromkeys(columns)]


def _blend(pieces: list[torch.Tensor], tiles, height: int, width: int, ratio: int) -> torch.Tensor:
    """Tiles of pixels put together, with linear ramps where they overlap (weights sum to one)."""
    b, c, t = pieces[0].shape[:3]
    out = torch.zeros(b, c, t, height * ratio, width * ratio, dtype=pieces[0].dtype, device=pieces[0].device)
    total = torch.zeros(1, 1, 1, height * ratio, width * ratio, dtype=pieces[0].dtype, device=pieces[0].device)
    for piece, (top, bottom, left, right) in zip(pieces, tiles):
        weight = _ramp(piece.shape[-2], top > 0, bottom < height, ratio)[:, None] * \
            _ramp(piece.shape[-1], left > 0, right < width, ratio)[None, :]
        weight = weight.to(piece)
        out[..., top * ratio:bottom * ratio, left * ratio:right * ratio] += piece * weight
        total[..., top * ratio:bottom * ratio, left * ratio:right * ratio] += weight
    return out / total


def _ramp(size: int, rise: bool, fall: bool, ratio: int) -> torch.Tensor:
    """1 in the middle, rising from near 0 at an edge shared with a neighbour tile."""
    ramp = torch.ones(size)
    edge = min(size // 2, 8 * ratio)
    steps = (torch.arange(edge) + 0.5) / edge
    if rise:
        ramp[:edge] = steps
    if fall:
        ramp[-edge:] = steps.flip(0)
    return ramp
