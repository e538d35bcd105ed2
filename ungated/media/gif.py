"""An animated GIF of a clip, for places that take GIFs and not videos (chats, forums)."""

from __future__ import annotations

import secrets
from pathlib import Path

import av
from PIL import Image

GIF_LONG_SIDE = 480


def write_gif(video: Path, gif: Path, long_side: int = GIF_LONG_SIDE) -> Path:
    """Convert an MP4 to a looping GIF at its frame rate, at most long_side pixels wide or high."""
    frames, duration_ms = [], 100
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        if stream.average_rate:
            duration_ms = round(1000 / float(stream.average_rate))
        for frame in container.decode(stream):
            image = frame.to_image()
            scale = min(1.0, long_side / max(image.size))
            if scale < 1:
                image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
            frames.append(image.convert("P", palette=Image.ADAPTIVE, colors=128))
    # A file of its own for each writer, renamed into place whole: two writing at once cannot mix
    # their bytes, and a reader never sees half a GIF.
    partial = gif.with_name(f".{gif.name}.{secrets.token_hex(8)}.part")
    try:
        with partial.open("xb") as out:
            frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=duration_ms, loop=0,
                           optimize=True)
        partial.replace(gif)
    finally:
        partial.unlink(missing_ok=True)
    return gif
