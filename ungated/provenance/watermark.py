"""An invisible watermark that ties a clip to its record: 32 bits of its id and a 16-bit CRC,
embedded with invisible-watermark's DWT-DCT-SVD method, which survives H.264 at the default
quality and a rescale to half size (docs/benchmarks.md has the measured rates).

Embedding costs about 0.65 s per 1080p frame on a CPU core, so every MARK_EVERY-th frame is
marked; any two marked frames that decode to the same id with a valid CRC identify the clip.
"""

from __future__ import annotations

import binascii
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MARK_EVERY = 4
ID_BITS, CRC_BITS = 32, 16
METHOD = "dwtDctSvd"
MIN_SIDE = 256  # the method needs frames at least this large
STANDARD_SHORT_SIDES = (360, 480, 720, 1080)  # where a rescaled frame is tried back at


def mark_id(video_id: str | None = None) -> int:
    """The 32-bit id a clip carries: the start of its video id, or random for a clip without one."""
    if video_id:
        return int(video_id.removeprefix("video_")[:8], 16)
    return secrets.randbits(ID_BITS)


def id_prefix(mark: int) -> str:
    """The video ids (as a prefix) a decoded mark points to."""
    return f"video_{mark:08x}"


def _bits(mark: int) -> list[int]:
    data = mark.to_bytes(4, "big")
    word = (mark << CRC_BITS) | binascii.crc_hqx(data, 0xFFFF)
    return [(word >> (ID_BITS + CRC_BITS - 1 - i)) & 1 for i in range(ID_BITS + CRC_BITS)]


def _mark_of(bits: list[int]) -> int | None:
    word = int("".join(str(int(b)) for b in bits), 2)
    mark, crc = word >> CRC_BITS, word & (2**CRC_BITS - 1)
    return mark if binascii.crc_hqx(mark.to_bytes(4, "big"), 0xFFFF) == crc else None


class Marker:
    """Marks every MARK_EVERY-th frame of a stream (RGB uint8 frames) with one id."""

    def __init__(self, mark: int):
        from imwatermark import WatermarkEncoder

        self.mark = mark
        self.encoder = WatermarkEncoder()
        self.encoder.set_watermark("bits", _bits(mark))

    def __call__(self, index: int, frame: np.ndarray) -> np.ndarray:
        if index % MARK_EVERY or min(frame.shape[:2]) < MIN_SIDE:
            return frame
        bgr = np.ascontiguousarray(frame[..., ::-1])
        return np.ascontiguousarray(self.encoder.encode(bgr, METHOD)[..., ::-1])


@dataclass(frozen=True)
class Detection:
    mark: int | None  # the id found, or None
    frames_agreeing: int
    frames_checked: int


def _rescaled(frame_bgr: np.ndarray) -> list[np.ndarray]:
    """The frame brought back up to the larger standard sizes of its aspect ratio (for a clip that
    was scaled down after it was made)."""
    import cv2

    height, width = frame_bgr.shape[:2]
    out = []
    for short in STANDARD_SHORT_SIDES:
        scale = short / min(height, width)
        if scale > 1.01:
            size = (2 * round(width * scale / 2), 2 * round(height * scale / 2))
            out.append(cv2.resize(frame_bgr, size, interpolation=cv2.INTER_CUBIC))
    return out


def detect(path: Path, max_frames: int = 64) -> Detection:
    """Look for the mark in the first max_frames frames of a video: found when two frames agree.
    Frames are read at their size first, then (if that finds nothing) at the standard sizes."""
    import av
    from imwatermark import WatermarkDecoder

    decoder = WatermarkDecoder("bits", ID_BITS + CRC_BITS)
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="bgr24") for _, frame in zip(range(max_frames), container.decode(video=0))]
    for sizes in (lambda f: [f] if min(f.shape[:2]) >= MIN_SIDE else [], _rescaled):
        votes: dict[int, int] = {}
        for frame in frames:
            for candidate in sizes(frame):
                mark = _mark_of(decoder.decode(candidate, METHOD))
                if mark is not None:
                    votes[mark] = votes.get(mark, 0) + 1
                    break
            if votes and max(votes.values()) >= 2:
                best = max(votes, key=votes.get)
                return Detection(best, votes[best], len(frames))
    return Detection(None, max(votes.values(), default=0), len(frames))
