"""Invisible watermark robustness and cost.

Clips from the built-in model (seeded prompts) are made with the watermark on, then attacked:
re-encoded with libx264 at crf 23 and 28, scaled to 50% (area filter) and re-encoded at crf 23,
and cropped by 10% (5% off each side, centred) and re-encoded at crf 23. A clip counts as
recovered when `detect` returns its id. False positives: the same clips made with the watermark
off, where `detect` must find nothing. Cost: the time to mark one 1080p frame.

    python benchmarks/bench_watermark.py [--clips 12] [--resolutions 480p,1080p]
"""

from __future__ import annotations

import argparse
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
from ungated.provenance import watermark  # noqa: E402
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


ATTACKS = {
    "re-encode crf 23": lambda f: (f, 23),
    "re-encode crf 28": lambda f: (f, 28),
    "scale to 50%, crf 23": lambda f: ([cv2.resize(x, (x.shape[1] // 2, x.shape[0] // 2), interpolation=cv2.INTER_AREA)
                                        for x in f], 23),
    "crop 10%, crf 23": lambda f: ([x[round(x.shape[0] * 0.05): round(x.shape[0] * 0.95),
                                      round(x.shape[1] * 0.05): round(x.shape[1] * 0.95)] for x in f], 23),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--resolutions", default="480p,1080p")
    args = parser.parse_args()
    engine = BuiltinEngine()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for resolution in args.resolutions.split(","):
            recovered = {name: 0 for name in ATTACKS}
            unattacked = false_positives = 0
            for index, prompt in enumerate(prompts(args.clips)):
                video_id = f"video_{index:08x}" + "0" * 24
                made = {}
                for marked in (True, False):
                    request = Request.build(prompt=prompt, seed=index, resolution=resolution,
                                            provenance={"watermark": marked})
                    the_plan = plan(request, engine.capabilities, engine.id)
                    path = root / f"{resolution}-{index}-{marked}.mp4"
                    generate_clips(engine, the_plan, [path], lambda *a: None, video_ids=[video_id])
                    made[marked] = path
                want = watermark.mark_id(video_id)
                unattacked += watermark.detect(made[True]).mark == want
                false_positives += watermark.detect(made[False]).mark is not None
                frames = frames_of(made[True])
                for name, attack in ATTACKS.items():
                    changed, crf = attack(frames)
                    attacked = write(changed, root / "attacked.mp4", crf)
                    recovered[name] += watermark.detect(attacked).mark == want
            n = args.clips
            print(f"{resolution}, {n} clips: as made {unattacked}/{n}; " + "; ".join(
                f"{name} {count}/{n}" for name, count in recovered.items()) +
                f"; false positives on unmarked clips {false_positives}/{n}", flush=True)
        frame = cv2.resize(frames_of(made[True])[0], (1920, 1080))
    marker = watermark.Marker(1234)
    marker(0, frame)  # warm up
    started = time.perf_counter()
    for _ in range(8):
        marker(0, frame)
    print(f"marking one 1920x1080 frame: {(time.perf_counter() - started) / 8 * 1000:.0f} ms "
          f"(every {watermark.MARK_EVERY}th frame is marked)")


if __name__ == "__main__":
    main()
