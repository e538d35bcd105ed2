"""Built-in model speed on this machine's CPU: clip seconds made per wall-clock second.

Times the engine alone (sampling with guidance + painting the frames) at the native 64x64 and at
480x480, and the whole `generate` path to a 480x480 and a 1080x1080 MP4 (engine + watermark +
H.264 encode + previews + C2PA signing), each after one warm-up.

    python benchmarks/bench_builtin.py [--repeats 5] [--guidance G] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ungated.engines.builtin.engine import BuiltinEngine
from ungated.generate import generate_clips
from ungated.request import Request, plan

PROMPT = "a small red circle moving right on a blue background"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model-dir", type=Path, help="a built-in model folder (default: the shipped one)")
    parser.add_argument("--guidance", type=float, help="default: the engine's")
    args = parser.parse_args()
    engine = BuiltinEngine(args.model_dir)
    engine.load()
    noop = lambda *a: None  # noqa: E731

    def at(size: str):
        request = Request.build(prompt=PROMPT, seed=0, size=size, guidance=args.guidance)
        return plan(request, engine.capabilities, engine.id)

    def engine_only(size: str):
        p = at(size)
        return lambda: [None for _ in engine.generate(p, 0, noop, lambda: False)]

    def full_path(size: str):
        def run() -> None:
            with tempfile.TemporaryDirectory() as tmp:
                generate_clips(engine, at(size), [Path(tmp) / "clip.mp4"], noop)
        return run

    p = at("64x64")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {p.frames} frames at {p.fps} fps "
          f"({p.seconds:g} s), {p.steps} steps, guidance {p.guidance}; median of {args.repeats}")
    print("| path | wall s per clip | clip s per wall s |")
    print("|---|---|---|")
    cases = (("engine, 64x64", engine_only("64x64")), ("engine, 480x480", engine_only("480x480")),
             ("generate to 480x480 MP4", full_path("480x480")), ("generate to 1080x1080 MP4", full_path("1080x1080")))
    for name, fn in cases:
        fn()  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        wall = statistics.median(times)
        print(f"| {name} | {wall:.2f} | {p.seconds / wall:.2f}x |")


if __name__ == "__main__":
    main()
