"""Built-in clip model training speed on this machine's CPU: steps per second and clips per second.

Runs the trainer's own step (flow-matching loss, AdamW, EMA) on random clips at the model's sizes
for a 1:1 and a 16:9 dataset (64x64 and 112x64, 16 frames), in bfloat16 autocast (the default)
and in float32 (the baseline), side by side, each after warm-up steps.

    python benchmarks/bench_train.py [--steps 20] [--batch 4]
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

from ungated.engines.builtin.clipnet import ClipConfig, ClipNet
from ungated.engines.builtin.net import Tokenizer
from ungated.train.clips import flow_loss
from ungated.train.common import optimise, update_ema

CAPTIONS = ["an orange sun setting over the sea", "snow falling at night", "a red ball bouncing across the grass"]


def steps_per_second(config: ClipConfig, batch: int, steps: int, bf16: bool) -> float:
    torch.manual_seed(0)
    net = ClipNet(config)
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=5e-4)
    tokenizer = Tokenizer(config.vocabulary, config.max_words)
    clips = torch.rand(batch, config.frames, 3, config.height, config.width) * 2 - 1
    captions = [CAPTIONS[i % len(CAPTIONS)] for i in range(batch)]
    for step in range(steps + 3):  # three warm-up steps
        if step == 3:
            started = time.perf_counter()
        loss = flow_loss(net, tokenizer, clips, captions, torch.Generator().manual_seed(step), bf16=bf16)
        optimise(opt, net.parameters(), loss, 5e-4)
        update_ema(ema, net, step, 0.995)
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    words = tuple(sorted({w for c in CAPTIONS for w in Tokenizer.words(c)}))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, {args.steps} steps")
    print("| size | float32 steps/s | bfloat16 steps/s | bf16 / fp32 | clips/s (bf16) | 1,500 steps (bf16) |")
    print("|---|---|---|---|---|---|")
    for width, height in ((64, 64), (112, 64)):
        config = ClipConfig(vocabulary=words, width=width, height=height)
        fp32 = steps_per_second(config, args.batch, args.steps, bf16=False)
        bf16 = steps_per_second(config, args.batch, args.steps, bf16=True)
        print(f"| {width}x{height}, 16 frames | {fp32:.2f} | {bf16:.2f} | {bf16 / fp32:.2f}x | "
              f"{bf16 * args.batch:.1f} | {1500 / bf16 / 60:.0f} min |")


if __name__ == "__main__":
    main()
