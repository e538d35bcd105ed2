"""Characters for the built-in model: a saved object of its world (shape, color, size) that
prompts name as "@name", and reading such an object off a clip or an image to save one."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

from ...request import CHARACTER_MENTION, CharacterObject
from . import judge, world
from .directing import read_script

READ_SIDE = 512  # frames are read at most this large: the judge's measures are shares of the frame


def written_out(prompt: str, characters: Iterable[CharacterObject]) -> str:
    """The prompt with each "@name" of a character (any case) as its object, "a large red star";
    a mention no character answers to is left as it is."""
    nouns = {character.name.lower(): character.noun() for character in characters}
    return CHARACTER_MENTION.sub(lambda mention: nouns.get(mention[1].lower(), mention[0]), prompt)


def describe_object(path: Path, at: float | None = None, index: int = 0) -> dict[str, str] | None:
    """{"shape", "color", "size"} of an object a clip or image shows, in the built-in world's
    words, or None where it shows none the model knows (or is no image or video). A built-in
    clip says exactly, from what it carries: object `index` in caption order, as it is at `at`
    seconds (default its start). Any other video is read at `at` (default its first frame), and
    an image as it is: object `index` counted from the largest, as judge.py reads the frame."""
    script = read_script(path)
    if script is not None:
        state = script.state(at or 0.0)
        if not 0 <= index < state["present"].shape[1] or not state["present"][0, index]:
            return None
        rgb = ((state["color"][0, index].clamp(-1, 1) + 1) * 127.5).numpy()
        color = min(world.COLORS, key=lambda name: float(np.linalg.norm(np.array(world.COLORS[name]) - rgb)))
        size = "large" if float(state["radius"][0, index]) > judge.SIZE_SPLIT else "small"
        return {"shape": world.SHAPES[int(state["shape"][0, index])], "color": color, "size": size}
    frame = _frame(path, at)
    if frame is None:
        return None
    # The judge reads clips; a still is a clip of two like frames (standing still).
    seen = [o for o in judge.judge(np.stack([frame, frame])).objects if o.stable and o.shape != "unknown"]
    if not 0 <= index < len(seen):
        return None
    return {"shape": seen[index].shape, "color": seen[index].color, "size": seen[index].size}


def _frame(path: Path, at: float | None) -> np.ndarray | None:
    """An image's pixels, or a video's frame at `at` seconds (the last one, past its end), at
    most READ_SIDE on a side; None for neither."""
    try:
        with Image.open(path) as image:
            image.thumbnail((READ_SIDE, READ_SIDE))
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError):
        pass
    picked = None
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                if picked is not None and (at is None or frame.time is None or frame.time > at + 1e-3):
                    break
                picked = frame.to_image()
    except (av.error.FFmpegError, OSError, IndexError):
        return None
    if picked is None:
        return None
    picked.thumbnail((READ_SIDE, READ_SIDE))
    return np.asarray(picked.convert("RGB"))
