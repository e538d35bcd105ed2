"""Training buckets: the size, frame count and frame rate each clip is trained at for a model.

A clip goes to the model's native size nearest its own aspect ratio (then area), the model's
frame rate nearest its own, and the longest frame count the model's frame rule allows within
the clip, at most the model's default clip length (longer clips are cut, which keeps memory
per step bounded). Clips in one bucket have the same shape, so they batch together.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from ..engines.base import Capabilities
from ..request import nearest_size
from .dataset import Clip, Problem


@dataclass(frozen=True, order=True)
class Bucket:
    width: int
    height: int
    frames: int
    fps: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}, {self.frames} frames at {self.fps} fps"


def bucket_for(clip: Clip, caps: Capabilities) -> Bucket | str:
    """The clip's bucket, or why it has none (a reason to show beside its file)."""
    width, height = nearest_size(caps, clip.width, clip.height)
    fps = min(caps.fps, key=lambda f: abs(f - clip.fps)) if clip.kind != "image" else caps.default_fps
    longest = caps.nearest_frames(round(caps.default_seconds * fps))
    available = 1 if clip.kind == "image" else math.floor(clip.seconds * fps + 1e-6)
    if available < caps.frames_min:
        if clip.kind == "image":
            return f"a still image; this model trains on clips of at least {caps.frames_min} frames"
        return (f"too short for this model: {clip.seconds:.2f} s gives {available} frames at {fps} fps; "
                f"it needs at least {caps.frames_min} ({caps.frames_min / fps:.2f} s)")
    usable = caps.frames_min + (min(available, longest) - caps.frames_min) // caps.frames_step * caps.frames_step
    return Bucket(width, height, usable, fps)


def plan_buckets(clips: list[Clip], caps: Capabilities) -> tuple[dict[Bucket, list[Clip]], list[Problem]]:
    """Clips grouped by bucket (largest group first), and a problem for each clip with none."""
    groups: dict[Bucket, list[Clip]] = defaultdict(list)
    problems = []
    for clip in clips:
        bucket = bucket_for(clip, caps)
        if isinstance(bucket, str):
            problems.append(Problem(clip.path, "unfit", {"reason": bucket}))
        else:
            groups[bucket].append(clip)
    return dict(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))), problems
