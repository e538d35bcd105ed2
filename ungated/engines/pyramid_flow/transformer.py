"""Pyramid Flow's miniFLUX transformer: a FLUX-style MM-DiT (8 double-stream and 16 single-stream
blocks, 1920 wide) that denoises the current latent frame given the clean frames before it.

Every clip in `clips` (the history, oldest first, at the resolutions the pyramid keeps them, then
the noisy current clip) is cut into 2x2 patches and joined into one token sequence after the T5
text tokens. Rotary positions are (frame, row, column) on the current clip's patch grid: a
history clip at a lower resolution gets its rows and columns spread over the same grid, so every
clip shares one coordinate frame. Attention is causal in time: a token sees the text and the
tokens of its own frame and earlier ones. Only the current clip's tokens are returned.

The blocks, embeddings and norms are diffusers' FLUX modules, whose parameter names are the ones
the published checkpoint uses (`diffusion_transformer_384p/`, `diffusion_transformer_768p/`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import CombinedTimestepTextProjEmbeddings
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.normalization import AdaLayerNormContinuous
from diffusers.models.transformers.transformer_flux import (FluxPosEmbed, FluxSingleTransformerBlock,
                                                            FluxTransformerBlock)
from torch import nn

PATCH = 2  # the published config says patch_size 1, but the model folds 2x2 latent pixels into a token


class PyramidFluxTransformer(ModelMixin, ConfigMixin):
    _no_split_modules = ["FluxTransformerBlock", "FluxSingleTransformerBlock"]

    @register_to_config
    def __init__(self, patch_size: int = 1, in_channels: int = 64, num_layers: int = 8, num_single_layers: int = 16,
                 attention_head_dim: int = 64, num_attention_heads: int = 30, joint_attention_dim: int = 4096,
                 pooled_projection_dim: int = 768, axes_dims_rope: tuple[int, ...] = (16, 24, 24),
                 use_temporal_causal: bool = True, interp_condition_pos: bool = True, use_flash_attn: bool = False,
                 use_gradient_checkpointing: bool = False):
        super().__init__()
        width = num_attention_heads * attention_head_dim
        self.pos_embed = FluxPosEmbed(theta=10000, axes_dim=list(axes_dims_rope))
        self.time_text_embed = CombinedTimestepTextProjEmbeddings(embedding_dim=width,
                                                                  pooled_projection_dim=pooled_projection_dim)
        self.context_embedder = nn.Linear(joint_attention_dim, width)
        self.x_embedder = nn.Linear(in_channels, width)
        self.transformer_blocks = nn.ModuleList(
            FluxTransformerBlock(width, num_attention_heads, attention_head_dim) for _ in range(num_layers))
        self.single_transformer_blocks = nn.ModuleList(
            FluxSingleTransformerBlock(width, num_attention_heads, attention_head_dim) for _ in range(num_single_layers))
        self.norm_out = AdaLayerNormContinuous(width, width, elementwise_affine=False, eps=1e-6)
        self.proj_out = nn.Linear(width, patch_size * patch_size * in_channels)

    @property
    def latent_channels(self) -> int:
        return self.config.in_channels // (PATCH * PATCH)

    def forward(self, clips: list[torch.Tensor], timestep: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor,
                pooled: torch.Tensor) -> torch.Tensor:
        """The flow velocity of the last clip. clips: [B, C, T_i, H_i, W_i] latents, history first;
        timestep [B] in 0..1000; text [B, L, 4096] (T5), text_mask [B, L]; pooled [B, 768] (CLIP)."""
        current = clips[-1]
        batch, _, frames, height, width = current.shape
        temb = self.time_text_embed(timestep, pooled)
        context = self.context_embedder(text)
        tokens = self.x_embedder(torch.cat([_patchify(clip) for clip in clips], dim=1))
        ids = _positions(clips, height // PATCH, width // PATCH)
        rope = self.pos_embed(torch.cat([torch.zeros(text.shape[1], 3, device=ids.device), ids]))
        mask = _attention_mask(text_mask, ids[:, 0], self.config.use_temporal_causal)
        kwargs = {"attention_mask": mask}
        for block in self.transformer_blocks:
            context, tokens = block(tokens, context, temb, rope, kwargs)
        for block in self.single_transformer_blocks:
            context, tokens = block(tokens, context, temb, rope, kwargs)
        out = self.proj_out(self.norm_out(tokens, temb))
        current_tokens = frames * (height // PATCH) * (width // PATCH)
        return _unpatchify(out[:, -current_tokens:], frames, height // PATCH, width // PATCH)


def _patchify(clip: torch.Tensor) -> torch.Tensor:
    """[B, C, T, H, W] -> [B, T*(H/2)*(W/2), 2*2*C] (channels fastest, then the patch's column, row)."""
    b, c, t, h, w = clip.shape
    x = clip.reshape(b, c, t, h // PATCH, PATCH, w // PATCH, PATCH)
    return x.permute(0, 2, 3, 5, 4, 6, 1).reshape(b, t * (h // PATCH) * (w // PATCH), PATCH * PATCH * c)


def _unpatchify(tokens: torch.Tensor, t: int, h: int, w: int) -> torch.Tensor:
    b = tokens.shape[0]
    x = tokens.reshape(b, t, h, w, PATCH, PATCH, -1)
    return x.permute(0, 6, 1, 2, 4, 3, 5).reshape(b, -1, t, h * PATCH, w * PATCH)


def _positions(clips: list[torch.Tensor], rows: int, columns: int) -> torch.Tensor:
    """(frame, row, column) of every image token, [N, 3]: frames count on across the clips; a
    clip on a coarser grid than the current one gets positions spread over the current grid."""
    device = clips[-1].device
    ids, start = [], 0
    for clip in clips:
        t, h, w = clip.shape[2], clip.shape[3] // PATCH, clip.shape[4] // PATCH
        row = _spread(rows, h, device)
        column = _spread(columns, w, device)
        grid = torch.stack(torch.meshgrid(torch.arange(start, start + t, device=device, dtype=torch.float32), row,
                                          column, indexing="ij"), dim=-1)
        ids.append(grid.reshape(-1, 3))
        start += t
    return torch.cat(ids)


def _spread(full: int, size: int, device) -> torch.Tensor:
    positions = torch.arange(full, device=device, dtype=torch.float32)
    if size == full:
        return positions
    return F.interpolate(positions[None, None], size=size, mode="linear")[0, 0]


def _attention_mask(text_mask: torch.Tensor, frames: torch.Tensor, causal: bool) -> torch.Tensor:
    """[B, 1, L, L] booleans, True where a query token may attend to a key token: text padding only
    to padding and real tokens only to real ones; with `causal`, no token to a later frame (text
    counts as frame 0)."""
    batch = text_mask.shape[0]
    real = torch.cat([text_mask.bool(), torch.ones(batch, frames.shape[0], dtype=torch.bool,
                                                     device=text_mask.device)], dim=1)
    mask = real[:, :, None] == real[:, None, :]
    if causal:
        time = torch.cat([torch.zeros(text_mask.shape[1], device=frames.device), frames])
        mask = mask & (time[:, None] >= time[None, :])[None]
    return mask[:, None]
