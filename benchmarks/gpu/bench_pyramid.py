"""Pyramid Flow miniFLUX's transformer at full size with random weights (the same speed as the real
one): sampling step time at 384p (640x384) and 768p (1280x768), and peak GPU memory per memory mode.

    python benchmarks/gpu/bench_pyramid.py                 # both sizes, every mode
    python benchmarks/gpu/bench_pyramid.py --json out.json
    python benchmarks/gpu/bench_pyramid.py --tiny          # CPU smoke test of this script

A step is one transformer call with classifier-free guidance (batch 2), as the engine makes it, at
each of the three pyramid stages: for the first frame (no history) and for the last frame of the
longest clip the size makes (5 s at 384p: 15 frames of history; 10 s at 768p: 30), whose history
the temporal pyramid holds at lower resolutions. The clip time is estimated from those: the
published settings (20 steps a stage for the first frame, 10 for each later one), with each later
frame costing the mean of the first and the last. Modes, side by side:

    none        the transformer on the GPU (the baseline)
    group       weights streamed to the GPU leaf by leaf, overlapped with compute (diffusers' group offload)
    sequential  weights moved to the GPU module by module (accelerate's cpu_offload)
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from ungated.engines.pyramid_flow.sampler import STAGES, history
from ungated.engines.pyramid_flow.transformer import PyramidFluxTransformer

SIZES = {"384p": (640, 384, 16), "768p": (1280, 768, 31)}  # width, height, latent frames of the longest clip
TINY = dict(num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
            pooled_projection_dim=8, axes_dims_rope=(4, 6, 6))
FIRST_STEPS, LATER_STEPS = 20, 10


def build(tiny: bool, mode: str, device: torch.device, dtype: torch.dtype) -> PyramidFluxTransformer:
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # built in the run's precision: no 8 GB float32 copy first
    try:
        net = PyramidFluxTransformer(**(TINY if tiny else {})).eval()
    finally:
        torch.set_default_dtype(default)
    if mode == "group":
        from diffusers.hooks import apply_group_offloading

        apply_group_offloading(net, onload_device=device, offload_type="leaf_level", use_stream=True)
    elif mode == "sequential":
        from accelerate import cpu_offload

        cpu_offload(net, execution_device=device)
    else:
        net.to(device)
    return net


def step_seconds(net, clips, text, mask, pooled, repeats: int, sync) -> float:
    timestep = torch.full((2,), 500.0, device=clips[-1].device, dtype=clips[-1].dtype)
    with torch.inference_mode():
        for _ in range(2):  # warm-up
            net(clips, timestep, text, mask, pooled)
        sync()
        start = time.perf_counter()
        for _ in range(repeats):
            net(clips, timestep, text, mask, pooled)
        sync()
    return (time.perf_counter() - start) / repeats


def measure(size: str, mode: str, tiny: bool, repeats: int) -> dict:
    cuda = torch.cuda.is_available() and not tiny
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda else torch.float32
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    width, height, frames = SIZES[size]
    if tiny:
        width, height, frames = 256, 128, 4
    net = build(tiny, mode, device, dtype)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    channels, text_width = net.latent_channels, net.config.joint_attention_dim
    text = torch.randn(2, 128, text_width, device=device, dtype=dtype)
    mask = torch.ones(2, 128, dtype=torch.long, device=device)
    pooled = torch.randn(2, net.config.pooled_projection_dim, device=device, dtype=dtype)
    past = torch.randn(2, channels, frames - 1, height // 8, width // 8, device=device, dtype=dtype)
    result = {"size": size, "mode": mode, "first": [], "last": []}
    for stage in range(STAGES):
        scale = 2 ** (STAGES - 1 - stage)
        current = torch.randn(2, channels, 1, height // 8 // scale, width // 8 // scale, device=device, dtype=dtype)
        result["first"].append(step_seconds(net, [current], text, mask, pooled, repeats, sync))
        result["last"].append(step_seconds(net, [*history(past, stage), current], text, mask, pooled, repeats, sync))
    first_frame = sum(result["first"]) * FIRST_STEPS
    later_frame = (sum(result["first"]) + sum(result["last"])) / 2 * LATER_STEPS
    result["clip_seconds"] = first_frame + (frames - 1) * later_frame
    result["peak_gb"] = torch.cuda.max_memory_allocated() / 1e9 if cuda else None
    del net
    if cuda:
        torch.cuda.empty_cache()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="384p,768p")
    parser.add_argument("--modes", default="none,group,sequential")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tiny", action="store_true", help="toy sizes on the CPU: check the script runs")
    parser.add_argument("--json")
    args = parser.parse_args()
    modes = ["none"] if args.tiny else args.modes.split(",")
    rows = [measure(size, mode, args.tiny, args.repeats) for size in args.sizes.split(",") for mode in modes]
    print(f"{'size':5} {'mode':10} {'first frame ms/step (stage 1/2/3)':36} {'last frame ms/step':24} "
          f"{'clip s (est.)':>13} {'peak GB':>8} {'vs none':>8}")
    for row in rows:
        base = next(r for r in rows if r["size"] == row["size"] and r["mode"] == "none")
        first = "/".join(f"{s * 1000:.0f}" for s in row["first"])
        last = "/".join(f"{s * 1000:.0f}" for s in row["last"])
        peak = f"{row['peak_gb']:.1f}" if row["peak_gb"] is not None else "-"
        print(f"{row['size']:5} {row['mode']:10} {first:36} {last:24} {row['clip_seconds']:13.1f} {peak:>8} "
              f"{row['clip_seconds'] / base['clip_seconds']:7.2f}x")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=2)


if __name__ == "__main__":
    main()
