"""The built-in engine: the project's own small model of the shapes world, shipped in the package.

    >>> engine = BuiltinEngine()
    >>> engine.load()
    >>> frames = engine.generate(plan, seed=7, on_progress=print, should_cancel=lambda: False)

It draws any size and aspect natively, 2 to 20 s at 8 to 30 fps, loops, and directs its own
clips: each clip's MP4 carries what it shows as segments (directing.py), so an extension, a
re-cut, a storyboard's next shot (follows), an edit and a blend go on from the objects' exact
state and nothing jumps at a seam. Characters ("@name" in the prompt) are objects of its world.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from ...errors import GenerationCancelled, InvalidRequest, ModelUnavailable
from ...media.inputs import count_frames, read_video, video_format
from ...request import CHARACTER_MENTION, CharacterObject, Request
from ..base import CancelFn, Capabilities, Engine, ProgressFn
from . import motion, tracks, world
from .characters import written_out
from .directing import (SCENE_TAG, Blend, Move, Script, continued, joined, named_looks, prompt_digest, read_script,
                        restyler)
from .net import Tokenizer, to_uint8
from .sampler import Cancelled, sample_euler, shifted_times
from .weights import SHIPPED_DIR, BuiltinModel, is_model_dir, load_model

__all__ = ["SCENE_TAG", "BuiltinEngine"]

PAINT_FRAMES = 8  # frames painted at once: a 1080p clip is never held whole in memory
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
        # (plan, seed) -> the segments made for it, until drawn: clip_tags() asks first
        self._scripts: dict[tuple, Script] = {}
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
            video_input=True,
            extend_input=True,
            loop=True,
            blend=True,
            character_objects=True,
        )

    def weights_present(self) -> bool:
        return is_model_dir(self.model_dir)

    def load(self) -> None:
        if self.model is not None:
            return
        if not self.weights_present():
            raise ModelUnavailable(f"no built-in model weights in {self.model_dir}; run `ungated train builtin`")
        self.model = load_model(self.model_dir)

    def prompt_notes(self, prompt: str, characters: Iterable[CharacterObject] = ()) -> list[str]:
        text = written_out(prompt, characters)
        notes = []
        strangers = dict.fromkeys(f"@{name}" for name in CHARACTER_MENTION.findall(text))
        if strangers:
            notes.append(f"no character is named {', '.join(strangers)}: make one (a shape, color and size the "
                         "model keeps) or write the object out, e.g. \"a large red star\".")
        unknown = Tokenizer(tuple(world.vocabulary()), 0).unknown_words(CHARACTER_MENTION.sub(" ", text))
        if unknown:
            notes.append(
                f"the built-in model does not know the words: {', '.join(dict.fromkeys(unknown))}. "
                "It draws one or two circles, squares, triangles and stars in "
                f"{', '.join(world.COLORS)}; {', '.join(world.MOTIONS)} (a move slowly or quickly), "
                f"or {', '.join(world.RELATIONS)} each other; on a plain background."
            )
        return notes

    @torch.inference_mode()
    def preview(self) -> np.ndarray | None:
        """While sampling, the scene as the sampler sees it now; while painting, the last frame painted."""
        if self._estimate is None:
            return self._painted
        scene = tracks.decode(self._estimate)
        aspect, longer = self._estimate_aspect, 160  # the preview's longer side, in pixels
        width, height = (longer, round(longer / aspect)) if aspect >= 1 else (round(longer * aspect), longer)
        width, height = max(width, 2), max(height, 2)
        paths = motion.simulate(scene, scene["shape"], torch.zeros(1), 2.0, width / height)
        return to_uint8(self.model.painter(scene, paths, width, height)[0])[0]

    def clip_tags(self, plan, seed: int) -> dict[str, str]:
        """What the clip will show, for the MP4's tags: what an extension, edit or blend goes on from."""
        return {SCENE_TAG: self._script(plan, seed).tag()}

    def joined_tags(self, clips: list[tuple[Path, float]]) -> dict[str, str]:
        script = joined(clips)
        return {SCENE_TAG: script.tag()} if script else {}

    @torch.inference_mode()
    def generate(self, plan, seed: int, on_progress: ProgressFn, should_cancel: CancelFn) -> Iterator[np.ndarray]:
        self.load()
        # Progress counts the sampler's steps (where it runs), then the frames painted
        # (PAINT_FRAMES a step): a long 1080p clip spends most of its time painting (and being
        # encoded as it goes). Frames kept from other clips are copied, not counted.
        chunks = world.frame_times(plan.kept_frames + plan.frames, plan.fps)[plan.kept_frames:].split(PAINT_FRAMES)
        script = self._script(plan, seed, lambda step, _: on_progress(step, plan.steps + len(chunks)), should_cancel)
        self._scripts.pop(self._key(plan, seed), None)
        sampled = plan.steps if script.sampled else 0
        total = sampled + len(chunks)
        if plan.request.extend:
            for image in read_video(plan.request.extend, plan.width, plan.height, plan.fps, plan.kept_frames):
                yield np.asarray(image.convert("RGB"))
        for done, chunk in enumerate(chunks, start=sampled + 1):
            if should_cancel():
                raise GenerationCancelled()
            # Painted at the size the clip is written at: outlines are drawn, not scaled up.
            frames = script.paint(self.model.painter, chunk, plan.width, plan.height)
            yield from frames
            self._painted = frames[-1]
            try:
                on_progress(done, total)
            finally:
                self._painted = None
        if plan.request.blend_into:
            for image in read_video(plan.request.blend_into, plan.width, plan.height, plan.fps, plan.trailing_frames):
                yield np.asarray(image.convert("RGB"))

    @staticmethod
    def _key(plan, seed: int) -> tuple:
        return (plan.request, plan.width, plan.height, plan.frames, plan.fps, plan.steps, plan.guidance, seed)

    def _script(self, plan, seed: int, on_progress: ProgressFn = lambda step, total: None,
                should_cancel: CancelFn = lambda: False) -> Script:
        """The segments the clip shows, made once per plan and seed (whoever asks first)."""
        key = self._key(plan, seed)
        if key not in self._scripts:
            self._scripts = {key: self._direct(plan, seed, on_progress, should_cancel)}
        return self._scripts[key]

    def _direct(self, plan, seed: int, on_progress: ProgressFn, should_cancel: CancelFn) -> Script:
        """The clip's segments, by what the request asks: an edit (video), a continuation of a
        clip (extend, with extend_at a re-cut; follows), a blend (extend + blend_into), or a new
        scene from the prompt."""
        request = plan.request
        if request.loop and request.video:
            raise InvalidRequest("loop", "an edit keeps its clip's motion, so it loops where the clip does; leave "
                                         "loop out")

        def sample() -> dict[str, torch.Tensor]:
            return self._sample(plan, seed, on_progress, should_cancel)

        if request.video:
            return _edit(plan, sample)
        if request.blend_into:
            return _blend(plan)
        if request.extend or request.follows:
            return _continuation(plan, sample)
        move = Move(sample(), plan.frames / plan.fps, prompt=prompt_digest(_prompt(request)), loop=request.loop)
        return Script((move,), plan.width / plan.height, sampled=True)

    @torch.inference_mode()
    def _sample(self, plan, seed: int, on_progress: ProgressFn, should_cancel: CancelFn) -> dict[str, torch.Tensor]:
        self.load()
        model = self.model
        cfg = model.config
        tokenizer = Tokenizer(cfg.vocabulary, cfg.max_words)
        words = tokenizer([_prompt(plan.request)])
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
                if _fits(scene, self._estimate_aspect, _prompt(plan.request)):
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


def _prompt(request: Request) -> str:
    """The prompt as the model reads it: each character named ("@name") written out as its object."""
    return written_out(request.prompt, request.characters)


Sample = Callable[[], dict[str, torch.Tensor]]


def _edit(plan, sample: Sample) -> Script:
    """The clip's motion, all of it, in the shapes and colors the prompt names (slot by slot);
    its size words and background only where the prompt names a size or a background."""
    aspect = plan.width / plan.height
    source = _clip_script(plan.request.video, "video", "edit", aspect)
    restyle = restyler(sample(), named_looks(Tokenizer.words(_prompt(plan.request))))
    return Script(tuple(segment.restyled(restyle) for segment in source.segments), aspect, sampled=True)


def _history(plan, field: str, verb: str) -> tuple[Script, float]:
    """What of the clip in `field` goes before the new frames, and the clip time they start at:
    extend's kept frames (to the re-cut, or the whole clip), or for follows the whole clip."""
    request = plan.request
    clip = getattr(request, field)
    source = _clip_script(clip, field, verb, plan.width / plan.height)
    ended = plan.kept_frames if field == "extend" else count_frames(clip, plan.fps, field)
    history = source.until(ended / plan.fps)
    last = history.segments[-1]
    if isinstance(last, Move) and last.loop:
        raise InvalidRequest(field, "this clip is a loop; a loop has no end to continue from")
    return history, ended / plan.fps


def _continuation(plan, sample: Sample) -> Script:
    """Extend (or re-cut) a clip, or start where one ends (follows; a loop too, returning to
    that start). With the prompt of the segment at the cut its law goes on; with another, a new
    Move from the objects' state there."""
    field = "extend" if plan.request.extend else "follows"
    history, cut = _history(plan, field, "continue")
    digest = prompt_digest(_prompt(plan.request))
    last = history.segments[-1]
    if isinstance(last, Move) and last.prompt == digest and not plan.request.loop:
        segments, sampled = history.segments, False
    else:
        named = named_looks(Tokenizer.words(_prompt(plan.request)))
        move = Move(continued(history.state(cut), sample(), history.aspect, named), plan.frames / plan.fps, cut,
                    prompt=digest, loop=plan.request.loop)
        segments, sampled = (*history.segments, move), True
    if field == "follows":  # a clip of its own: its clock starts at 0
        last = segments[-1]
        segments = (last.moved(0.0, last.offset + cut - last.start),)
    return Script(segments, history.aspect, sampled)


def _blend(plan) -> Script:
    """Clip A (extend) to its end or re-cut, a transition from A's objects there to clip B's
    (blend_into) at its start, then B."""
    history, cut = _history(plan, "extend", "blend")
    into = _clip_script(plan.request.blend_into, "blend_into", "blend", history.aspect)
    seconds = plan.frames / plan.fps
    blend = Blend(history.state(cut), into.state(0.0), seconds, cut, prompt_digest(_prompt(plan.request)))
    return Script((*history.segments, blend, *(s.shifted(cut + seconds) for s in into.segments)), history.aspect)


_ONLY_OWN = {"continue": "continues", "blend": "blends", "edit": "edits"}


def _clip_script(clip: Path, field: str, verb: str, aspect: float) -> Script:
    """The segments of a clip the request names in field, to `verb` (continue, blend, edit):
    only the built-in model's own clips carry them, and they are drawn at their own aspect."""
    script = read_script(clip)
    if script is None:
        raise InvalidRequest(field, f"the built-in model {_ONLY_OWN[verb]} only clips it made itself (this one carries "
                                    f"no built-in scene); use another model to {verb} it")
    if abs(script.aspect / aspect - 1) > 0.01:
        width, height, _ = video_format(clip)
        if field == "blend_into":
            raise InvalidRequest(field, f"this clip is {width}x{height}, another shape than the clip the blend "
                                        "leads from; the built-in model blends clips of one aspect")
        raise InvalidRequest("size", f"the built-in model {_ONLY_OWN[verb]} a clip at its own aspect "
                                     f"({width}x{height}); ask for a size of that aspect")
    return script
