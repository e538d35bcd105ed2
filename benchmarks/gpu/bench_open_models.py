"""Seconds per denoising step and peak GPU memory for full-size open-model transformers with
random weights (the same speed as the real weights), plain diffusers vs ungated's options, in one run.

    python benchmarks/gpu/bench_open_models.py --model wan2.1-t2v-14b --steps 6
    python benchmarks/gpu/bench_open_models.py --model ltx-video-13b --json out.json
    python benchmarks/gpu/bench_open_models.py --model wan2.1-t2v-1.3b --tiny   # CPU smoke test

Only the denoising loop is timed: the pipeline gets random prompt embeddings and returns latents,
so the text encoder and VAE are not built. Guidance is on (two transformer passes per step), as
in real use. The first step is warm-up and is not counted.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from ungated.engines.base import EngineOptions
from ungated.engines.open import memory, speed
from ungated.engines.open.models import OPEN_MODELS

# Published transformer configs (diffusers' config.json of each repo) and text-embedding shapes.
FULL = {
    "wan2.1-t2v-14b": ("WanTransformer3DModel", dict(
        patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=16, out_channels=16,
        text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024), (512, 4096)),
    "wan2.1-t2v-1.3b": ("WanTransformer3DModel", dict(
        patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
        text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024), (512, 4096)),
    "cogvideox-5b": ("CogVideoXTransformer3DModel", dict(
        num_attention_heads=48, attention_head_dim=64, in_channels=16, out_channels=16, time_embed_dim=512,
        text_embed_dim=4096, num_layers=42, sample_width=90, sample_height=60, sample_frames=49, patch_size=2,
        temporal_compression_ratio=4, max_text_seq_length=226, use_rotary_positional_embeddings=True), (226, 4096)),
    "ltx-video-13b": ("LTXVideoTransformer3DModel", dict(
        in_channels=128, out_channels=128, patch_size=1, patch_size_t=1, num_attention_heads=32,
        attention_head_dim=128, cross_attention_dim=4096, num_layers=48, caption_channels=4096), (128, 4096)),
}
TINY = {  # the same classes at toy sizes, to check this script on a CPU
    "WanTransformer3DModel": dict(num_attention_heads=2, attention_head_dim=12, text_dim=32, ffn_dim=32, num_layers=2),
    "CogVideoXTransformer3DModel": dict(num_attention_heads=2, attention_head_dim=16, text_embed_dim=32,
                                        time_embed_dim=8, num_layers=2),
    "LTXVideoTransformer3DModel": dict(num_attention_heads=4, attention_head_dim=8, cross_attention_dim=32,
                                       caption_channels=32, num_layers=2),
}
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "4090": 165.0}


def build_pipeline(model_id: str, tiny: bool, device: str):
    import diffusers

    model = OPEN_MODELS[model_id]
    class_name, config, text_shape = FULL[model_id]
    if tiny:
        config = config | TINY[class_name]
        text_shape = (text_shape[0], 32)
    torch.set_default_dtype(torch.bfloat16 if device == "cuda" else torch.float32)
    with torch.device(device):  # built in place, in bf16: a 14B model never exists in fp32
        transformer = getattr(diffusers, class_name)(**config).eval()
    torch.set_default_dtype(torch.float32)
    pipe_class = getattr(diffusers, model.family.pipelines["t2v"])
    scheduler = {"Wan": diffusers.UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                                           flow_shift=5.0),
                 "CogVideoX": diffusers.CogVideoXDPMScheduler(timestep_spacing="trailing"),
                 "LTX-Video": diffusers.FlowMatchEulerDiscreteScheduler()}[model.family.name]
    components = {"transformer": transformer, "scheduler": scheduler}
    for name in pipe_class._optional_components + ["vae", "text_encoder", "tokenizer"]:
        if name in pipe_class.__init__.__code__.co_varnames:
            components.setdefault(name, None)
    pipe = pipe_class(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe, model, text_shape


def call_arguments(pipe, model, text_shape, steps: int, tiny: bool) -> dict:
    width, height = (64, 64) if tiny else model.sizes[0]
    frames = 9 if tiny else model.default_frames
    dtype = pipe.transformer.dtype
    embeds = torch.randn(1, *text_shape, dtype=dtype, generator=torch.Generator().manual_seed(0))
    arguments = dict(prompt_embeds=embeds, negative_prompt_embeds=torch.zeros_like(embeds), height=height, width=width,
                     num_frames=frames, num_inference_steps=steps, guidance_scale=5.0, output_type="latent",
                     generator=torch.Generator().manual_seed(0))
    if model.family.name == "LTX-Video":
        mask = torch.ones(1, text_shape[0], dtype=torch.long)
        arguments |= dict(prompt_attention_mask=mask, negative_prompt_attention_mask=mask)
    return arguments


def time_steps(pipe, arguments: dict, device: str) -> list[float]:
    stamps = []

    def mark(_pipe, _index, _timestep, tensors):
        if device == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
        return tensors

    start = time.perf_counter()
    pipe(**arguments, callback_on_step_end=mark)
    stamps.insert(0, start)
    return [b - a for a, b in zip(stamps, stamps[1:])]


def flops_per_step(transformer, tokens: int, text_tokens: int) -> float:
    """Matmul FLOPs of one guided step: 2 passes x (2 x params x tokens + self-attention's two
    token-by-token products)."""
    params = sum(p.numel() for p in transformer.parameters())
    config = transformer.config
    width = config.num_attention_heads * config.attention_head_dim
    layers = config.num_layers
    return 2 * (2 * params * tokens + 4 * layers * width * (tokens + text_tokens) ** 2)


def latent_tokens(model, tiny: bool) -> int:
    width, height = (64, 64) if tiny else model.sizes[0]
    frames = 9 if tiny else model.default_frames
    spatial, temporal = {"Wan": (16, 4), "CogVideoX": (16, 4), "LTX-Video": (32, 8)}[model.family.name]
    per_frame = (width // spatial) * (height // spatial)
    return ((frames - 1) // temporal + 1) * per_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(FULL), required=True)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--tiny", action="store_true", help="toy-size transformer, runs on a CPU")
    parser.add_argument("--setups", default="plain,compile,fast,fast+first-block,fast+taylorseer",
                        help="comma-separated: plain, compile, fast, fast+<cache>, mode:<offload mode>")
    parser.add_argument("--attention", default="_native_cudnn", help="attention backend of the fast path")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    gpu = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    peak = next((tflops for key, tflops in PEAK_BF16_TFLOPS.items() if key in gpu), None)
    results = []
    for setup in args.setups.split(","):
        pipe, model, text_shape = build_pipeline(args.model, args.tiny, device)
        flops = flops_per_step(pipe.transformer, latent_tokens(model, args.tiny), text_shape[0])
        options = EngineOptions()
        if setup.startswith("mode:"):
            memory.apply(pipe, memory.MemoryPlan(setup[5:], False, False, "benchmark"),
                         memory.Hardware(device, gpu, 0))
        else:
            if device == "cuda":
                pipe.to("cuda")
            if setup == "compile":
                options = EngineOptions(compile=True)
            elif setup.startswith("fast"):
                cache = setup.split("+")[1] if "+" in setup else "none"
                options = EngineOptions(compile=device == "cuda", attention=args.attention if device == "cuda"
                                        else None, cache=cache)
            speed.apply(pipe, options)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        steps = time_steps(pipe, call_arguments(pipe, model, text_shape, args.steps, args.tiny), device)
        per_step = sum(steps[1:]) / len(steps[1:])
        row = {"setup": setup, "s_per_step": round(per_step, 4), "first_step_s": round(steps[0], 2),
               "peak_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2) if device == "cuda" else None,
               "tflops": round(flops / per_step / 1e12, 1),
               "mfu": round(flops / per_step / 1e12 / peak, 3) if peak else None}
        results.append(row)
        print(json.dumps(row), flush=True)
        del pipe
        if device == "cuda":
            torch.cuda.empty_cache()
    plain = next((r for r in results if r["setup"] == "plain"), None)
    print(f"\n{args.model} on {gpu}, {args.steps} steps (first not counted), torch {torch.__version__}")
    print("| setup | s/step | vs plain | peak GB | TFLOP/s | MFU |\n|---|---|---|---|---|---|")
    for r in results:
        ratio = f"{plain['s_per_step'] / r['s_per_step']:.2f}x" if plain else "-"
        print(f"| {r['setup']} | {r['s_per_step']} | {ratio} | {r['peak_gb']} | {r['tflops']} | {r['mfu']} |")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"model": args.model, "gpu": gpu, "steps": args.steps, "results": results}, out, indent=2)


if __name__ == "__main__":
    main()
