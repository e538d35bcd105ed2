"""Full-size open-model folders with random weights, in the real diffusers layout.

Speed and memory do not depend on weight values, so a folder built here runs exactly as long
and takes as much memory as the published weights, through the same loading code
(`ungated generate --model ID --model-path FOLDER`). The configs are the published ones
(each repo's config.json); the tokenizer is a small word list (the pipelines pad every prompt
to the model's full text length, so the text encoder does the same work).

    python benchmarks/fullsize.py ltx-video /data/fullsize        # writes /data/fullsize/ltx-video
    python benchmarks/fullsize.py --list

Weights are written in bfloat16, as the repos publish them. The large text encoders (T5-XXL,
UMT5-XXL) are written once per kind and linked into each folder that uses them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

WORDS = ("a the of on in and with red blue green cat dog fox bird car sea beach city street rain sun "
         "running walking flying slowly camera shot video").split()

T5_XXL = dict(d_model=4096, d_ff=10240, d_kv=64, num_heads=64, num_layers=24, vocab_size=32128,
              feed_forward_proj="gated-gelu", relative_attention_num_buckets=32, relative_attention_max_distance=128,
              dense_act_fn="gelu_new", is_gated_act=True)
UMT5_XXL = T5_XXL | dict(vocab_size=256384)

# Per model id: the pipeline class, its transformer and VAE (class, published config), its
# scheduler (class, config) and its text encoder kind.
MODELS = {
    "ltx-video": dict(  # Lightricks/LTX-Video-0.9.5
        pipeline="LTXPipeline", text_encoder="t5-xxl",
        transformer=("LTXVideoTransformer3DModel", dict(
            in_channels=128, out_channels=128, patch_size=1, patch_size_t=1, num_attention_heads=32,
            attention_head_dim=64, cross_attention_dim=2048, num_layers=28, activation_fn="gelu-approximate",
            qk_norm="rms_norm_across_heads", norm_elementwise_affine=False, norm_eps=1e-6, caption_channels=4096,
            attention_bias=True, attention_out_bias=True)),
        vae=("AutoencoderKLLTXVideo", dict(
            in_channels=3, out_channels=3, latent_channels=128, block_out_channels=(128, 256, 512, 1024, 2048),
            down_block_types=("LTXVideo095DownBlock3D",) * 4, decoder_block_out_channels=(256, 512, 1024),
            layers_per_block=(4, 6, 6, 2, 2), decoder_layers_per_block=(5, 5, 5, 5),
            spatio_temporal_scaling=(True,) * 4, decoder_spatio_temporal_scaling=(True,) * 3,
            decoder_inject_noise=(False,) * 4, downsample_type=("spatial", "temporal", "spatiotemporal",
                                                                 "spatiotemporal"),
            upsample_residual=(True,) * 3, upsample_factor=(2,) * 3, timestep_conditioning=True, patch_size=4,
            patch_size_t=1, resnet_norm_eps=1e-6, scaling_factor=1.0, encoder_causal=True, decoder_causal=False,
            spatial_compression_ratio=32, temporal_compression_ratio=8)),
        scheduler=("FlowMatchEulerDiscreteScheduler", dict(use_dynamic_shifting=False)),
    ),
    "wan2.1-t2v-1.3b": dict(  # Wan-AI/Wan2.1-T2V-1.3B-Diffusers
        pipeline="WanPipeline", text_encoder="umt5-xxl",
        transformer=("WanTransformer3DModel", dict(
            patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
            text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
            qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)),
        vae=("AutoencoderKLWan", dict(base_dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
                                      temperal_downsample=[False, True, True])),
        scheduler=("UniPCMultistepScheduler", dict(prediction_type="flow_prediction", use_flow_sigmas=True,
                                                   flow_shift=3.0, num_train_timesteps=1000)),
    ),
    "cogvideox-2b": dict(  # THUDM/CogVideoX-2b
        pipeline="CogVideoXPipeline", text_encoder="t5-xxl",
        transformer=("CogVideoXTransformer3DModel", dict(
            num_attention_heads=30, attention_head_dim=64, in_channels=16, out_channels=16, time_embed_dim=512,
            text_embed_dim=4096, num_layers=30, sample_width=90, sample_height=60, sample_frames=49, patch_size=2,
            temporal_compression_ratio=4, max_text_seq_length=226, use_rotary_positional_embeddings=False,
            use_learned_positional_embeddings=False)),
        vae=("AutoencoderKLCogVideoX", dict(scaling_factor=1.15258426)),
        scheduler=("CogVideoXDDIMScheduler", dict(timestep_spacing="trailing", snr_shift_scale=3.0,
                                                  rescale_betas_zero_snr=True, prediction_type="v_prediction",
                                                  beta_schedule="scaled_linear", beta_start=0.00085,
                                                  beta_end=0.012, clip_sample=False, set_alpha_to_one=True)),
    ),
}
# Rows that share another row's folder: a LoRA fused at load or the same weights at other settings.
SAME_WEIGHTS = {"wan2.1-t2v-1.3b-causvid": "wan2.1-t2v-1.3b"}


def randomised(module: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """Every parameter of a module built on the meta device, given random values (std 0.02) in
    dtype; buffers (rotary tables and the like) were computed at construction and are kept."""
    from accelerate.utils import set_module_tensor_to_device

    generator = torch.Generator().manual_seed(0)
    for name, parameter in list(module.named_parameters()):
        value = torch.empty(parameter.shape, dtype=dtype).normal_(0.0, 0.02, generator=generator)
        set_module_tensor_to_device(module, name, "cpu", value=value, dtype=dtype)
    return module.eval()


def build(cls, config: dict, dtype: torch.dtype = torch.bfloat16):
    from accelerate import init_empty_weights

    with init_empty_weights():
        module = cls.from_config(config) if hasattr(cls, "from_config") else cls(config)
    return randomised(module, dtype)


def tokenizer():
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [(f"\u2581{w}", -1.0) for w in WORDS]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def text_encoder_folder(kind: str, root: Path) -> Path:
    """The shared text encoder of a kind, built once under root/_shared."""
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    folder = root / "_shared" / kind
    if (folder / "config.json").exists():
        return folder
    config_cls, model_cls = (UMT5Config, UMT5EncoderModel) if kind == "umt5-xxl" else (T5Config, T5EncoderModel)
    config = config_cls(**(UMT5_XXL if kind == "umt5-xxl" else T5_XXL))
    print(f"building {kind} ({model_cls.__name__})", file=sys.stderr)
    build(model_cls, config).save_pretrained(folder, max_shard_size="5GB")
    return folder


def write(model_id: str, root: Path) -> Path:
    import diffusers

    spec = MODELS[model_id]
    folder = root / model_id
    if (folder / "model_index.json").exists():
        return folder
    pipeline_cls = getattr(diffusers, spec["pipeline"])
    components = {"tokenizer": tokenizer(), "text_encoder": None}
    for name in ("transformer", "vae"):
        class_name, config = spec[name]
        print(f"building {model_id} {name} ({class_name})", file=sys.stderr)
        components[name] = build(getattr(diffusers, class_name), config)
    class_name, config = spec["scheduler"]
    components["scheduler"] = getattr(diffusers, class_name).from_config(config)
    pipeline_cls(**components).save_pretrained(folder, max_shard_size="5GB")
    # The text encoder: linked from the shared copy, and named in model_index.json as the repo does.
    shared = text_encoder_folder(spec["text_encoder"], root)
    (folder / "text_encoder").symlink_to(shared.resolve(), target_is_directory=True)
    index = json.loads((folder / "model_index.json").read_text())
    index["text_encoder"] = ["transformers", "UMT5EncoderModel" if spec["text_encoder"] == "umt5-xxl"
                             else "T5EncoderModel"]
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))
    return folder


def folder_for(model_id: str, root: Path) -> Path:
    return write(SAME_WEIGHTS.get(model_id, model_id), root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", choices=sorted(MODELS) + sorted(SAME_WEIGHTS))
    parser.add_argument("root", nargs="?", type=Path, default=Path("fullsize"))
    parser.add_argument("--list", action="store_true", help="list the models this script builds")
    args = parser.parse_args()
    if args.list or args.model is None:
        print("\n".join(sorted(MODELS) + sorted(SAME_WEIGHTS)))
        return
    print(folder_for(args.model, args.root))


if __name__ == "__main__":
    main()
