"""Invisible watermark robustness, visibility and cost, for today's marker and the one before it,
side by side in one run.

Before: invisible-watermark's own encoder embedded every 4th frame, and the change it made there
(its residual) was carried into the three frames after it. Now: ungated's numpy embedding of the
same method marks every frame as a fresh embedding would, re-embedding only the 8x8 blocks that
changed since the frame before.

Frames are like the built-in model's: flat coloured shapes (circle, square, triangle, star), drawn
anti-aliased with OpenCV, moving over a flat background, seeded; 24 fps.

Robustness: clips of 24 frames are marked, written as the studio writes them (libx264, crf 23),
then attacked: re-encoded at crf 23 and 28, scaled to 50% (area filter) and re-encoded at crf 23,
and cropped by 10% (5% off each side, centred) and re-encoded at crf 23. A clip counts as recovered
when `detect` returns its id. False positives: the same clips unmarked, where `detect` must find
nothing.

Visibility: six 1280x720 clips (32 frames: a large yellow star bouncing on a purple background, and
five seeded scenes), as the MP4 decodes. On the pixels that are background in every frame of a clip,
split into those in the 8x8 blocks the objects never reach (still background) and those in the blocks
they pass through (background beside the objects): the texture the mark adds (the standard deviation
of those pixels, per channel) and the shimmer (the mean absolute change of those pixels from one
frame to the next, per channel: its mean over the clips and its largest frame pair). And the trail,
before encoding: on the pixels that changed within the last 3 frames (the moving objects), how far
each marked frame is from a fresh embedding of that frame by the same method (in blue, where the
mark's change is largest): a residual carried over a moving edge shows there.

Cost: the marker's own time per frame over a 240-frame clip (10 s at 24 fps) of two moving shapes
at 1280x720 and 1920x1080, the clip's total, and the time for a frame whose every block changes
(a textured frame panning by one pixel per frame: what a diffusion model's clip is like). And the
time to read the mark from one 1920x1080 frame (what `detect` does to each frame it checks), with
the library's decoder (before) and ungated's (now).

    python benchmarks/bench_watermark.py [--clips 12] [--resolutions 720p,1080p] [--skip cost,visibility]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ungated.media.encode import Mp4Writer
from ungated.provenance import watermark

FPS = 24
SIZES = {"480p": (480, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
# The built-in model's palette, copied so that this does not change with the model's code.
COLORS = {"red": (220, 40, 40), "orange": (245, 140, 20), "yellow": (250, 215, 30), "green": (40, 170, 60),
          "blue": (40, 90, 220), "purple": (130, 50, 180), "pink": (240, 120, 180), "white": (245, 245, 245),
          "black": (20, 20, 20), "gray": (128, 128, 128)}
SHAPES = ("circle", "square", "triangle", "star")
MOTIONS = ("moving right", "moving left", "moving up", "moving down", "bouncing", "rotating", "growing")


class LibraryEveryFourth:
    """The marker before: invisible-watermark's encoder on every 4th frame, whose residual the three
    frames after it carry."""

    def __init__(self, mark: int):
        from imwatermark import WatermarkEncoder

        self.encoder = WatermarkEncoder()
        self.encoder.set_watermark("bits", watermark._bits(mark))
        self.residual: np.ndarray | None = None

    def embed(self, frame: np.ndarray) -> np.ndarray:
        bgr = np.ascontiguousarray(frame[..., ::-1])
        return np.ascontiguousarray(self.encoder.encode(bgr, watermark.METHOD, scales=watermark.SCALES)[..., ::-1])

    def __call__(self, index: int, frame: np.ndarray) -> np.ndarray:
        if index % 4 == 0 or self.residual is None or self.residual.shape != frame.shape:
            marked = self.embed(frame)
            self.residual = marked.astype(np.int16) - frame
            return marked
        return np.clip(frame + self.residual, 0, 255).astype(np.uint8)


class OwnEveryFrame(watermark.Marker):
    """Today's marker; embed marks one frame afresh (what the trail is measured against)."""

    def embed(self, frame: np.ndarray) -> np.ndarray:
        return watermark.Marker(self.mark)(0, frame)


MARKERS: dict[str, Callable[[int], LibraryEveryFourth | OwnEveryFrame]] = {
    "library, every 4th frame, residual carried (before)": LibraryEveryFourth,
    "own, every frame, changed blocks only (now)": OwnEveryFrame,
}


# 1. Frames like the built-in model's.

def polygon(shape: str, centre: tuple[float, float], radius: float, angle: float) -> np.ndarray:
    corners = {"square": 4, "triangle": 3, "star": 10}[shape]
    t = angle - math.pi / 2 + 2 * math.pi * np.arange(corners) / corners
    r = np.full(corners, radius) * (np.where(np.arange(corners) % 2, 0.45, 1.0) if shape == "star" else 1)
    return np.stack([centre[0] + r * np.cos(t), centre[1] + r * np.sin(t)], -1)


def draw(frame: np.ndarray, shape: str, colour: tuple[int, int, int], centre: tuple[float, float], radius: float,
         angle: float) -> None:
    shift = 4  # sub-pixel positions, as the model's painter draws them
    if shape == "circle":
        cv2.circle(frame, (round(centre[0] * 16), round(centre[1] * 16)), round(radius * 16), colour, -1, cv2.LINE_AA,
                   shift)
    else:
        cv2.fillPoly(frame, [np.round(polygon(shape, centre, radius, angle) * 16).astype(np.int32)], colour,
                     cv2.LINE_AA, shift)


def scene(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    background, *colours = rng.choice(list(COLORS), 3, replace=False)
    objects = [{"shape": rng.choice(SHAPES), "colour": COLORS[c], "motion": rng.choice(MOTIONS),
                "size": rng.choice([0.12, 0.22]), "start": rng.uniform(0.3, 0.7, 2)}
               for c in colours[: rng.integers(1, 3)]]
    return {"background": COLORS[background], "objects": objects}


def frames_of_scene(spec: dict, width: int, height: int, count: int) -> Iterator[np.ndarray]:
    """The scene's frames: each object travels about a third of the frame in 2 s."""
    short = min(width, height)
    for k in range(count):
        frame = np.empty((height, width, 3), np.uint8)
        frame[:] = spec["background"]
        for thing in spec["objects"]:
            t, radius, angle = k / (2 * FPS), thing["size"] * short, 0.0
            x, y = thing["start"][0] * width, thing["start"][1] * height
            step = 0.35 * short * math.sin(math.pi * min(t, 1.0) / 2) if thing["motion"] != "bouncing" else 0
            match thing["motion"]:
                case "moving right": x += step
                case "moving left": x -= step
                case "moving up": y -= step
                case "moving down": y += step
                case "bouncing": y -= 0.3 * short * abs(math.sin(math.pi * t * 1.5))
                case "rotating": angle = math.pi * t
                case "growing": radius *= 0.6 + 0.3 * t
            draw(frame, thing["shape"], thing["colour"], (x, y), radius, angle)
        yield frame


def star_clip(width: int, height: int, count: int) -> Iterator[np.ndarray]:
    spec = {"background": COLORS["purple"], "objects": [
        {"shape": "star", "colour": COLORS["yellow"], "motion": "bouncing", "size": 0.22, "start": (0.5, 0.7)}]}
    return frames_of_scene(spec, width, height, count)


def decoded_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def write(frames: list[np.ndarray], path: Path, crf: int = 23) -> Path:
    height, width = frames[0].shape[:2]
    with Mp4Writer(path, width - width % 2, height - height % 2, FPS, crf=crf) as writer:
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[: height - height % 2, : width - width % 2]))
    return path


def marked(marker: Callable[[int, np.ndarray], np.ndarray], frames: list[np.ndarray]) -> list[np.ndarray]:
    return [marker(index, frame) for index, frame in enumerate(frames)]


# 2. Robustness.

ATTACKS = {
    "re-encode crf 23": lambda f: (f, 23),
    "re-encode crf 28": lambda f: (f, 28),
    "scale to 50%, crf 23": lambda f: ([cv2.resize(x, (x.shape[1] // 2, x.shape[0] // 2), interpolation=cv2.INTER_AREA)
                                        for x in f], 23),
    "crop 10%, crf 23": lambda f: ([x[round(x.shape[0] * 0.05): round(x.shape[0] * 0.95),
                                      round(x.shape[1] * 0.05): round(x.shape[1] * 0.95)] for x in f], 23),
}


def robustness(root: Path, resolution: str, clips: int, frames: int = 24) -> None:
    rows = {name: {"as made": 0, **{attack: 0 for attack in ATTACKS}} for name in MARKERS}
    false_positives = 0
    for index in range(clips):
        plain = list(frames_of_scene(scene(index), *SIZES[resolution], frames))
        want = 0x5EED0000 + index
        false_positives += watermark.detect(write(plain, root / "plain.mp4")).mark is not None
        for name, marker in MARKERS.items():
            made = write(marked(marker(want), plain), root / "marked.mp4")
            rows[name]["as made"] += watermark.detect(made).mark == want
            as_made = decoded_frames(made)
            for attack, change in ATTACKS.items():
                changed, crf = change(as_made)
                rows[name][attack] += watermark.detect(write(changed, root / "attacked.mp4", crf)).mark == want
    for name, counts in rows.items():
        print(f"| {resolution} ({'x'.join(map(str, SIZES[resolution]))}), {name} | "
              + " | ".join(f"{count}/{clips}" for count in counts.values()) + f" | {false_positives}/{clips} |",
              flush=True)


# 3. Visibility.

def visibility(root: Path, count: int = 32, scenes: int = 5) -> None:
    clips = [list(star_clip(1280, 720, count))] + [list(frames_of_scene(scene(100 + seed), 1280, 720, count))
                                                   for seed in range(scenes)]
    areas, moving = [], []
    for plain in clips:
        stack = np.stack(plain).astype(np.int16)
        unmarked = np.stack(decoded_frames(write(plain, root / "plain.mp4"))).astype(float)
        background = (np.abs(unmarked - unmarked[0, 0, 0]).sum(-1) < 6).all(0)  # the first pixel's colour, always
        # The 8x8 blocks the objects pass through (any of their pixels changes during the clip).
        touched = (stack != stack[0]).any(axis=(0, 3)).reshape(90, 8, 160, 8).any(axis=(1, 3)).repeat(8, 0).repeat(8, 1)
        areas.append({"still background": background & ~touched, "background beside the objects": background & touched})
        changed = np.zeros(stack.shape[:3], bool)  # within the last 3 frames
        for back in (1, 2, 3):
            changed[back:] |= (stack[back:] != stack[:-back]).any(-1)
        moving.append(changed)
    print(f"{len(clips)} clips of 1280x720, {count} frames: " + ", ".join(
        f"{name} {np.mean([a[name].mean() for a in areas]):.1%}" for name in areas[0]) + " of the frame, on average")
    print("| marker | where | texture std R / G / B | shimmer, mean R / G / B | shimmer, largest frame pair |")
    trails = {}
    for name, make in MARKERS.items():
        texture, change, trail = {where: [] for where in areas[0]}, {where: [] for where in areas[0]}, []
        for plain, area, changed in zip(clips, areas, moving):
            out = marked(make(0x1234ABCD), plain)
            trail += [np.abs(frame.astype(np.int16) - make(0x1234ABCD).embed(source))[..., 2][where]
                      for frame, source, where in zip(out, plain, changed) if where.any()]
            frames = np.stack(decoded_frames(write(out, root / "marked.mp4"))).astype(float)
            for where, mask in area.items():
                texture[where].append(frames[:, mask].std(axis=1))
                change[where].append(np.abs(np.diff(frames[:, mask], axis=0)).mean(axis=1))
        for where in areas[0]:
            tex, chg = np.concatenate(texture[where]), np.concatenate(change[where])
            print(f"| {name} | {where} | {fmt(tex.min(0))} to {fmt(tex.max(0))} | {fmt(chg.mean(0))} | "
                  f"{fmt(chg.max(0))} |", flush=True)
        trail = np.concatenate(trail)
        trails[name] = f"{trail.mean():.2f} | {np.mean(trail > 2):.1%} | {trail.max()}"
    print(f"| trail on the {np.mean(moving):.1%} of pixels that changed within 3 frames | mean | share over 2 levels | "
          "largest (blue) |")
    for name, trail in trails.items():
        print(f"| {name} | {trail} |")


def fmt(rgb: np.ndarray) -> str:
    return " / ".join(f"{value:.2f}" for value in rgb)


# 4. Cost.

def timed(marker: Callable[[int, np.ndarray], np.ndarray], frames: Iterator[np.ndarray]) -> tuple[float, int]:
    """Seconds spent in the marker (not in drawing), and the frame count."""
    spent, count = 0.0, 0
    for index, frame in enumerate(frames):
        started = time.perf_counter()
        marker(index, frame)
        spent += time.perf_counter() - started
        count += 1
    return spent, count


def panning(width: int, height: int, count: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (height, width + count, 3), dtype=np.uint8), (5, 5), 1.5)
    for k in range(count):
        yield np.ascontiguousarray(texture[:, k: k + width])


def cost() -> None:
    print("| marker | frame size | 240 frames of moving shapes: total, per frame | every block changing, per frame |")
    spec = {"background": COLORS["blue"], "objects": [
        {"shape": "star", "colour": COLORS["yellow"], "motion": "bouncing", "size": 0.22, "start": (0.3, 0.7)},
        {"shape": "circle", "colour": COLORS["red"], "motion": "moving right", "size": 0.12, "start": (0.5, 0.3)}]}
    for resolution in ("720p", "1080p"):
        width, height = SIZES[resolution]
        for name, make in MARKERS.items():
            total, count = timed(make(0x1234ABCD), frames_of_scene(spec, width, height, 240))
            busy, busy_count = timed(make(0x1234ABCD), panning(width, height, 24))
            print(f"| {name} | {width}x{height} | {total:.2f} s, {total / count * 1000:.1f} ms | "
                  f"{busy / busy_count * 1000:.0f} ms |", flush=True)
    # Reading: what detect does to each frame it checks (up to 64 per size), the library's decoder
    # (before) and ungated's (now).
    from imwatermark import WatermarkDecoder

    decoder = WatermarkDecoder("bits", watermark.ID_BITS + watermark.CRC_BITS)
    frame = watermark.Marker(0x1234ABCD)(0, next(frames_of_scene(spec, 1920, 1080, 1)))
    bgr = np.ascontiguousarray(frame[..., ::-1])
    readers = {"library": lambda: decoder.decode(bgr, watermark.METHOD, scales=watermark.SCALES),
               "own": lambda: watermark.read_bits(frame)}
    print("reading a 1920x1080 frame: " + ", ".join(f"{name} {fastest(read) * 1000:.0f} ms" for name, read in readers.items()))


def fastest(call: Callable[[], object], repeats: int = 3) -> float:
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--resolutions", default="720p,1080p")
    parser.add_argument("--skip", default="", help="comma-separated parts to leave out: visibility,robustness,cost")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        if "cost" not in skip:
            cost()
        if "visibility" not in skip:
            visibility(root)
        if "robustness" not in skip:
            print("| clips, marker | as made | " + " | ".join(ATTACKS) + " | false positives |")
            for resolution in args.resolutions.split(","):
                robustness(root, resolution, args.clips)


if __name__ == "__main__":
    main()
