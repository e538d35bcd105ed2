"""From a stream of native frames to the files of one clip: MP4, thumbnail and spritesheet.

Files are written under temporary names and renamed only when all of them are complete, so a
failure or a cancel never leaves a half-written clip behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .encode import Mp4Writer
from .previews import PreviewCollector


@dataclass(frozen=True)
class ClipFiles:
    video: Path
    thumbnail: Path
    spritesheet: Path

    def __iter__(self) -> Iterator[Path]:
        return iter(astuple(self))


def companion_paths(video: Path) -> ClipFiles:
    return ClipFiles(video, video.with_suffix(".thumb.jpg"), video.with_suffix(".sprites.jpg"))


def remove_leftovers(video: Path) -> None:
    """Remove what earlier attempts left beside `video` (the next clip's path): clips finished but
    never recorded (their attempt ended before it could say so) and half-written files (.part) of
    attempts killed mid-write. Other files (the latest preview frame) stay."""
    keep = {path.name for path in companion_paths(video)}
    for path in video.parent.iterdir():
        name = path.name
        if name not in keep and (name.endswith((".mp4", ".thumb.jpg", ".sprites.jpg")) or
                                 (name.startswith(".") and name.endswith(".part"))):
            path.unlink(missing_ok=True)


def resize_frame(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    if frame.shape[1] == width and frame.shape[0] == height:
        return frame
    return np.asarray(Image.fromarray(frame).resize((width, height), Image.LANCZOS))


def write_clip(frames: Iterable[np.ndarray], video: Path, *, width: int, height: int, fps: int,
               total_frames: int, metadata: dict[str, str],
               transform: Callable[[int, np.ndarray], np.ndarray] | None = None,
               finish: Callable[[Path], None] | None = None) -> ClipFiles:
    """Encode frames (each passed through transform, e.g. provenance marks) into video and its
    companions; finish (e.g. signing) gets the complete MP4 before it takes its final name."""
    previews = PreviewCollector(total_frames)
    with placed_together(video) as temp:
        with Mp4Writer(temp.video, width, height, fps, metadata) as writer:
            for index, frame in enumerate(frames):
                frame = resize_frame(frame, width, height)
                if transform is not None:
                    frame = transform(index, frame)
                writer.write(frame)
                previews.add(index, frame)
        previews.save_thumbnail(temp.thumbnail)
        previews.save_spritesheet(temp.spritesheet)
        if finish is not None:
            finish(temp.video)
    return companion_paths(video)


@contextlib.contextmanager
def placed_together(video: Path) -> Iterator[ClipFiles]:
    """Temporary (.part) names for the files of the clip at video, given their final names together
    once the block has written them all, and removed if it fails."""
    final = companion_paths(video)
    temp = ClipFiles(*(p.with_name(f".{p.name}.part") for p in final))
    try:
        yield temp
    except BaseException:
        for path in temp:
            path.unlink(missing_ok=True)
        raise
    for src, dst in zip(temp, final):
        src.replace(dst)
