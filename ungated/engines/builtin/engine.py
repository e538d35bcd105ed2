"""The built-in engine: the project's own small model of the shapes world, shipped in the package.

    >>> engine = BuiltinEngine()
    >>> engine.load()
    >>> frames = engine.generate(plan, seed=7, on_progress=print, should_cancel=lambda: False)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ...errors import GenerationCancelled, ModelUnavailable
from ..base import CancelFn, Capabilities, Engine, ProgressFn
from . import world
from .net import Tokenizer
from .sampler import Cancelled, sample_euler, shifted_times
from .weights import SHIPPED_DIR, BuiltinModel, is_model_dir, load_model


class BuiltinEngine(Engine):
    id = "builtin"
    title = "ungated built-in (shapes world)"

    def __init__(self, model_dir: Path | None = None):
        self.model_dir = model_dir or SHIPPED_DIR
        self.model: BuiltinModel | None = None
        self.capabilities = Capabilities(
            sizes=((64, 64),),
            fps=(8,),
            default_fps=8,
            frames_min=16,
            frames_max=16,
            frames_step=1,
            default_seconds=2.0,
            default_aspect="1:1",
            default_resolution="480p",
            default_steps=16,
            default_guidance=2.0,
            max_steps=200,
            upscale_output=True,
        )

    def weights_present(self) -> bool:
        return is_model_dir(self.model_dir)

    def load(self) -> None:
        if self.model is not None:
            return
        if not self.weights_present():
            raise ModelUnavailable(f"no built-in model weights in {self.model_dir}; run `ungated train builtin`")
        self.model = load_model(self.model_dir)

    def prompt_notes(self, prompt: str) -> list[str]:
        unknown = Tokenizer(tuple(world.vocabulary()), 0).unknown_words(prompt)
        if not unknown:
            return []
        return [
            f"the built-in model does not know the words: {', '.join(dict.fromkeys(unknown))}. "
            "It draws circles, squares, triangles and stars in "
            f"{', '.join(world.COLORS)}, {', '.join(world.MOTIONS)}, on a plain background."
        ]

    @torch.inference_mode()
    def generate(self, plan, seed: int, on_progress: ProgressFn, should_cancel: CancelFn) -> Iterator[np.ndarray]:
        self.load()
        model = self.model
        cfg = model.config
        tokenizer = Tokenizer(cfg.vocabulary, cfg.max_words)
        words = tokenizer([plan.request.prompt])
        no_words = tokenizer([plan.request.negative_prompt])
        noise = torch.Generator().manual_seed(seed)
        times = shifted_times(plan.steps)
        frames = min(plan.frames, cfg.frames)
        # The frames before the one being drawn, oldest first; zeros before the clip starts.
        previous = torch.zeros(1, cfg.context_frames, 3, cfg.layout_size, cfg.layout_size)
        # Captioned and caption-free predictions in one batch, for classifier-free guidance; the
        # captions are encoded once for all frames and steps.
        both_texts = model.layout.text(torch.cat([words, no_words]))
        for k in range(frames):
            index = torch.tensor([k, k])
            previous_pair = previous.repeat(2, 1, 1, 1, 1)

            def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                pair = model.layout(x.repeat(2, 1, 1, 1), previous_pair, index, t.repeat(2), both_texts)
                captioned, caption_free = pair.chunk(2)
                return caption_free + plan.guidance * (captioned - caption_free)

            def progress(step: int, total: int) -> None:
                on_progress(k * total + step, frames * total)

            # 1. Draw this frame's layout from seeded noise, given the frames before it.
            start = torch.randn((1, 3, cfg.layout_size, cfg.layout_size), generator=noise)
            try:
                layout = sample_euler(guided, start, times, progress, should_cancel)
            except Cancelled:
                raise GenerationCancelled() from None
            previous = torch.cat([previous[:, 1:], layout[:, None]], dim=1)
            # 2. Paint the full-size frame from its layout and hand it on at once.
            frame = model.decoder(layout, words, torch.tensor([k / (cfg.frames - 1)]))[0]
            yield ((frame.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
