"""MP4 encoding: ungated's streaming PyAV writer against the ffmpeg command line.

Both encode the same 1920x1080 RGB frames with libx264, preset medium, crf 23, yuv420p,
faststart. Each side runs in its own child process; we report wall time, frames per second
and the child's peak RSS. Needs the `ffmpeg` binary (Debian: apt-get install ffmpeg).

    python benchmarks/bench_encode.py [--frames 300] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WIDTH, HEIGHT, FPS = 1920, 1080, 30


def make_frame(i: int) -> np.ndarray:
    """A moving gradient with a moving disc: smooth, like generated video, not random noise."""
    y, x = np.ogrid[:HEIGHT, :WIDTH]
    frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    frame[..., 0] = (x + 4 * i) % 256
    frame[..., 1] = (y + 2 * i) % 256
    frame[..., 2] = 128
    cx, cy = (200 + 5 * i) % WIDTH, HEIGHT // 2
    frame[(x - cx) ** 2 + (y - cy) ** 2 < 150**2] = (240, 240, 40)
    return frame


def encode_with_pyav(frames: int, out: str) -> None:
    from ungated.media.encode import Mp4Writer

    with Mp4Writer(Path(out), WIDTH, HEIGHT, FPS) as writer:
        for i in range(frames):
            writer.write(make_frame(i))


def encode_with_ffmpeg(frames: int, out: str) -> None:
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{WIDTH}x{HEIGHT}",
           "-r", str(FPS), "-i", "pipe:", "-c:v", "libx264", "-preset", "medium", "-crf", "23",
           "-pix_fmt", "yuv420p", "-movflags", "+faststart", out]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE) as proc:
        for i in range(frames):
            proc.stdin.write(make_frame(i).tobytes())
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError("ffmpeg failed")


def run_child(which: str, frames: int) -> tuple[float, float]:
    """Run one encode in a fresh child; return (seconds, peak RSS MB of the encoding process)."""
    with tempfile.TemporaryDirectory() as tmp:
        code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_encode as b, resource;"
                f"b.encode_with_{which}({frames}, {tmp + '/out.mp4'!r});"
                "print(max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,"
                " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))")
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
        return time.perf_counter() - start, int(out.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("error: the ffmpeg command is not on PATH, and this benchmark measures ungated's encoder against "
                 "it; install it (Debian: apt-get install ffmpeg) and run again")
    results: dict[str, list[tuple[float, float]]] = {"ffmpeg": [], "pyav": []}
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both sides alike
        for which in results:
            results[which].append(run_child(which, args.frames))
    print(f"{args.frames} frames {WIDTH}x{HEIGHT}, libx264 medium crf 23 yuv420p; median of {args.repeats}")
    print("| encoder | seconds | frames/s | peak RSS (MB) |")
    print("|---|---|---|---|")
    medians = {}
    for which, runs in results.items():
        secs = statistics.median(r[0] for r in runs)
        rss = max(r[1] for r in runs)
        medians[which] = secs
        print(f"| {which} | {secs:.1f} | {args.frames / secs:.1f} | {rss:.0f} |")
    print(f"throughput ratio pyav/ffmpeg: {medians['ffmpeg'] / medians['pyav']:.2f}x")


if __name__ == "__main__":
    main()
