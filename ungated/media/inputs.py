"""Input images and videos for image-to-video and video-to-video, fitted to the size a model makes:
scaled to cover it and centre-cropped, so nothing is stretched."""

from __future__ import annotations

from pathlib import Path

import av
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InvalidRequest


def fit(image: Image.Image, width: int, height: int) -> Image.Image:
    return ImageOps.fit(image.convert("RGB"), (width, height), Image.LANCZOS)


def read_image(path: Path, width: int, height: int) -> Image.Image:
    try:
        with Image.open(path) as image:
            return fit(image, width, height)
    except (UnidentifiedImageError, OSError):
        raise InvalidRequest("image", f"{path} is not an image ungated can read (PNG, JPEG, WebP, ...)") from None


def read_video(path: Path, width: int, height: int, fps: int, frames: int) -> list[Image.Image]:
    """The first `frames` frames of a video, resampled to fps (nearest frame in time)."""
    picked: list[Image.Image] = []
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                if frame.time is None or frame.time >= len(picked) / fps - 0.5 / fps:
                    picked.append(fit(frame.to_image(), width, height))
                if len(picked) == frames:
                    return picked
    except (av.error.FFmpegError, OSError):
        raise InvalidRequest("video", f"{path} is not a video ungated can read (MP4, WebM, MOV, ...)") from None
    raise InvalidRequest("video", f"{path} has {len(picked)} frames at {fps} fps; this model needs {frames} "
                         f"({frames / fps:.2f} s)")


def count_frames(path: Path, fps: int) -> int:
    """How many frames a video has when resampled to fps (its duration times fps)."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            else:
                seconds = sum(1 for _ in container.decode(stream)) / float(stream.average_rate or fps)
    except (av.error.FFmpegError, OSError, IndexError):
        raise InvalidRequest("extend", f"{path} is not a video ungated can read (MP4, WebM, MOV, ...)") from None
    return max(1, round(seconds * fps))
