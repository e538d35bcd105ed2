"""The engine interface: what every model family provides to the rest of ungated.

An engine declares its capabilities as data, loads its weights once, and generates one clip
per call as a stream of RGB frames (uint8 arrays [height, width, 3] at the native size), so
the media pipeline encodes as frames arrive and never holds the whole clip.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..request import Plan

# (step, total_steps) -> None; called after each sampling step.
ProgressFn = Callable[[int, int], None]
# Polled between steps; True stops generation with GenerationCancelled.
CancelFn = Callable[[], bool]


@dataclass(frozen=True)
class Capabilities:
    sizes: tuple[tuple[int, int], ...]  # native (width, height)
    fps: tuple[int, ...]
    default_fps: int
    frames_min: int
    frames_max: int
    frames_step: int  # frame counts allowed: frames_min + k * frames_step, up to frames_max
    default_seconds: float
    default_aspect: str
    default_resolution: str
    default_steps: int
    default_guidance: float
    max_steps: int = 200
    image_input: bool = False
    video_input: bool = False
    extend_input: bool = False  # continues a finished clip (the request's `extend`) from its last frames
    image_required: bool = False  # image-to-video models that cannot start from text alone
    any_output_size: bool = False  # written at the requested size (drawn at it) rather than the native one
    loras: bool = False  # applies the request's LoRAs

    @property
    def max_seconds(self) -> float:
        return self.frames_max / max(self.fps)

    def nearest_frames(self, wanted: int) -> int:
        k = round((wanted - self.frames_min) / self.frames_step)
        return min(max(self.frames_min + k * self.frames_step, self.frames_min), self.frames_max)

    def describe_frames(self) -> str:
        if self.frames_min == self.frames_max:
            return str(self.frames_min)
        rule = f"{self.frames_step}N+{self.frames_min % self.frames_step}" if self.frames_step > 1 else "any"
        return f"{rule} ({self.frames_min}-{self.frames_max})"


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

    def setup_notes(self) -> list[str]:
        """How the engine chose to run on this machine (memory mode, speed options), for the user."""
        return []

    def prompt_notes(self, prompt: str) -> list[str]:
        """Warnings about a prompt this model will not fully follow (shown, never fatal)."""
        return []
