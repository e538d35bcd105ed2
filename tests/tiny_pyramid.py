"""A tiny, randomly initialised Pyramid Flow folder in the published layout (the two transformers,
the causal VAE, CLIP and T5 with their tokenizers), built in code; nothing is downloaded."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ungated.engines.pyramid_flow.transformer import PyramidFluxTransformer
from ungated.engines.pyramid_flow.vae import CausalVideoVAE

from .tiny_pipelines import WORDS, clip_tokenizer, t5_encoder, t5_tokenizer

T5_WIDTH, CLIP_WIDTH = 32, 8
TINY_TRANSFORMER = dict(num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
                        joint_attention_dim=T5_WIDTH, pooled_projection_dim=CLIP_WIDTH, axes_dims_rope=(4, 6, 6))
TINY_VAE = dict(encoder_block_out_channels=(8, 8, 16, 16), decoder_block_out_channels=(8, 8, 16, 16),
                encoder_layers_per_block=(1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1),
                encoder_norm_num_groups=4, decoder_norm_num_groups=4)


def save_tiny_pyramid(folder: Path, seed: int = 0) -> Path:
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    for variant in ("384p", "768p"):
        PyramidFluxTransformer(**TINY_TRANSFORMER).save_pretrained(folder / f"diffusion_transformer_{variant}")
    vae = CausalVideoVAE(**TINY_VAE)
    vae.save_pretrained(folder / "causal_video_vae", safe_serialization=False)  # published as a .bin
    clip = CLIPTextModel(CLIPTextConfig(hidden_size=CLIP_WIDTH, intermediate_size=16, num_hidden_layers=1,
                                        num_attention_heads=2, vocab_size=len(WORDS) + 8, max_position_embeddings=77,
                                        bos_token_id=0, eos_token_id=1, pad_token_id=1))
    clip.save_pretrained(folder / "text_encoder")
    clip_tokenizer().save_pretrained(folder / "tokenizer")
    t5_encoder(T5_WIDTH).save_pretrained(folder / "text_encoder_2")
    t5_tokenizer().save_pretrained(folder / "tokenizer_2")
    return folder


def published_config(name: str) -> dict:
    """The transformer's or the VAE's config.json as published."""
    return json.loads((Path(__file__).parent / "facts" / f"pyramid_flow_{name}_config.json").read_text())
