"""How much each kind of caption word moves the built-in denoiser's prediction.

Swaps one word of a caption (color, size, shape, motion, background) and prints the mean
absolute change of the predicted velocity at a few noise levels. A word the model ignores
scores near zero: a quick check of what a training run has learned to follow.

    python scripts/word_influence.py [--model-dir DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ungated.engines.builtin.net import Tokenizer
from ungated.engines.builtin.weights import SHIPPED_DIR, load_model

BASE = "a large red circle moving right on a blue background"
SWAPS = {
    "color": ("red", "green"),
    "size": ("large", "small"),
    "shape": ("circle", "square"),
    "motion": ("moving right", "moving down"),
    "background": ("blue background", "white background"),
}
TIMES = (1.0, 0.7, 0.4)


@torch.inference_mode()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=SHIPPED_DIR)
    parser.add_argument("--samples", type=int, default=8, help="noise draws averaged over")
    args = parser.parse_args()
    model = load_model(args.model_dir)
    cfg = model.config
    tokenizer = Tokenizer(cfg.vocabulary, cfg.max_words)
    shape = (args.samples, cfg.latent_channels, cfg.frames, cfg.latent_size, cfg.latent_size)
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    def predict(caption: str, t: float) -> torch.Tensor:
        return model.denoiser(noise, torch.full((args.samples,), t), tokenizer([caption] * args.samples))

    base = {t: predict(BASE, t) for t in TIMES}  # the unswapped prediction, shared by every row
    print("word swapped".ljust(50) + "".join(f"t={t:<8}" for t in TIMES))
    for kind, (old, new) in SWAPS.items():
        changes = [(predict(BASE.replace(old, new), t) - base[t]).abs().mean().item() for t in TIMES]
        print(f"{kind}: {old} -> {new}".ljust(50) + "".join(f"{c:<10.4f}" for c in changes))


if __name__ == "__main__":
    main()
