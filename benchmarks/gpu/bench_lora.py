"""LoRA training step time and peak GPU memory for full-size LTX-Video 2B and Wan 2.1 1.3B
transformers with random weights (the same speed as the real ones), per memory option, in one run.

    python benchmarks/gpu/bench_lora.py --model ltx-video --steps 6
    python benchmarks/gpu/bench_lora.py --model wan2.1-t2v-1.3b --json out.json
    python benchmarks/gpu/bench_lora.py --model wan2.1-t2v-1.3b --tiny   # CPU smoke test

Each step is the trainer's own (`ungated train lora`): the family's denoising loss on a batch of
latents at the training bucket (480p, 49 frames by default) with random text conditioning,
backward through the LoRA (rank 32 on the attention projections), and an optimiser step. The
text encoder and VAE are not built: their work is cached before training. The first two steps
are warm-up and are not counted. Options compared, side by side:

    bf16                  the base in bfloat16, no gradient checkpointing (the baseline)
    bf16 + checkpointing  the default of `ungated train lora`
    fp8 + checkpointing   --base fp8: the frozen weights stored in fp8
    nf4 + checkpointing   --base nf4 (bitsandbytes), with 8-bit AdamW
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from ungated.engines.open.models import OPEN_MODELS
from ungated.train.lora import attach_lora
from ungated.train.lora_families import TRAINING_FAMILIES

# Published transformer configs (diffusers' config.json of each repo) and text-embedding shapes.
FULL = {
    "ltx-video": ("LTXVideoTransformer3DModel", "LTXPipeline", dict(
        in_channels=128, out_channels=128, patch_size=1, patch_size_t=1, num_attention_heads=32,
        attention_head_dim=64, cross_attention_dim=2048, num_layers=28, caption_channels=4096), (128, 4096)),
    "wan2.1-t2v-1.3b": ("WanTransformer3DModel", "WanPipeline", dict(
        patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
        text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024), (512, 4096)),
}
TINY = {
    "WanTransformer3DModel": dict(num_attention_heads=2, attention_head_dim=12, text_dim=32, ffn_dim=32, num_layers=2),
    "LTXVideoTransformer3DModel": dict(num_attention_heads=4, attention_head_dim=8, cross_attention_dim=32,
                                       caption_channels=32, num_layers=2),
}
# (width, height, frames) of the latents for a 480p, 49-frame bucket: LTX 32x spatial / 8x temporal,
# Wan 8x / 4x, both with one extra latent frame for the first.
LATENTS = {"ltx-video": (22, 15, 7), "wan2.1-t2v-1.3b": (104, 60, 13)}
OPTIONS = {"bf16": ("bf16", False), "bf16 + checkpointing": ("bf16", True), "fp8 + checkpointing": ("fp8", True),
           "nf4 + checkpointing": ("nf4", True)}


def build(model_id: str, base: str, checkpointing: bool, tiny: bool, device: str, rank: int):
    import diffusers

    class_name, pipeline_name, config, _ = FULL[model_id]
    if tiny:
        config = config | TINY[class_name]
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    transformer_cls = getattr(diffusers, class_name)
    transformer = transformer_cls(**config).to(dtype)
    if base == "nf4":
        import tempfile

        from diffusers import BitsAndBytesConfig

        with tempfile.TemporaryDirectory() as folder:  # quantization happens on loading
            transformer.save_pretrained(folder)
            transformer = transformer_cls.from_pretrained(folder, torch_dtype=dtype, quantization_config=(
                BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype)))
    else:
        transformer.to(device)
    if base == "fp8":
        transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
    params = attach_lora(transformer, rank, rank, checkpointing)
    pipe = getattr(diffusers, pipeline_name)(scheduler=diffusers.FlowMatchEulerDiscreteScheduler(), vae=None,
                                             text_encoder=None, tokenizer=None, transformer=transformer)
    return pipe, params, dtype


def run(model_id: str, option: str, steps: int, tiny: bool, device: str, rank: int) -> dict:
    base, checkpointing = OPTIONS[option]
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    pipe, params, dtype = build(model_id, base, checkpointing, tiny, device, rank)
    family = TRAINING_FAMILIES[OPEN_MODELS[model_id].family.name]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    if base == "nf4":
        import bitsandbytes

        optimizer = bitsandbytes.optim.AdamW8bit(params, lr=1e-4)
    width, height, frames = (8, 6, 2) if tiny else LATENTS[model_id]
    channels = pipe.transformer.config.in_channels
    text_length, text_width = FULL[model_id][3]
    text_width = 32 if tiny else text_width
    latents = torch.randn(1, channels, frames, height, width, device=device, dtype=dtype)
    text = {"prompt_embeds": torch.randn(1, text_length, text_width, device=device, dtype=dtype),
            "prompt_attention_mask": torch.ones(1, text_length, device=device, dtype=torch.long)}
    times = []
    for step in range(steps + 2):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        loss = family.loss(pipe, latents, text, OPEN_MODELS[model_id].fps, torch.Generator().manual_seed(step))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    return {"model": model_id, "option": option, "seconds_per_step": sum(times[2:]) / steps, "peak_gb": peak,
            "lora_params_m": sum(p.numel() for p in params) / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(FULL), required=True)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--options", default=",".join(OPTIONS), help="comma-separated, from: " + ", ".join(OPTIONS))
    parser.add_argument("--tiny", action="store_true", help="toy sizes on the CPU, to check the script")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    results = []
    for option in args.options.split(","):
        if option.startswith("nf4") and device != "cuda":
            continue
        try:
            results.append(run(args.model, option, args.steps, args.tiny, device, args.rank))
        except torch.OutOfMemoryError:
            results.append({"model": args.model, "option": option, "seconds_per_step": None, "peak_gb": None})
        r = results[-1]
        print(f"{args.model:18} {option:22} "
              + (f"{r['seconds_per_step']:.3f} s/step" if r["seconds_per_step"] else "out of memory")
              + (f"  peak {r['peak_gb']:.1f} GB" if r.get("peak_gb") else ""), flush=True)
    baseline = results[0]["seconds_per_step"] if results and results[0]["seconds_per_step"] else None
    if baseline:
        for r in results:
            r["time_vs_bf16"] = r["seconds_per_step"] / baseline if r["seconds_per_step"] else None
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
