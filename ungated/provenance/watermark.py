"""An invisible watermark that ties a clip to its record: 32 bits of its id and a 16-bit CRC,
embedded with invisible-watermark's DWT-DCT-SVD method, which survives H.264 at the default
quality and, in a 1080p clip, a rescale to half size (docs/benchmarks.md has the measured rates).

The library embeds a frame in a Python loop over its blocks (about 0.5 s per 1080p frame on a CPU
core); ungated computes the same embedding and reading with numpy, all blocks at once, and embeds
each frame afresh only where it changed (`Marker`). A clip is found when two frames decode to the
same id with a valid CRC, or when the bitwise majority of its frames carries a valid CRC.
"""

from __future__ import annotations

import binascii
import secrets
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# The first marker embedded every MARK_EVERY-th frame and left the others unmarked; detect still
# reads the clips it made.
MARK_EVERY = 4
ID_BITS, CRC_BITS = 32, 16
METHOD = "dwtDctSvd"  # invisible-watermark's name for it: its decoder reads these marks too
# Embedding strength per YUV channel. The library's default (U at 36) lost a quarter of the bits
# of a flat, blurry 480p clip after H.264 at crf 23; U at 72 kept all of them (PSNR about 37 dB).
SCALES = [0, 72, 0]
MIN_SIDE = 256  # the method needs frames at least this large
STANDARD_SHORT_SIDES = (360, 480, 720, 1080)  # where a rescaled frame is tried back at
# A change of the U plane by d is a change of RGB by d times this in OpenCV's YUV (Y and V stay).
U_TO_RGB = np.array([0.0, -0.395, 2.032], np.float32)


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


def _ll_blocks(u: np.ndarray) -> np.ndarray:
    """The method's blocks: the Haar DWT's low band of the U plane, in 4x4 blocks, one per 8x8 block
    of pixels ((n, 8, 8) U tiles in, (n, 4, 4) float blocks out)."""
    u = u.astype(np.float64)
    return (u[:, 0::2, 0::2] + u[:, 0::2, 1::2] + u[:, 1::2, 0::2] + u[:, 1::2, 1::2]) / 2


def _largest_singular(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each block's largest singular value s0 and its singular vectors u0, v0, by power iteration: the
    blocks' Gram matrices squared five times. The U plane is positive, so in all but a few blocks s0
    stands far above the others and this settles to float precision, four times faster than an SVD;
    the few where it does not are left to np.linalg.svd."""
    gram = np.matmul(blocks.transpose(0, 2, 1), blocks)
    power = gram
    for _ in range(5):
        power = np.matmul(power, power / np.einsum("nii->n", power).clip(1e-300)[:, None, None])
    v = power.sum(axis=2)
    v /= np.linalg.norm(v, axis=1, keepdims=True).clip(1e-300)
    gram_v = np.einsum("nij,nj->ni", gram, v)
    s2 = np.einsum("ni,ni->n", v, gram_v)
    settled = (s2 > 0) & (np.linalg.norm(gram_v - s2[:, None] * v, axis=1) <= 1e-9 * s2)
    s0 = np.sqrt(s2.clip(0))
    u = np.einsum("nij,nj->ni", blocks, v) / np.where(settled, s0, 1)[:, None]
    if not settled.all():
        rest = ~settled
        svd_u, svd_s, svd_vt = np.linalg.svd(blocks[rest])
        s0[rest], u[rest], v[rest] = svd_s[:, 0], svd_u[:, :, 0], svd_vt[:, 0]
    return s0, u, v


def _block_changes(blocks: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """What dwtDctSvd's embedding adds to each block: it sets the block's largest singular value
    s0 to the middle of the lower (bit 0) or upper (bit 1) half of its step of SCALE. It takes s0
    and its singular vectors after a DCT, which is orthonormal and so leaves s0 as it is and turns
    the vectors back into the block's own: the change is the same computed on the block itself."""
    s0, u, v = _largest_singular(blocks)
    scale = SCALES[1]
    delta = (s0 // scale + 0.25 + 0.5 * bits) * scale - s0
    return delta[:, None, None] * u[:, :, None] * v[:, None, :]


def _u_plane(rgb: np.ndarray) -> np.ndarray:
    """The U plane the method marks, as the library computes it (OpenCV's YUV)."""
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV)[..., 1]


def read_bits(rgb: np.ndarray) -> np.ndarray:
    """The bits a frame carries, exactly as invisible-watermark's dwtDctSvd decoder reads them (a
    block reads 1 when its s0 lies in the upper half of its step; each bit is the majority of its
    blocks), computed for all blocks at once."""
    rows, cols = rgb.shape[0] // 8, rgb.shape[1] // 8
    tiles = _u_plane(rgb)[: rows * 8, : cols * 8].reshape(rows, 8, cols, 8).swapaxes(1, 2).reshape(-1, 8, 8)
    s0 = _largest_singular(_ll_blocks(tiles))[0]
    bit_of_block = np.arange(rows * cols) % (ID_BITS + CRC_BITS)
    ones = np.bincount(bit_of_block, weights=s0 % SCALES[1] > SCALES[1] / 2, minlength=ID_BITS + CRC_BITS)
    return (ones / np.bincount(bit_of_block, minlength=ID_BITS + CRC_BITS) * 255 > 127).astype(np.uint8)


class Marker:
    """Marks every frame of a stream (RGB uint8 frames, in order) with one id, each frame as a fresh
    embedding would, at the cost of the 8x8 blocks that changed since the frame before.

    The method marks each 8x8 block of pixels on its own, from that block's pixels alone. So a
    block that did not change keeps exactly the change the embedding made to it (a still, flat
    background carries the same texture in every frame: no shimmer), and only the blocks that did
    (around a moving object) are embedded again: the mark always fits what the frame shows, with
    no trail of an earlier frame's mark behind a moving edge."""

    def __init__(self, mark: int):
        self.mark = mark
        self.bits = np.array(_bits(mark))
        self.previous: np.ndarray | None = None  # the last frame in, unmarked
        self.block_bits = np.zeros((0, 0), int)  # the bit each block carries
        self.change = {sign: np.zeros((0, 0, 3), np.uint8) for sign in (1, -1)}  # the mark's, both signs

    def __call__(self, index: int, frame: np.ndarray) -> np.ndarray:
        if not markable(frame.shape[1], frame.shape[0]):
            return frame
        frame = np.ascontiguousarray(frame)  # OpenCV needs pixels in rows (a (3, H, W) tensor's are not)
        rows, cols = frame.shape[0] // 8, frame.shape[1] // 8
        height, width = rows * 8, cols * 8
        if self.previous is None or self.previous.shape != frame.shape:
            self.previous = frame.copy()
            self.block_bits = self.bits[np.arange(rows * cols).reshape(rows, cols) % len(self.bits)]
            self.change = {sign: np.zeros((height, width, 3), np.uint8) for sign in (1, -1)}
            changed = np.ones((rows, cols), bool)
        else:
            changed = _changed_blocks(frame[:height, :width], self.previous[:height, :width])
            np.copyto(self.previous, frame)
        if changed.any():
            self._embed(frame[:height, :width], *np.nonzero(changed))
        marked = frame.copy() if (height, width) != frame.shape[:2] else np.empty(frame.shape, np.uint8)
        area = marked[:height, :width]
        cv2.subtract(cv2.add(frame[:height, :width], self.change[1], dst=area), self.change[-1], dst=area)
        return marked

    def _embed(self, frame: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
        """Embed the blocks at (rows, cols) afresh: their new change replaces the old."""
        grid = (frame.shape[0] // 8, 8, frame.shape[1] // 8, 8, 3)
        tiles = frame.reshape(grid)[rows, :, cols]  # (n, 8, 8, 3)
        u = _u_plane(tiles.reshape(1, -1, 3)).reshape(-1, 8, 8)
        # Each pixel's U changes by half its low band value's change; like the library, ungated
        # rounds the new U plane to whole levels, and it makes sure the frame reads back as exactly
        # that (the library's YUV to RGB and back is off by a level here and there).
        change = _block_changes(_ll_blocks(u), self.block_bits[rows, cols]) / 2
        target = np.clip(np.rint(u + change.repeat(2, 1).repeat(2, 2)), 0, 255).astype(np.uint8)
        rgb = _rgb_change(tiles.reshape(-1, 3), u.reshape(-1), target.reshape(-1)).reshape(tiles.shape)
        for sign, part in self.change.items():
            part.reshape(grid)[rows, :, cols] = np.clip(sign * rgb, 0, 255)


def _rgb_change(rgb: np.ndarray, u: np.ndarray, target: np.ndarray) -> np.ndarray:
    """A change to RGB pixels ((n, 3) in, int16 out, what is left of it after clipping) after which
    OpenCV reads their U as target: along U_TO_RGB, then, where rounding missed, with blue nudged a
    level or two towards it."""
    rgb, levels = rgb.astype(np.int16), target.astype(np.int16) - u
    change = np.zeros_like(rgb)
    for channel in (1, 2):  # red stays
        change[:, channel] = np.rint(levels * U_TO_RGB[channel])

    def read(pixels: np.ndarray) -> np.ndarray:
        return _u_plane(np.clip(pixels, 0, 255).astype(np.uint8)[None])[0].astype(np.int16)

    # Where a channel is at 0 or 255 (white, saturated colors) clipping cuts the change short:
    # make up the rest of it with green, then red, which move U the other way (U = 0.436 B -
    # 0.289 G - 0.147 R), so that a white background carries the mark too.
    for channel, slope in ((1, -0.289), (0, -0.147)):
        change = np.clip(rgb + change, 0, 255) - rgb
        off = read(rgb + change) - target
        missed = np.flatnonzero(off)
        if not missed.size:
            break
        change[missed, channel] -= np.rint(off[missed] / slope).astype(np.int16)
    change = np.clip(rgb + change, 0, 255) - rgb
    off = read(rgb + change) - target
    missed = np.flatnonzero(off)
    towards = -np.sign(off[missed]).astype(np.int16)
    for nudge in (1, 2):
        if not missed.size:
            break
        trial = change[missed]
        trial[:, 2] += nudge * towards
        hit = read(rgb[missed] + trial) == target[missed]
        change[missed[hit]] = trial[hit]
        missed, towards = missed[~hit], towards[~hit]
    return np.clip(rgb + change, 0, 255) - rgb


def _changed_blocks(frame: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Which 8x8 blocks differ in any pixel, as a (rows, cols) boolean array."""
    rows, cols = frame.shape[0] // 8, frame.shape[1] // 8
    if frame.flags.c_contiguous and previous.flags.c_contiguous:  # 8 bytes at a time: 3 words per block row
        differs = frame.reshape(frame.shape[0], -1).view(np.uint64) != previous.reshape(frame.shape[0], -1).view(np.uint64)
        return differs.reshape(rows, 8, cols * 3).any(axis=1).reshape(rows, cols, 3).any(axis=2)
    return (frame != previous).reshape(rows, 8, cols, 24).any(axis=(1, 3))


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

    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for _, frame in zip(range(max_frames), container.decode(video=0))]
    if not frames:
        return Detection(None, 0, 0)
    height, width = frames[0].shape[:2]
    best = 0
    for size in _sizes(width, height):
        decoded = []
        for frame in frames:
            if size != (width, height):
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC)
            decoded.append(read_bits(frame))
        votes: dict[int, int] = {}
        for bits in decoded:
            mark = _mark_of(list(bits))
            if mark is not None:
                votes[mark] = votes.get(mark, 0) + 1
        if votes and max(votes.values()) >= 2:
            found = max(votes, key=votes.get)
            return Detection(found, votes[found], len(frames))
        # The bitwise majority of all frames (each carries the mark), then of every MARK_EVERY-th
        # frame for each offset (clips marked before the mark was carried between frames).
        groups = [decoded, *(decoded[offset::MARK_EVERY] for offset in range(min(MARK_EVERY, len(decoded))))]
        for group in groups:
            if len(group) >= 2:
                mark = _mark_of(list((np.mean(group, axis=0) > 0.5).astype(int)))
                if mark is not None:
                    return Detection(mark, len(group), len(frames))
        best = max(best, *votes.values(), 0)
    return Detection(None, best, len(frames))
