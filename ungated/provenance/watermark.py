"""An invisible watermark that ties a clip to its record: 32 bits of its id and a 16-bit CRC,
embedded with invisible-watermark's DWT-DCT-SVD method, which survives H.264 at the default
quality and a rescale to half size (docs/benchmarks.md has the measured rates).

Embedding costs about 0.5 s per 1080p frame on a CPU core, so it runs on every MARK_EVERY-th
frame, and the change it made there (the mark's residual) is added to the frames up to the next
one as well. Every frame carries the mark, and a flat background carries the same faint texture
in every frame instead of one that comes and goes at a quarter of the frame rate (a shimmer).
Any two frames that decode to the same id with a valid CRC identify the clip.
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
# Embedding strength per YUV channel. The library's default (U at 36) lost a quarter of the bits
# of a flat, blurry 480p clip after H.264 at crf 23; U at 72 kept all of them (PSNR about 37 dB).
SCALES = [0, 72, 0]
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
    """Marks every frame of a stream (RGB uint8 frames, in order) with one id: embedded afresh in
    every MARK_EVERY-th frame, whose residual the frames after it carry too."""

    def __init__(self, mark: int):
        from imwatermark import WatermarkEncoder

        self.mark = mark
        self.encoder = WatermarkEncoder()
        self.encoder.set_watermark("bits", _bits(mark))
        self.residual: np.ndarray | None = None  # int16, what the last embedding changed

    def __call__(self, index: int, frame: np.ndarray) -> np.ndarray:
        if not markable(frame.shape[1], frame.shape[0]):
            return frame
        if index % MARK_EVERY == 0 or self.residual is None or self.residual.shape != frame.shape:
            bgr = np.ascontiguousarray(frame[..., ::-1])
            marked = np.ascontiguousarray(self.encoder.encode(bgr, METHOD, scales=SCALES)[..., ::-1])
            self.residual = marked.astype(np.int16) - frame
            return marked
        return np.clip(frame + self.residual, 0, 255).astype(np.uint8)


def markable(width: int, height: int) -> bool:
    """Whether frames of this size carry the mark (smaller ones are left unmarked)."""
    return min(width, height) >= MIN_SIDE


@dataclass(frozen=True)
class Detection:
    mark: int | None  # the id found, or None
    frames_agreeing: int
    frames_checked: int


def _sizes(width: int, height: int) -> list[tuple[int, int]]:
    """Where to read a frame: at its own size, then scaled back up to each larger standard size of
    its aspect ratio (for a clip that was scaled down after it was made, to half at the most)."""
    if min(width, height) < MIN_SIDE // 2:
        return []
    sizes = [(width, height)] if min(width, height) >= MIN_SIDE else []
    for short in STANDARD_SHORT_SIDES:
        scale = short / min(width, height)
        if 1.01 < scale <= 2.01:
            sizes.append((2 * round(width * scale / 2), 2 * round(height * scale / 2)))
    return sizes


def detect(path: Path, max_frames: int = 64) -> Detection:
    """Look for the mark in the first max_frames frames of a video, at each size in turn. Found when
    two frames decode to the same id, or when the bitwise majority of all frames, or of every
    MARK_EVERY-th frame (for each of the possible offsets), carries a valid CRC."""
    import av
    import cv2
    from imwatermark import WatermarkDecoder

    decoder = WatermarkDecoder("bits", ID_BITS + CRC_BITS)
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="bgr24") for _, frame in zip(range(max_frames), container.decode(video=0))]
    if not frames:
        return Detection(None, 0, 0)
    height, width = frames[0].shape[:2]
    best = 0
    for size in _sizes(width, height):
        decoded = []
        for frame in frames:
            if size != (width, height):
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC)
            decoded.append(np.asarray(decoder.decode(frame, METHOD, scales=SCALES), dtype=np.uint8))
        votes: dict[int, int] = {}
        for bits in decoded:
            mark = _mark_of(list(bits))
            if mark is not None:
                votes[mark] = votes.get(mark, 0) + 1
        if votes and max(votes.values()) >= 2:
            found = max(votes, key=votes.get)
            return Detection(found, votes[found], len(frames))
        # The bitwise majority of all frames (each carries the mark), then of every MARK_EVERY-th
        # frame for each offset (clips marked before the residual was carried between frames).
        groups = [decoded, *(decoded[offset::MARK_EVERY] for offset in range(min(MARK_EVERY, len(decoded))))]
        for group in groups:
            if len(group) >= 2:
                mark = _mark_of(list((np.mean(group, axis=0) > 0.5).astype(int)))
                if mark is not None:
                    return Detection(mark, len(group), len(frames))
        best = max(best, *votes.values(), 0)
    return Detection(None, best, len(frames))
