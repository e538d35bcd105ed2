"""The built-in engine: the project's own small model of the shapes world, shipped in the package.

    >>> engine = BuiltinEngine()
    >>> engine.load()
    >>> frames = engine.generate(plan, seed=7, on_progress=print, should_cancel=lambda: False)

It draws any size and aspect natively, 2 to 20 s at 8 to 30 fps, loops, and continues its own
clips: each clip's MP4 carries the scene it shows (the "ungated_scene" tag), and an extension
goes on from it by the motion law (motion.py), so nothing jumps at the seam.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import torch

from ...errors import GenerationCancelled, InvalidRequest, ModelUnavailable
from ...media.encode import read_metadata
from ...media.inputs import read_video
from ..base import CancelFn, Capabilities, Engine, ProgressFn
from . import motion, tracks, world
from .net import Tokenizer, to_uint8
from .sampler import Cancelled, sample_euler, shifted_times
from .weights import SHIPPED_DIR, BuiltinModel, is_model_dir, load_model

SCENE_TAG = "ungated_scene"
PAINT_FRAMES = 8  # frames painted at once: a 1080p clip is never held whole in memory
SCENE_KEYS = (*motion.PARAMS, "shape", "color", "present")
# Scenes the world never shows (objects passing through each other, or placed against the
# relation the caption names) are sampled again from the seed's next noise, up to this many
# times in all; the last is kept if none fits.
RESAMPLES = 8


class BuiltinEngine(Engine):
    id = "builtin"
    title = "ungated built-in (shapes world)"

    def __init__(self, model_dir: Path | None = None):
        self.model_dir = model_dir or SHIPPED_DIR
        self.model: BuiltinModel | None = None
        self._estimate: torch.Tensor | None = None  # the clean tracks as the sampler sees them now
        self._estimate_aspect = 1.0
        self._painted: np.ndarray | None = None  # the last frame painted, while painting
        # (plan, seed) -> (scene, clip seconds) sampled for it, until drawn: clip_tags() asks first
        self._scenes: dict[tuple, tuple[dict[str, torch.Tensor], float]] = {}
        self.capabilities = Capabilities(
            sizes=((854, 480),),
            fps=tuple(range(8, 31)),
            default_fps=24,
            seconds_range=(2.0, 20.0),
            default_seconds=5.0,
            default_aspect="16:9",
            default_resolution="480p",
            default_steps=32,
            default_guidance=1.0,  # measured best on held-out prompts (docs/builtin-model.md)
            max_steps=200,
            any_output_size=True,
            any_aspect=True,
            extend_input=True,
            loop=True,
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
        """While sampling, the scene as the sampler sees it now; while painting, the last frame painted."""
        if self._estimate is None:
            return self._painted
        scene = tracks.decode(self._estimate)
        width, height = (round(160 * self._estimate_aspect), 160) if self._estimate_aspect < 1 else (160, round(160 / self._estimate_aspect))
        width, height = max(width, 2), max(height, 2)
        paths = motion.simulate(scene, scene["shape"], torch.zeros(1), 2.0, width / height)
        return to_uint8(self.model.painter(scene, paths, width, height)[0])[0]

    def clip_tags(self, plan, seed: int) -> dict[str, str]:
        """The scene the clip will show, for the MP4's tags: what an extension goes on from."""
        scene, seconds = self._scene(plan, seed)
        numbers = {key: scene[key][0].tolist() for key in SCENE_KEYS}
        return {SCENE_TAG: json.dumps({**numbers, "background": scene["background"][0].tolist(), "seconds": seconds,
                                       "aspect": plan.width / plan.height, "loop": plan.request.loop})}

    @torch.inference_mode()
    def generate(self, plan, seed: int, on_progress: ProgressFn, should_cancel: CancelFn) -> Iterator[np.ndarray]:
        self.load()
        # Progress counts the sampler's steps, then the frames painted (PAINT_FRAMES a step):
        # a long 1080p clip spends most of its time painting (and being encoded as it goes).
        chunks = world.frame_times(plan.kept_frames + plan.frames, plan.fps)[plan.kept_frames:].split(PAINT_FRAMES)
        total = plan.steps + len(chunks)
        scene, seconds = self._scene(plan, seed, lambda step, _: on_progress(step, total), should_cancel)
        self._scenes.pop(self._key(plan, seed), None)
        if plan.request.extend:
            for image in read_video(plan.request.extend, plan.width, plan.height, plan.fps, plan.kept_frames):
                yield np.asarray(image.convert("RGB"))
        wraps = motion.wrapped(scene) if plan.request.loop else None
        for done, chunk in enumerate(chunks, start=plan.steps + 1):
            if should_cancel():
                raise GenerationCancelled()
            paths = motion.simulate(scene, scene["shape"], chunk, seconds, plan.width / plan.height, plan.request.loop)
            # Painted at the size the clip is written at: outlines are drawn, not scaled up.
            frames = self.model.painter.draw(scene, paths, plan.width, plan.height, wraps=wraps)
            yield from frames
            self._painted = frames[-1]
            try:
                on_progress(done, total)
            finally:
                self._painted = None

    @staticmethod
    def _key(plan, seed: int) -> tuple:
        return (plan.request, plan.width, plan.height, plan.frames, plan.fps, plan.steps, plan.guidance, seed)

    def _scene(self, plan, seed: int, on_progress: ProgressFn = lambda step, total: None,
               should_cancel: CancelFn = lambda: False) -> tuple[dict[str, torch.Tensor], float]:
        """The scene a clip shows and the length its moves are measured over: read from the clip
        an extension continues, else sampled (once per plan and seed, whoever asks first)."""
        if plan.request.extend:
            return scene_of(plan.request.extend, plan.width / plan.height)
        key = self._key(plan, seed)
        if key not in self._scenes:
            self._scenes = {key: (self._sample(plan, seed, on_progress, should_cancel), plan.frames / plan.fps)}
        return self._scenes[key]

    @torch.inference_mode()
    def _sample(self, plan, seed: int, on_progress: ProgressFn, should_cancel: CancelFn) -> dict[str, torch.Tensor]:
        self.load()
        model = self.model
        cfg = model.config
        tokenizer = Tokenizer(cfg.vocabulary, cfg.max_words)
        words = tokenizer([plan.request.prompt])
        no_words = tokenizer([plan.request.negative_prompt])
        # Captioned and caption-free predictions in one batch, for classifier-free guidance (at
        # guidance 1 the caption-free one drops out); the captions are encoded once for all steps.
        guided_batch = plan.guidance != 1
        texts = model.tracks.text(torch.cat([words, no_words]) if guided_batch else words)
        mask = tracks.value_mask(cfg.max_objects)
        self._estimate_aspect = plan.width / plan.height
        aspect = torch.full((2 if guided_batch else 1,), self._estimate_aspect)

        def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            if guided_batch:
                captioned, caption_free = model.tracks(x.repeat(2, 1, 1), t.repeat(2), texts, aspect).chunk(2)
                velocity = (caption_free + plan.guidance * (captioned - caption_free)) * mask
            else:
                velocity = model.tracks(x, t, texts, aspect) * mask
            self._estimate = x - t[:, None, None] * velocity
            return velocity

        noise_source = torch.Generator().manual_seed(seed)
        try:
            for attempt in range(RESAMPLES):
                noise = torch.randn((1, *mask.shape), generator=noise_source) * mask
                report = on_progress if attempt == 0 else lambda step, total: None
                scene = tracks.decode(sample_euler(guided, noise, shifted_times(plan.steps), report, should_cancel))
                if _fits(scene, self._estimate_aspect, plan.request.prompt):
                    break
        except Cancelled:
            raise GenerationCancelled() from None
        finally:
            self._estimate = None
        return scene


def _fits(scene: dict[str, torch.Tensor], aspect: float, prompt: str) -> bool:
    """Whether a sampled scene could be the world's: its objects keep apart, and where the
    caption places the first relative to the second ("... left of ..."), they are so placed."""
    present = scene["present"][0].tolist()
    shapes = [world.SHAPES[i] for i, here in zip(scene["shape"][0].tolist(), present) if here]
    numbers = [{name: float(scene[name][0, k]) for name in motion.PARAMS} for k, here in enumerate(present) if here]
    if not world.apart(shapes, numbers, aspect):
        return False
    named = [r for r in world.RELATIONS if f" {r} " in f" {' '.join(Tokenizer.words(prompt))} "]
    return len(named) != 1 or len(numbers) != 2 or world.placed(named[0], *numbers, aspect)


def scene_of(clip: Path, aspect: float) -> tuple[dict[str, torch.Tensor], float]:
    """The scene a built-in clip carries (its SCENE_TAG) and the length its moves are measured over."""
    try:
        saved = json.loads(read_metadata(clip)[SCENE_TAG])
        scene = {key: torch.tensor([saved[key]]) for key in (*SCENE_KEYS, "background")}
        seconds, drawn_on = float(saved["seconds"]), float(saved["aspect"])
    except (KeyError, ValueError, TypeError, OSError, av.error.FFmpegError):
        raise InvalidRequest("extend", "the built-in model continues only clips it made itself (this one carries "
                                       "no built-in scene); use another model to extend it") from None
    if saved.get("loop"):
        raise InvalidRequest("extend", "this clip is a loop; a loop has no end to continue from")
    if abs(drawn_on / aspect - 1) > 0.01:
        raise InvalidRequest("size", f"an extension is drawn at the clip's own aspect ({drawn_on:.3f}); "
                                     "leave the size out or ask for that aspect")
    scene["shape"], scene["present"] = scene["shape"].long(), scene["present"].bool()
    return scene, seconds
