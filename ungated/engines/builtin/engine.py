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
from . import tracks, world
from .net import Tokenizer, to_uint8
from .sampler import Cancelled, sample_euler, shifted_times
from .weights import SHIPPED_DIR, BuiltinModel, is_model_dir, load_model


class BuiltinEngine(Engine):
    id = "builtin"
    title = "ungated built-in (shapes world)"

    def __init__(self, model_dir: Path | None = None):
        self.model_dir = model_dir or SHIPPED_DIR
        self.model: BuiltinModel | None = None
        self._estimate: torch.Tensor | None = None  # the clean tracks as the sampler sees them now
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
            default_steps=32,
            default_guidance=1.0,  # measured best on held-out prompts (docs/builtin-model.md)
            max_steps=200,
            any_output_size=True,
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
            "It draws one or two circles, squares, triangles and stars in "
            f"{', '.join(world.COLORS)}; {', '.join(world.MOTIONS)} (a move slowly or quickly), "
            f"or {', '.join(world.RELATIONS)} each other; on a plain background."
        ]

    @torch.inference_mode()
    def preview(self) -> np.ndarray | None:
        if self._estimate is None:
            return None
        cfg = self.model.config
        middle = self.model.painter(self._estimate, cfg.frames, cfg.size)[0, cfg.frames // 2]
        return to_uint8(middle[None])[0]

    @torch.inference_mode()
    def generate(self, plan, seed: int, on_progress: ProgressFn, should_cancel: CancelFn) -> Iterator[np.ndarray]:
        self.load()
        model = self.model
        cfg = model.config
        tokenizer = Tokenizer(cfg.vocabulary, cfg.max_words)
        words = tokenizer([plan.request.prompt])
        no_words = tokenizer([plan.request.negative_prompt])
        frames = min(plan.frames, cfg.frames)
        # Captioned and caption-free predictions in one batch, for classifier-free guidance (at
        # guidance 1 the caption-free one drops out); the captions are encoded once for all steps.
        guided_batch = plan.guidance != 1
        texts = model.tracks.text(torch.cat([words, no_words]) if guided_batch else words)
        mask = tracks.value_mask(cfg.max_objects)

        def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            if guided_batch:
                captioned, caption_free = model.tracks(x.repeat(2, 1, 1), t.repeat(2), texts).chunk(2)
                velocity = (caption_free + plan.guidance * (captioned - caption_free)) * mask
            else:
                velocity = model.tracks(x, t, texts) * mask
            self._estimate = x - t[:, None, None] * velocity
            return velocity

        # 1. Sample the whole clip's object tracks from seeded noise.
        noise = torch.randn((1, *mask.shape), generator=torch.Generator().manual_seed(seed)) * mask
        try:
            sampled = sample_euler(
                guided, noise, shifted_times(plan.steps), on_progress, should_cancel
            )
        except Cancelled:
            raise GenerationCancelled() from None
        finally:
            self._estimate = None
        # 2. Paint the frames at the size they are written at: outlines are drawn, not scaled up.
        clip = model.painter(sampled, cfg.frames, plan.out_width)[0, :frames]
        yield from to_uint8(clip)
