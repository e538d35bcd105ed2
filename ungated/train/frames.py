"""A dataset clip's frames at its training bucket: resampled to the bucket's fps (nearest frame
in time), the first `frames` of them, each scaled to cover the bucket's size and centre-cropped;
and the key under which a trainer caches what it computes from them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from ..media.inputs import fit, read_video
from .buckets import Bucket
from .dataset import IMAGE_SUFFIXES, Clip


def clip_frames(folder: Path, clip: Clip, bucket: Bucket) -> np.ndarray:
    """uint8 [frames, height, width, 3]."""
    path = folder / clip.path
    if clip.kind == "video":
        images = read_video(path, bucket.width, bucket.height, bucket.fps, bucket.frames)
    elif clip.kind == "frames":
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        picks = [min(round(i * clip.fps / bucket.fps), len(files) - 1) for i in range(bucket.frames)]
        images = []
        for index in picks:
            with Image.open(files[index]) as image:
                images.append(fit(image, bucket.width, bucket.height))
    else:
        with Image.open(path) as image:
            images = [fit(image, bucket.width, bucket.height)] * bucket.frames
    return np.stack([np.asarray(image) for image in images])


def cache_key(*parts: object) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:20]


def clip_key(folder: Path, clip: Clip, bucket: Bucket, *more: object) -> str:
    """A key that changes when the clip's file, its bucket, or `more` (say, the encoder) does."""
    stat = (folder / clip.path).stat()
    return cache_key(*more, clip.path, stat.st_size, stat.st_mtime_ns, bucket)
