"""The built-in engine for a clip model trained on an artist's own clips (`ungated train builtin
--data DIR`): the model id stays "builtin", and `--model-path` names the trained folder.

    >>> engine = BuiltinClipsEngine(Path("my-model"))
    >>> frames = engine.generate(plan, seed=7, on_progress=print, should_cancel=lambda: False)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ...errors import GenerationCancelled, ModelUnavailable
from ..base import CancelFn, Capabilities, Engine, ProgressFn
from .clipnet import ClipConfig, ClipNet
from .net import Tokenizer, to_uint8
from .sampler import Cancelled, sample_euler, shifted_times
from .weights import CONFIG_FILE, is_model_dir, load_clip_model

DEFAULT_GUIDANCE = 3.0


def clip_capabilities(cfg: ClipConfig) -> Capabilities:
    """What a clip model makes: its one trained size, and clips of half or all its frames."""
    half = cfg.frames // 2
    aspect = "16:9" if cfg.width > cfg.height else "9:16" if cfg.height > cfg.width else "1:1"
    return Capabilities(
        sizes=((cfg.width, cfg.height),), fps=(cfg.fps,), default_fps=cfg.fps,
        frames_min=half, frames_max=cfg.frames, frames_step=half,
        default_seconds=cfg.frames / cfg.fps, default_aspect=aspect, default_resolution="360p",
        default_steps=32, default_guidance=DEFAULT_GUIDANCE, max_steps=200,
    )


def sample_clip(net: ClipNet, cfg: ClipConfig, prompt: str, negative: str, frames: int, seed: int, steps: int,
                guidance: float, on_step=lambda step, total: None, should_cancel=lambda: False,
                on_estimate=lambda estimate: None) -> torch.Tensor:
    """One clip [frames, 3, H, W] in [-1, 1], from seeded noise by guided Euler steps."""
    tokenizer = Tokenizer(cfg.vocabulary, cfg.max_words)
    guided_batch = guidance != 1
    words = tokenizer([prompt, negative] if guided_batch else [prompt])
    texts = net.text(words)
    noise = torch.randn((1, frames, 3, cfg.height, cfg.width), generator=torch.Generator().manual_seed(seed))

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if guided_batch:
            captioned, caption_free = net(x.repeat(2, 1, 1, 1, 1), t.repeat(2), texts).chunk(2)
            clean = caption_free + guidance * (captioned - caption_free)
        else:
            clean = net(x, t, texts)
        on_estimate(clean)
        return (x - clean) / t[:, None, None, None, None]  # the flow velocity (noise - clean); t > 0 here

    return sample_euler(velocity, noise, shifted_times(steps), on_step, should_cancel)[0].clamp(-1, 1)


class BuiltinClipsEngine(Engine):
    id = "builtin"
    title = "ungated built-in (trained on your clips)"

    def __init__(self, model_dir: Path):
        self.model_dir = model_dir
        self.config = ClipConfig.from_json((model_dir / CONFIG_FILE).read_text())
        self.capabilities = clip_capabilities(self.config)
        self.net: ClipNet | None = None
        self._estimate: torch.Tensor | None = None

    def weights_present(self) -> bool:
        return is_model_dir(self.model_dir)

    def load(self) -> None:
        if self.net is not None:
            return
        if not self.weights_present():
            raise ModelUnavailable(f"no model weights in {self.model_dir}; run `ungated train builtin --data DIR`")
        self.config, self.net = load_clip_model(self.model_dir)

    def prompt_notes(self, prompt: str, characters: tuple = ()) -> list[str]:
        unknown = Tokenizer(self.config.vocabulary, 0).unknown_words(prompt)
        if not unknown:
            return []
        known = ", ".join(self.config.vocabulary[:40]) + (" ..." if len(self.config.vocabulary) > 40 else "")
        return [f"this model was trained on captions without the words: {', '.join(dict.fromkeys(unknown))}. "
                f"It knows: {known}"]

    @torch.inference_mode()
    def preview(self) -> np.ndarray | None:
        if self._estimate is None:
            return None
        return to_uint8(self._estimate[0, self._estimate.shape[1] // 2][None])[0]

    @torch.inference_mode()
    def generate(self, plan, seed: int, on_progress: ProgressFn, should_cancel: CancelFn) -> Iterator[np.ndarray]:
        self.load()

        def keep(estimate: torch.Tensor) -> None:
            self._estimate = estimate

        try:
            clip = sample_clip(self.net, self.config, plan.request.prompt, plan.request.negative_prompt, plan.frames,
                               seed, plan.steps, plan.guidance, on_progress, should_cancel, keep)
        except Cancelled:
            raise GenerationCancelled() from None
        finally:
            self._estimate = None
        yield from to_uint8(clip)
