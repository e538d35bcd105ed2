"""Run one plan through an engine and the media pipeline: the in-process path from a prompt to
MP4 files, shared by the CLI and the workers (local and remote)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import __version__
from .engines.base import CancelFn, Engine
from .media.pipeline import ClipFiles, write_clip
from .provenance.credentials import Credentials
from .provenance.stamp import ClipStamp
from .request import Plan

# (variant index, step, total steps) -> None
VariantProgressFn = Callable[[int, int, int], None]


def clip_metadata(plan: Plan, seed: int, model_id: str, artist: str) -> dict[str, str]:
    """The MP4's own tags; the prompt and seed only when the artist publishes them."""
    public = plan.request.provenance.publish_prompt
    tags = {
        "comment": f"made with an AI model ({model_id}) by ungated {__version__}",
        "model": model_id,
        "ungated_version": __version__,
        "artist": artist,
    }
    if public:
        tags |= {"title": plan.request.prompt, "prompt": plan.request.prompt, "seed": str(seed)}
    return {key: value for key, value in tags.items() if value}


def generate_clips(engine: Engine, plan: Plan, outputs: list[Path], on_progress: VariantProgressFn,
                   should_cancel: CancelFn = lambda: False, artist: str = "",
                   video_ids: list[str | None] | None = None, mark_image: Path | None = None,
                   credentials: Credentials | None = None, sign: bool = True) -> list[ClipFiles]:
    """Generate one clip per seed in plan, writing each to the matching path in outputs, marked
    and signed as the request's provenance choices say (video_ids: the records they belong to;
    credentials: what signs them, by default the configured certificate or the local CA's; sign
    False: marked only, for a remote worker whose server signs the clip, holding the key)."""
    engine.load()
    written: list[ClipFiles] = []
    ids = video_ids or [None] * len(outputs)
    for variant, (seed, path, video_id) in enumerate(zip(plan.seeds, outputs, ids, strict=True)):
        stamp = ClipStamp(plan.request.provenance, engine.id, plan.request.prompt, seed, artist, video_id,
                          credentials=credentials, mark_image=mark_image)
        frames = engine.generate(
            plan, seed, lambda step, total, v=variant: on_progress(v, step, total), should_cancel
        )
        written.append(write_clip(
            frames, path, width=plan.out_width, height=plan.out_height, fps=plan.fps,
            total_frames=plan.total_frames, metadata=clip_metadata(plan, seed, engine.id, artist) | engine.clip_tags(plan, seed),
            transform=stamp.frame, finish=stamp.finish if sign else None,
        ))
    return written
