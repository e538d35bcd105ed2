"""Built-in model speed on this machine's CPU, against an earlier version in the same run.

Times the whole `generate` path to a signed, watermarked MP4 with its thumbnail and spritesheet
(what `ungated generate` and the workers run) for the issue's clips: 10 s of 1280x720 and of
1920x1080 at 24 fps, and the default 5 s 854x480. Then where a 10 s 720p clip's time goes:
sampling and painting alone, and the path without the watermark. The baseline is the same
benchmark's 480x480 clip made by the package at --baseline (a git revision, checked out into a
temporary worktree and run in its own process), which made 2 s clips only. Each case runs once
to warm up, then --repeats times; the median is printed.

    python benchmarks/bench_builtin.py [--repeats 3] [--baseline REV] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import torch

PROMPT = "a large yellow star bouncing on a purple background"
REPO = Path(__file__).resolve().parent.parent
# The old package's whole generate path for one clip, timed in its own process: it prints
# "<clip seconds> <median wall seconds>".
BASELINE_SCRIPT = textwrap.dedent("""
    import statistics, sys, tempfile, time
    from pathlib import Path
    from ungated.engines.builtin.engine import BuiltinEngine
    from ungated.generate import generate_clips
    from ungated.request import Request, plan
    engine = BuiltinEngine()
    engine.load()
    p = plan(Request.build(prompt=sys.argv[1], seed=0, size="480x480"), engine.capabilities, engine.id)
    times = []
    for _ in range(int(sys.argv[2]) + 1):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            generate_clips(engine, p, [Path(tmp) / "clip.mp4"], lambda *a: None)
            times.append(time.perf_counter() - start)
    print(p.frames / p.fps, statistics.median(times[1:]))
""")


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def baseline(revision: str, repeats: int) -> tuple[float, float]:
    """(clip seconds, wall seconds) of the 480x480 clip made by the package at revision."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), revision],
                       check=True, capture_output=True)
        try:
            env = {**os.environ, "PYTHONPATH": str(tree), "UNGATED_HOME": str(Path(tmp) / "home")}
            out = subprocess.run([sys.executable, "-c", BASELINE_SCRIPT, PROMPT, str(repeats)], cwd=tree, env=env,
                                 check=True, capture_output=True, text=True).stdout.split()
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=True)
    return float(out[-2]), float(out[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", default="c803acd", help="git revision to compare with (default: v4, 2 s clips)")
    parser.add_argument("--model-dir", type=Path, help="a built-in model folder (default: the shipped one)")
    args = parser.parse_args()

    from ungated.engines.builtin.engine import BuiltinEngine
    from ungated.generate import generate_clips
    from ungated.request import Request, plan

    engine = BuiltinEngine(args.model_dir)
    engine.load()
    noop = lambda *a: None  # noqa: E731

    def at(size: str, seconds: float, **fields):
        return plan(Request.build(prompt=PROMPT, seed=0, size=size, seconds=seconds, **fields), engine.capabilities,
                    engine.id)

    def whole_path(p):
        def run() -> None:
            with tempfile.TemporaryDirectory() as tmp:
                generate_clips(engine, p, [Path(tmp) / "clip.mp4"], noop)
        return run

    def engine_only(p):
        return lambda: [None for _ in engine.generate(p, 0, noop, lambda: False)]

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores; "
          f"median of {args.repeats} after a warm-up; prompt {PROMPT!r}")
    print("| clip | path | wall s | clip s per wall s |")
    print("|---|---|---|---|")
    seconds, wall = baseline(args.baseline, args.repeats)
    print(f"| {args.baseline}: {seconds:g} s 480x480 at 8 fps | whole path | {wall:.2f} | {seconds / wall:.2f}x |")
    cases = (
        ("10 s 1280x720 24 fps", "whole path", whole_path(at("1280x720", 10))),
        ("10 s 1920x1080 24 fps", "whole path", whole_path(at("1920x1080", 10))),
        ("5 s 854x480 24 fps (default)", "whole path", whole_path(at("854x480", 5))),
        ("10 s 1280x720 24 fps", "without the watermark",
         whole_path(at("1280x720", 10, provenance={"watermark": False}))),
        ("10 s 1280x720 24 fps", "sampling and painting only", engine_only(at("1280x720", 10))),
    )
    for clip, path, fn in cases:
        wall = median_seconds(fn, args.repeats)
        length = float(clip.split(" s ")[0])
        print(f"| {clip} | {path} | {wall:.2f} | {length / wall:.2f}x |")


if __name__ == "__main__":
    main()
