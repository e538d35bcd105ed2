"""The engine interface: what every model family provides to the rest of ungated.

An engine declares its capabilities as data, loads its weights once, and generates one clip
per call as a stream of RGB frames (uint8 arrays [height, width, 3] at the native size), so
the media pipeline encodes as frames arrive and never holds the whole clip.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..request import Plan
    from .stages import Stages

# (step, total_steps) -> None; called after each sampling step.
ProgressFn = Callable[[int, int], None]
# Polled between steps; True stops generation with GenerationCancelled.
CancelFn = Callable[[], bool]


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    """What a model makes, as data. Sizes: an engine with `any_aspect` draws whatever size is asked
    (within request.MIN_SIDE..MAX_SIDE); others draw their native `sizes`, and plan() picks the one
    nearest the request. Length: an engine with `seconds_range` makes any whole number of frames
    from lo to hi seconds at any of its `fps`; others make the counts their frame rule allows."""

    sizes: tuple[tuple[int, int], ...]  # native (width, height); for any_aspect, the sizes it is shown as
    fps: tuple[int, ...]  # every rate it makes, e.g. tuple(range(8, 31))
    default_fps: int
    frames_min: int = 0  # derived from seconds_range when that is given
    frames_max: int = 0
    frames_step: int = 1  # frame counts allowed: frames_min + k * frames_step, up to frames_max
    seconds_range: tuple[float, float] | None = None  # (lo, hi): any length from lo to hi seconds
    default_seconds: float
    default_aspect: str
    default_resolution: str
    default_steps: int
    default_guidance: float
    # Drawn when the request asks for no size, aspect or resolution (else default_aspect at default_resolution).
    default_size: tuple[int, int] | None = None
    max_steps: int = 200
    any_aspect: bool = False  # draws the size asked natively: no native size, no letterbox, no rescale
    image_input: bool = False
    video_input: bool = False
    extend_input: bool = False  # continues a finished clip (the request's `extend`) from its last frames
    image_required: bool = False  # image-to-video models that cannot start from text alone
    any_output_size: bool = False  # written at the requested size (drawn at it) rather than the native one
    loras: bool = False  # applies the request's LoRAs
    loop: bool = False  # makes seamless loops (the request's `loop`): the last frame flows into the first
    blend: bool = False  # makes a transition from one clip's end into another's start (`extend` + `blend_into`)
    character_objects: bool = False  # draws characters named "@name" in the prompt as saved objects (built-in)
    loop_needs_image: bool = False  # loops only from a first frame (`image`): it ends on the frame it began with
    ends_only: bool = False  # makes a clip only between a given first and last frame: a loop (of an image), a blend

    def verbs(self) -> dict[str, bool]:
        """The directing tools it offers, by the names the studio and API use: extend (continue a
        clip from its end), recut (continue from a chosen time, dropping what followed), edit (a new
        version of a clip by prompt), loop, blend (A, a transition, B), continue (a storyboard shot
        from the previous shot's last frames) and characters (a saved reference used by name)."""
        return {"extend": self.extend_input, "recut": self.extend_input, "edit": self.video_input,
                "loop": self.loop, "blend": self.blend, "continue": self.extend_input,
                "characters": self.character_objects or self.image_input}

    def __post_init__(self) -> None:
        if self.seconds_range is None:
            return
        lo, hi = self.seconds_range
        if not 0 < lo <= hi:
            raise ValueError(f"seconds_range must be (lo, hi) with 0 < lo <= hi (got {self.seconds_range})")
        if not self.frames_max:  # the frame counts for code that reads them: the range at the slowest and fastest fps
            object.__setattr__(self, "frames_min", self.frames_between(min(self.fps))[0])
            object.__setattr__(self, "frames_max", self.frames_between(max(self.fps))[1])
            object.__setattr__(self, "frames_step", 1)

    @property
    def max_seconds(self) -> float:
        if self.seconds_range is not None:
            return float(self.seconds_range[1])
        return self.frames_max / max(self.fps)

    def frames_between(self, fps: int) -> tuple[int, int]:
        """The fewest and most frames allowed at fps: whole frames inside the seconds_range, or the frame rule's."""
        if self.seconds_range is None:
            return self.frames_min, self.frames_max
        lo, hi = self.seconds_range
        return math.ceil(lo * fps - 1e-9), math.floor(hi * fps + 1e-9)

    def nearest_frames(self, wanted: int, fps: int | None = None) -> int:
        """The allowed frame count nearest to wanted (at fps: a seconds_range allows different counts at each)."""
        if self.seconds_range is not None:
            fewest, most = self.frames_between(fps) if fps else (self.frames_min, self.frames_max)
            return min(max(wanted, fewest), most)
        k = round((wanted - self.frames_min) / self.frames_step)
        return min(max(self.frames_min + k * self.frames_step, self.frames_min), self.frames_max)

    def describe_frames(self) -> str:
        """The frame counts it makes, e.g. "4N+1 (5-81)", or "any for 2-20 s" for a seconds_range."""
        if self.seconds_range is not None:
            return f"any for {self.describe_seconds()}"
        if self.frames_min == self.frames_max:
            return str(self.frames_min)
        rule = f"{self.frames_step}N+{self.frames_min % self.frames_step}" if self.frames_step > 1 else "any"
        return f"{rule} ({self.frames_min}-{self.frames_max})"

    def describe_seconds(self) -> str:
        """The lengths it makes, e.g. "2-20 s" or "up to 5.1 s"."""
        if self.seconds_range is not None:
            lo, hi = self.seconds_range
            return f"{lo:g} s" if lo == hi else f"{lo:g}-{hi:g} s"
        return f"up to {self.max_seconds:.1f} s"

    def describe_fps(self) -> str:
        """Its rates, a run of consecutive ones as a range: "8-30", "16" or "8, 16, 24"."""
        return describe_numbers(self.fps)


def describe_numbers(numbers: tuple[int, ...]) -> str:
    """Sorted numbers, each run of consecutive ones as "lo-hi": (8, 9, ..., 30) -> "8-30"."""
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{run[0]}-{run[-1]}" if len(run) > 2 else ", ".join(map(str, run)) for run in runs)


@dataclass(frozen=True)
class EngineOptions:
    """How to run a model on this machine; None means "choose for me". Engines ignore what does
    not apply to them (the built-in model runs the same everywhere)."""

    offload: str | None = None  # memory mode: none, model, group, sequential
    fp8: bool | None = None  # store denoiser weights in fp8
    quantize: str | None = None  # nf4 or int8 (bitsandbytes) for the transformer and text encoder
    vae_tiling: bool | None = None
    cache: str = "none"  # step caching: none, first-block, taylorseer, faster
    compile: bool = False  # regional torch.compile
    attention: str | None = None  # attention backend, as diffusers names it


class Engine(ABC):
    """One model family behind one interface. Subclasses set id, title and capabilities."""

    id: str
    title: str
    capabilities: Capabilities
    licence: str = "Apache-2.0"
    licence_restrictions: str = ""  # in a few words; empty when there are none
    download_gb: float | None = None  # None: the weights ship with ungated

    @abstractmethod
    def weights_present(self) -> bool:
        """True when generate() can run without a download."""

    @abstractmethod
    def load(self) -> None:
        """Read weights into memory; called once, before the first generate()."""

    @abstractmethod
    def generate(self, plan: Plan, seed: int, on_progress: ProgressFn, should_cancel: CancelFn) -> Iterator[np.ndarray]:
        """Yield the frames of one clip for plan, drawn from seed."""

    def preview(self) -> np.ndarray | None:
        """The middle frame of the clip being sampled as far as it has got (uint8 RGB, small), or
        None. Only meaningful from within on_progress, between steps."""
        return None

    def memory_estimates(self) -> dict[str, float]:
        """Estimated peak GPU memory in GB per memory mode, for models that need a GPU."""
        return {}

    def stage_estimate(self, plan: Plan) -> Stages | None:
        """How long each stage of a clip for plan should take on this machine, where the engine
        knows (for an ETA that counts text encoding and decoding too); None where it does not."""
        return None

    def setup_notes(self) -> list[str]:
        """How the engine chose to run on this machine (memory mode, speed options), for the user."""
        return []

    def prompt_notes(self, prompt: str, characters: tuple = ()) -> list[str]:
        """Warnings about a prompt this model will not fully follow (shown, never fatal); characters:
        the request's CharacterObjects, which its "@name" mentions may name."""
        return []

    def joined_tags(self, clips: list[tuple[Path, float]]) -> dict[str, str]:
        """Tags for a clip made by joining its clips end to end (path, seconds each; a storyboard's
        stitched clip), so that it can be continued like one the engine made; {} if it cannot tell."""
        return {}

    def clip_tags(self, plan: Plan, seed: int) -> dict[str, str]:
        """Tags the engine adds to the MP4 of the clip for plan and seed (e.g. what continuing
        it needs); called before generate() with the same plan and seed."""
        return {}
