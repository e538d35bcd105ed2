"""How long a clip's stages take, for an ETA that counts the whole clip: loading, text encoding,
the denoising steps, the VAE decode and writing the clip, not only the steps a progress bar sees.

An engine that can tell (Engine.stage_estimate) gives a Stages; ClipClock turns it into the time
left while the clip is made, rescaled by how fast the steps really go on this machine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Stages:
    """Estimated seconds per stage for one plan."""
    load_s: float  # reading the weights, once for all variants
    encode_s: float  # text encoding, per clip (laptop mode loads and frees the text encoder each time)
    step_s: float  # one denoising step
    decode_s: float  # the VAE decode, per clip
    write_s: float  # writing the clip (watermark, MP4 encode, previews, signature), per clip

    def clip_s(self, steps: int) -> float:
        return self.encode_s + steps * self.step_s + self.decode_s + self.write_s

    def total_s(self, steps: int, clips: int = 1) -> float:
        return self.load_s + clips * self.clip_s(steps)


class ClipClock:
    """The time left for clips of a plan: the estimate, rescaled after each step by how the time
    really taken compares with the time estimated for the work done so far."""

    def __init__(self, stages: Stages, steps: int, clips: int = 1, clock=time.monotonic):
        self.stages, self.steps, self.clips, self.clock = stages, steps, clips, clock
        self.started = clock()
        self.pace = 1.0  # real seconds per estimated second

    def progress(self, clip: int, step: int) -> None:
        """Step `step` (1-based) of clip `clip` (0-based) has just finished."""
        s = self.stages
        estimated = s.load_s + clip * s.clip_s(self.steps) + s.encode_s + step * s.step_s
        if estimated > 0:
            self.pace = (self.clock() - self.started) / estimated

    def left_s(self) -> float:
        return max(0.0, self.stages.total_s(self.steps, self.clips) * self.pace - (self.clock() - self.started))
