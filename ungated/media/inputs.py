"""Input images and videos for image-to-video and video-to-video, fitted to the size a model makes:
scaled to cover it and centre-cropped, so nothing is stretched. Their messages name what the
request gave (the image, the video), never a file on the server."""

from __future__ import annotations

from pathlib import Path

import av
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InvalidRequest

MAX_PIXELS = 8192 * 8192  # 67 megapixels: past any model's size; one decoded frame stays under 200 MB


def too_many_pixels(what: str, width: int | None = None, height: int | None = None) -> str:
    """What to tell whoever sent an image (or video) of width x height; unknown when PIL refused it
    from its header alone."""
    size = f"{width}x{height} pixels ({width * height / 1e6:.0f} megapixels)" if width and height else \
        f"over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels"
    return f"the {what} is {size}; the largest ungated takes is {MAX_PIXELS / 1e6:.0f} megapixels (8192x8192)"


def fit(image: Image.Image, width: int, height: int) -> Image.Image:
    return ImageOps.fit(image.convert("RGB"), (width, height), Image.LANCZOS)


def read_image(path: Path, width: int, height: int) -> Image.Image:
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise InvalidRequest("image", too_many_pixels("image", *image.size))
            return fit(image, width, height)
    except Image.DecompressionBombError:
        raise InvalidRequest("image", too_many_pixels("image")) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise InvalidRequest("image", "the image is not one ungated can read (PNG, JPEG, WebP, ...)") from None


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
        raise InvalidRequest("video", "the video is not one ungated can read (MP4, WebM, MOV, ...)") from None
    raise InvalidRequest("video", f"the video has {len(picked)} frames at {fps} fps; this model needs {frames} "
                         f"({frames / fps:.2f} s)")


def video_format(path: Path, field: str = "extend") -> tuple[int, int, int]:
    """A video's (width, height, frames per second, rounded): what an extension of it keeps; a file
    that is not a video is the request's error in `field`."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return stream.codec_context.width, stream.codec_context.height, round(float(stream.average_rate or 24))
    except (av.error.FFmpegError, OSError, IndexError):
        raise InvalidRequest(field, "not a video ungated can read (MP4, WebM, MOV, ...)") from None


def count_frames(path: Path, fps: int, field: str = "extend") -> int:
    """How many frames a video has when resampled to fps (its duration times fps); a file that is
    not a video is the request's error in `field`."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            else:
                seconds = sum(1 for _ in container.decode(stream)) / float(stream.average_rate or fps)
    except (av.error.FFmpegError, OSError, IndexError):
        raise InvalidRequest(field, "not a video ungated can read (MP4, WebM, MOV, ...)") from None
    return max(1, round(seconds * fps))
