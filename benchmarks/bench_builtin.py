"""Built-in model speed on this machine's CPU: clip seconds made per wall-clock second.

Times the engine alone (sampling with guidance + decoding, the native 64x64 clip) and the whole
`generate` path (engine + upscale to 480x480 + H.264 encode + previews), after one warm-up.

    python benchmarks/bench_builtin.py [--repeats 5]
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
    args = parser.parse_args()
    engine = BuiltinEngine()
    engine.load()
    p = plan(Request.build(prompt=PROMPT, seed=0), engine.capabilities, engine.id)
    noop = lambda *a: None  # noqa: E731

    def engine_only() -> None:
        for _ in engine.generate(p, 0, noop, lambda: False):
            pass

    def full_path() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            generate_clips(engine, p, [Path(tmp) / "clip.mp4"], noop)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {p.frames} frames at {p.fps} fps "
          f"({p.seconds:g} s), {p.steps} steps, guidance {p.guidance}; median of {args.repeats}")
    print("| path | wall s per clip | clip s per wall s |")
    print("|---|---|---|")
    for name, fn in (("engine (64x64)", engine_only), ("generate to 480x480 MP4", full_path)):
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
