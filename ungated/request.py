"""The one request type every entry point builds, and its mapping to an engine's native settings.

A Request says what the user asked for. `plan()` turns it into a Plan: the sizes, frame count,
fps, steps and seeds an engine will actually use, plus a plain-English line for every value
that had to change. Nothing is adjusted silently.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .engines.base import Capabilities
from .errors import InvalidRequest
from .media.inputs import count_frames, video_format
from .provenance.choices import ProvenanceChoices

Aspect = Literal["16:9", "9:16", "1:1"]
Resolution = Literal["360p", "480p", "720p", "1080p"]
ASPECTS: dict[str, tuple[int, int]] = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1)}
RESOLUTIONS: dict[str, int] = {"360p": 360, "480p": 480, "720p": 720, "1080p": 1080}
MIN_SIDE, MAX_SIDE = 64, 1920
MAX_SECONDS = 20.0  # of newly made frames in one clip
MAX_TOTAL_SECONDS = 60.0  # of a clip with kept frames (an extension, a blend): what it keeps and what is new
MAX_SEED = 2**32 - 1
# Request fields that name input files. image: the first frame (image-to-video); video: a clip to
# edit (video-to-video); extend: a clip to continue, written first; follows: a clip whose end this
# one starts from, not written (a storyboard's shots); blend_into: a clip the new frames lead into,
# written after them (a blend: extend + transition + blend_into).
INPUT_FIELDS = ("image", "video", "extend", "follows", "blend_into")
CHARACTER_MENTION = re.compile(r"@([^\W\d_][\w-]{0,39})")  # "@Name" in a prompt names a character


def _without_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("must not contain NUL characters (\\u0000)")
    return text


# Free text a person writes (prompts, artist names): anything but NUL, which no store can keep.
Text = Annotated[str, AfterValidator(_without_nul)]


def output_size(aspect: str, resolution: str) -> tuple[int, int]:
    """The (width, height) of an aspect at a resolution: the short side is the resolution."""
    short = RESOLUTIONS[resolution]
    aw, ah = ASPECTS[aspect]
    long = 2 * round(short * max(aw, ah) / min(aw, ah) / 2)  # even, as yuv420p needs
    return (long, short) if aw > ah else (short, long) if ah > aw else (short, short)


def parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"must look like WIDTHxHEIGHT, e.g. 1280x720 (got {text!r})")
    w, h = int(match[1]), int(match[2])
    for name, side in (("width", w), ("height", h)):
        if not MIN_SIDE <= side <= MAX_SIDE or side % 2:
            raise ValueError(f"{name} must be an even number from {MIN_SIDE} to {MAX_SIDE} (got {text!r})")
    return w, h


MAX_LORAS = 8


class LoraChoice(BaseModel):
    """A LoRA to apply (a .safetensors file in diffusers, ComfyUI or musubi-tuner format) and how
    strongly: 1 as trained, 0 off, negative to push away from it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path
    weight: float = Field(default=1.0, ge=-4, le=4)

    @field_validator("path")
    @classmethod
    def _is_safetensors(cls, path: Path) -> Path:
        if not path.is_file():
            raise ValueError(f"no such file: {path}")
        if path.suffix != ".safetensors":
            raise ValueError(f"must be a .safetensors file (got {path.name})")
        return path

    @classmethod
    def parse(cls, text: str) -> "LoraChoice":
        """PATH or PATH:WEIGHT, as the command line takes it."""
        path, sep, weight = text.rpartition(":")
        if sep and path and re.fullmatch(r"[-+]?\d*\.?\d+", weight):
            return cls(path=Path(path), weight=float(weight))
        return cls(path=Path(text))


class CharacterObject(BaseModel):
    """A character as the built-in model draws it: one object of its world, named in prompts as
    "@name" (engines that take images get the character's image as the first frame instead)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[^\W\d_][\w-]{0,39}$")
    shape: str
    color: str
    size: str

    def noun(self) -> str:
        return f"a {self.size} {self.color} {self.shape}"


class Request(BaseModel):
    """What the user asked for. None means "the model's default"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: Text = Field(min_length=1, max_length=2000)
    negative_prompt: Text = Field(default="", max_length=2000)
    seconds: float | None = Field(default=None, gt=0, le=MAX_SECONDS)
    aspect: Aspect | None = None
    resolution: Resolution | None = None
    size: str | None = None  # explicit WIDTHxHEIGHT; excludes aspect and resolution
    fps: int | None = Field(default=None, ge=1, le=60)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    variants: int = Field(default=1, ge=1, le=4)
    model: str = "builtin"
    image: Path | None = None
    video: Path | None = None
    extend: Path | None = None  # a clip to continue: the result is it followed by `seconds` more
    extend_at: float | None = Field(default=None, gt=0, le=MAX_TOTAL_SECONDS)  # re-cut: continue from here
    follows: Path | None = None  # a clip this one starts where it ends (its frames are not written)
    blend_into: Path | None = None  # with extend: the new frames lead from extend's end into this clip's start
    characters: tuple[CharacterObject, ...] = Field(default=(), max_length=4)
    loop: bool = False  # a seamless loop: the last frame flows into the first (models that loop)
    steps: int | None = Field(default=None, ge=1, le=500)
    guidance: float | None = Field(default=None, ge=0, le=30)
    loras: tuple[LoraChoice, ...] = Field(default=(), max_length=MAX_LORAS)
    provenance: ProvenanceChoices = ProvenanceChoices()

    @field_validator("prompt")
    @classmethod
    def _prompt_has_words(cls, prompt: str) -> str:
        if not prompt.strip():
            raise ValueError("must not be blank")
        return prompt.strip()

    @field_validator("size")
    @classmethod
    def _size_is_wxh(cls, size: str | None) -> str | None:
        if size is None:
            return None
        w, h = parse_size(size)
        return f"{w}x{h}"

    @field_validator("image", "video", "extend", "follows", "blend_into")
    @classmethod
    def _input_exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"no such file: {path}")
        return path

    @model_validator(mode="after")
    def _size_or_aspect(self) -> "Request":
        if self.size and (self.aspect or self.resolution):
            raise ValueError("give either size or aspect/resolution, not both")
        if self.extend and (self.image or self.video):
            raise ValueError("extend continues a clip; it does not combine with image or video")
        return self

    def plain_prompt(self) -> str:
        """The prompt with each "@name" of a character as its bare name, for text encoders."""
        return CHARACTER_MENTION.sub(lambda m: m[1], self.prompt)

    @classmethod
    def build(cls, **fields: object) -> "Request":
        """Validate fields into a Request, raising InvalidRequest naming the first bad field."""
        try:
            return cls(**{k: v for k, v in fields.items() if v is not None})
        except ValidationError as err:
            raise InvalidRequest.from_problem(err.errors()[0]) from None


@dataclass(frozen=True)
class Adjustment:
    """A value changed to fit the model: what was asked, what it will make, and why (in English; the
    studio says the field and values in its reader's language)."""

    field: str  # "size", "fps" or "seconds"
    asked: str | float
    made: str | float
    why: str

    def __str__(self) -> str:
        shown = [f"{value:g}" if isinstance(value, float) else str(value) for value in (self.asked, self.made)]
        return f"{self.field} {shown[0]} -> {shown[1]} ({self.why})"


@dataclass(frozen=True)
class Plan:
    """The settings an engine will use for a request, and what was changed to get there."""

    request: Request
    width: int  # native generation size
    height: int
    out_width: int  # size of the written video
    out_height: int
    frames: int
    fps: int
    steps: int
    guidance: float
    seeds: tuple[int, ...]  # one per variant
    adjustments: tuple[Adjustment, ...]
    kept_frames: int = 0  # extend: frames of the clip being continued, written before the new ones
    trailing_frames: int = 0  # blend_into: frames of the clip led into, written after the new ones

    @property
    def total_frames(self) -> int:
        """Frames in the written clip."""
        return self.kept_frames + self.frames + self.trailing_frames

    @property
    def seconds(self) -> float:
        return self.total_frames / self.fps


def _aspect_name(w: int, h: int) -> str:
    g = math.gcd(w, h)
    return f"{w // g}:{h // g}"


def nearest_size(caps: Capabilities, w: int, h: int) -> tuple[int, int]:
    """The native size closest in aspect ratio, then in area, to w x h."""
    return min(caps.sizes, key=lambda s: (abs(math.log(s[0] / s[1]) - math.log(w / h)), abs(s[0] * s[1] - w * h)))


def plan(request: Request, caps: Capabilities, model_id: str) -> Plan:
    notes: list[Adjustment] = []

    # 1. Inputs that do not go together, or that the model cannot take, are an error, not an adjustment.
    if request.follows and (request.extend or request.image or request.video):
        raise InvalidRequest("follows", "a clip that follows another starts where it ends; it does not combine "
                                        "with extend, image or video")
    if request.extend_at is not None and not request.extend:
        raise InvalidRequest("extend_at", "is where in the clip to extend to continue from; give extend too")
    if request.blend_into and not request.extend:
        raise InvalidRequest("blend_into", "is the clip a blend leads into; give extend (the clip it leads from) too")
    if request.loop and request.extend:
        raise InvalidRequest("loop", "a loop is one whole clip that returns to its first frame; it cannot continue "
                                     "a clip (extend): ask for one or the other")
    if caps.ends_only and not (request.loop or request.blend_into):
        raise InvalidRequest("model", f"model {model_id} makes a clip only between a first and a last frame: a loop "
                                      "(of an image) or a blend (from one clip into another)")
    if request.image and not (caps.image_input or request.loop and caps.loop_needs_image):
        raise InvalidRequest("image", f"model {model_id} does not take an input image")
    if request.video and not caps.video_input:
        raise InvalidRequest("video", f"model {model_id} does not take an input video")
    if request.extend and not (caps.extend_input or request.blend_into and caps.blend):
        raise InvalidRequest("extend", f"model {model_id} does not continue clips")
    if request.follows and not caps.extend_input:
        raise InvalidRequest("follows", f"model {model_id} does not continue clips")
    if request.blend_into and not caps.blend:
        raise InvalidRequest("blend_into", f"model {model_id} does not make blends")
    if request.characters and not caps.character_objects:
        raise InvalidRequest("characters", f"model {model_id} does not draw characters by name")
    if request.loop and not caps.loop:
        raise InvalidRequest("loop", f"model {model_id} does not make loops")
    if request.loop and caps.loop_needs_image and not request.image:
        raise InvalidRequest("loop", f"model {model_id} loops from a first frame: give an image (the studio's Loop "
                                     "uses the clip's first frame)")
    if caps.image_required and not (request.image or request.extend or request.follows):  # those start from a frame
        raise InvalidRequest("image", f"model {model_id} makes a video from an image; give one")
    if request.loras and not caps.loras:
        raise InvalidRequest("loras", f"model {model_id} does not take LoRAs")
    if request.steps is not None and request.steps > caps.max_steps:
        raise InvalidRequest("steps", f"must be at most {caps.max_steps} for model {model_id} (got {request.steps})")

    # 2. Size: what was asked, the native size nearest to it (or the size asked, for any_aspect), and what
    #    gets written.
    # A clip made from another (an extension, an edit, a next shot) keeps its size and frame rate
    # unless others are asked for.
    clip_field = next((name for name in ("extend", "video", "follows") if getattr(request, name)), None)
    source = video_format(getattr(request, clip_field), clip_field) if clip_field else None
    if request.size:
        target = parse_size(request.size)
    elif source and not (request.aspect or request.resolution):
        target = source[:2]
    elif caps.default_size and not (request.aspect or request.resolution):
        target = caps.default_size
    else:
        target = output_size(request.aspect or caps.default_aspect, request.resolution or caps.default_resolution)
    if caps.any_aspect:  # drawn natively at exactly the size asked
        width, height = out_w, out_h = target
    else:
        width, height = out_w, out_h = nearest_size(caps, *target)
        if caps.any_output_size:
            scale = min(target) / min(width, height)
            out_w, out_h = 2 * round(width * scale / 2), 2 * round(height * scale / 2)
    asked_explicitly = request.size or request.aspect or request.resolution
    if asked_explicitly and (out_w, out_h) != target:
        why = f"{model_id} makes {_aspect_name(width, height)} clips at {width}x{height}"
        if caps.any_output_size:
            why += ", drawn at the size asked for"
        notes.append(Adjustment("size", f"{target[0]}x{target[1]}", f"{out_w}x{out_h}", why))

    # 3. Time: fps, then the frame count the model's length rule allows.
    wanted_fps = fps = request.fps or (source[2] if source else caps.default_fps)
    if fps not in caps.fps:
        fps = min(caps.fps, key=lambda f: abs(f - fps))
        notes.append(Adjustment("fps", wanted_fps, fps, f"{model_id} makes {caps.describe_fps()} fps"))
    seconds = request.seconds or caps.default_seconds
    if request.video and request.seconds is None:  # an edit is as long as its clip, as far as the model goes
        seconds = count_frames(request.video, fps, "video") / fps
    frames = caps.nearest_frames(round(seconds * fps), fps)
    kept = trailing = 0
    if request.extend:
        kept = count_frames(request.extend, fps)
        if request.extend_at is not None:  # re-cut: what follows the cut is made anew
            cut = round(request.extend_at * fps)
            if cut > kept:
                raise InvalidRequest("extend_at", f"must be within the clip, at most {kept / fps:.2f} s "
                                                  f"(got {request.extend_at:g})")
            kept = max(cut, 1)
    if request.blend_into:
        trailing = count_frames(request.blend_into, fps, "blend_into")
    if (kept + frames + trailing) / fps > MAX_TOTAL_SECONDS:
        field = "extend" if request.extend else "blend_into"
        raise InvalidRequest(field, f"the clips kept are {(kept + trailing) / fps:.1f} s; with {frames / fps:.1f} s "
                                    f"more the result would pass the {MAX_TOTAL_SECONDS:g} s limit")
    if request.seconds is not None and abs(frames / fps - request.seconds) > 0.5 / fps:
        rule = f"clips of {caps.describe_seconds()}" if caps.seconds_range else (
            f"{caps.describe_frames()} frames, at most {caps.max_seconds:g} s")
        notes.append(Adjustment("seconds", request.seconds, round(frames / fps, 2), f"{model_id} makes {rule}"))

    # 4. Sampling settings and one seed per variant.
    base_seed = request.seed if request.seed is not None else random.randrange(MAX_SEED - 4)
    seeds = tuple((base_seed + i) % (MAX_SEED + 1) for i in range(request.variants))
    return Plan(
        request=request, width=width, height=height, out_width=out_w, out_height=out_h,
        frames=frames, fps=fps,
        steps=request.steps or caps.default_steps,
        guidance=request.guidance if request.guidance is not None else caps.default_guidance,
        seeds=seeds, adjustments=tuple(notes), kept_frames=kept, trailing_frames=trailing,
    )
