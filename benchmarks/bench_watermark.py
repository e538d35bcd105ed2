"""Invisible watermark robustness, visibility and cost, for today's marker and the one before it
(embedded in every 4th frame only), side by side in one run.

Robustness: clips from the built-in model (seeded prompts) are made with the watermark on, then
attacked: re-encoded with libx264 at crf 23 and 28, scaled to 50% (area filter) and re-encoded at
crf 23, and cropped by 10% (5% off each side, centred) and re-encoded at crf 23. A clip counts as
recovered when `detect` returns its id. False positives: the same clips made with the watermark
off, where `detect` must find nothing.

Visibility: a 480x480 clip of a large yellow star bouncing on a purple background, as the MP4
decodes. On the pixels that are background in every frame of the same clip made without the mark:
the texture the mark adds (the standard deviation of those pixels, per channel) and the shimmer
(the mean absolute change of those pixels from one frame to the next, per channel: its mean over
the clip and its largest frame pair).

Cost: the time to mark one 1080p frame (embedding), and to carry the mark into the next frame.

    python benchmarks/bench_watermark.py [--clips 12] [--resolutions 480p,1080p]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ungated.engines.builtin import world  # noqa: E402
from ungated.engines.builtin.engine import BuiltinEngine  # noqa: E402
from ungated.generate import generate_clips  # noqa: E402
from ungated.media.encode import Mp4Writer  # noqa: E402
from ungated.provenance import stamp, watermark  # noqa: E402
from ungated.request import Request, plan  # noqa: E402


def prompts(count: int) -> list[str]:
    rng = np.random.default_rng(11)
    colours, shapes = list(world.COLORS), ["circle", "square", "triangle", "star"]
    out = []
    for _ in range(count):
        a, b = rng.choice(colours, 2, replace=False)
        out.append(f"a {rng.choice(['small', 'large'])} {a} {rng.choice(shapes)} {rng.choice(world.MOTIONS)} "
                   f"on a {b} background")
    return out


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def write(frames: list[np.ndarray], path: Path, crf: int) -> Path:
    height, width = frames[0].shape[:2]
    with Mp4Writer(path, width - width % 2, height - height % 2, 8, crf=crf) as writer:
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[: height - height % 2, : width - width % 2]))
    return path


class EveryFourthFrame(watermark.Marker):
    """The marker before the residual was held: every MARK_EVERY-th frame marked, the others not."""

    def __call__(self, index: int, frame: np.ndarray) -> np.ndarray:
        return frame if index % watermark.MARK_EVERY else super().__call__(index, frame)


MARKERS = {"every 4th frame (before)": EveryFourthFrame, "every frame, residual held (now)": watermark.Marker}


@contextlib.contextmanager
def marking_with(marker: type[watermark.Marker]):
    """Clips made inside are marked by marker (stamp.ClipStamp builds its filter from this name)."""
    saved, stamp.Marker = stamp.Marker, marker
    try:
        yield
    finally:
        stamp.Marker = saved


ATTACKS = {
    "re-encode crf 23": lambda f: (f, 23),
    "re-encode crf 28": lambda f: (f, 28),
    "scale to 50%, crf 23": lambda f: ([cv2.resize(x, (x.shape[1] // 2, x.shape[0] // 2), interpolation=cv2.INTER_AREA)
                                        for x in f], 23),
    "crop 10%, crf 23": lambda f: ([x[round(x.shape[0] * 0.05): round(x.shape[0] * 0.95),
                                      round(x.shape[1] * 0.05): round(x.shape[1] * 0.95)] for x in f], 23),
}


def make(engine: BuiltinEngine, prompt: str, seed: int, resolution: str, marked: bool, video_id: str,
         path: Path) -> Path:
    request = Request.build(prompt=prompt, seed=seed, resolution=resolution, provenance={"watermark": marked})
    generate_clips(engine, plan(request, engine.capabilities, engine.id), [path], lambda *a: None,
                   video_ids=[video_id])
    return path


def robustness(engine: BuiltinEngine, root: Path, resolution: str, clips: int) -> None:
    rows = {name: {"as made": 0, **{attack: 0 for attack in ATTACKS}} for name in MARKERS}
    false_positives = 0
    for index, prompt in enumerate(prompts(clips)):
        video_id = f"video_{index:08x}" + "0" * 24
        want = watermark.mark_id(video_id)
        plain = make(engine, prompt, index, resolution, False, video_id, root / "plain.mp4")
        false_positives += watermark.detect(plain).mark is not None
        for name, marker in MARKERS.items():
            with marking_with(marker):
                made = make(engine, prompt, index, resolution, True, video_id, root / "marked.mp4")
            rows[name]["as made"] += watermark.detect(made).mark == want
            frames = frames_of(made)
            for attack, change in ATTACKS.items():
                changed, crf = change(frames)
                rows[name][attack] += watermark.detect(write(changed, root / "attacked.mp4", crf)).mark == want
    for name, counts in rows.items():
        print(f"| {resolution}, {name} | " + " | ".join(f"{count}/{clips}" for count in counts.values()) +
              f" | {false_positives}/{clips} |", flush=True)


def visibility(engine: BuiltinEngine, root: Path) -> None:
    prompt, video_id = "a large yellow star bouncing on a purple background", "video_1234abcd" + "0" * 24
    plain = np.stack(frames_of(make(engine, prompt, 3, "480p", False, video_id, root / "plain.mp4"))).astype(float)
    background = (np.abs(plain - plain[0, 0, 0]).sum(-1) < 6).all(0)  # the first pixel's color, in every frame
    print(f"background: {background.mean():.0%} of the 480x480 frame")
    print("| marker | texture std R / G / B | shimmer, mean | shimmer, largest frame pair |")
    for name, marker in MARKERS.items():
        with marking_with(marker):
            marked = make(engine, prompt, 3, "480p", True, video_id, root / "marked.mp4")
        frames = np.stack(frames_of(marked)).astype(float)[:, background]  # (frames, pixels, RGB)
        texture = frames.std(axis=1)
        change = np.abs(np.diff(frames, axis=0)).mean(axis=1)
        print(f"| {name} | {fmt(texture.min(0))} to {fmt(texture.max(0))} | {fmt(change.mean(0))} | "
              f"{fmt(change.max(0))} |", flush=True)


def fmt(rgb: np.ndarray) -> str:
    return " / ".join(f"{value:.2f}" for value in rgb)


def cost(root: Path) -> None:
    frame = cv2.resize(np.full((1080, 1080, 3), (90, 40, 160), np.uint8), (1920, 1080))
    marker = watermark.Marker(1234)
    marker(0, frame)  # warm up
    started = time.perf_counter()
    for _ in range(8):
        marker(0, frame)
    embed = (time.perf_counter() - started) / 8
    started = time.perf_counter()
    for index in range(1, 33):
        marker(index % watermark.MARK_EVERY or 1, frame)
    carry = (time.perf_counter() - started) / 32
    print(f"1920x1080: embedding {embed * 1000:.0f} ms per marked frame; carrying the mark into a frame "
          f"{carry * 1000:.1f} ms; so about {(embed + (watermark.MARK_EVERY - 1) * carry) / watermark.MARK_EVERY * 1000:.0f}"
          f" ms per frame of video")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--resolutions", default="480p,1080p")
    args = parser.parse_args()
    engine = BuiltinEngine()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        visibility(engine, root)
        print("| clips, marker | as made | " + " | ".join(ATTACKS) + " | false positives |")
        for resolution in args.resolutions.split(","):
            robustness(engine, root, resolution, args.clips)
        cost(root)


if __name__ == "__main__":
    main()
