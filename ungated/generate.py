"""Run one plan through an engine and the media pipeline: the in-process path from a prompt to
MP4 files, shared by the CLI and (later) the worker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import __version__
from .engines.base import CancelFn, Engine
from .media.pipeline import ClipFiles, write_clip
from .request import Plan

# (variant index, step, total steps) -> None
VariantProgressFn = Callable[[int, int, int], None]


def clip_metadata(plan: Plan, seed: int, model_id: str) -> dict[str, str]:
    return {
        "title": plan.request.prompt,
        "comment": f"made with ungated {__version__}, model {model_id}, seed {seed}",
        "prompt": plan.request.prompt,
        "model": model_id,
        "seed": str(seed),
        "ungated_version": __version__,
    }


def generate_clips(engine: Engine, plan: Plan, outputs: list[Path], on_progress: VariantProgressFn,
                   should_cancel: CancelFn = lambda: False) -> list[ClipFiles]:
    """Generate one clip per seed in plan, writing each to the matching path in outputs."""
    engine.load()
    written: list[ClipFiles] = []
    for variant, (seed, path) in enumerate(zip(plan.seeds, outputs, strict=True)):
        frames = engine.generate(
            plan, seed, lambda step, total, v=variant: on_progress(v, step, total), should_cancel
        )
        written.append(write_clip(
            frames, path, width=plan.out_width, height=plan.out_height, fps=plan.fps,
            total_frames=plan.total_frames, metadata=clip_metadata(plan, seed, engine.id),
        ))
    return written
