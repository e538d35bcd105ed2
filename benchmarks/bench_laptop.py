"""Real open models on a laptop without a GPU: a 2-second clip at each model's laptop default,
bfloat16 against float32, side by side in one run.

Each model is a full-size folder with random weights (benchmarks/fullsize.py builds them; speed
and memory do not depend on weight values), loaded and run through ungated's own laptop-mode
path: text encoders loaded, run and freed before the denoiser, VAE tiling, one thread per
physical core. Every (model, precision) runs in a child process of its own, so its peak RSS is
its own. Timed per stage: loading the denoiser and VAE, text encoding (loading the encoder
included), each denoising step, the VAE decode, and writing the clip as ungated does (watermark,
MP4 encode, thumbnail and sprite sheet, C2PA signature).

    python benchmarks/bench_laptop.py --root /data/fullsize                  # every laptop model
    python benchmarks/bench_laptop.py --root /data/fullsize --model ltx-video --steps 3
    python benchmarks/bench_laptop.py --root /data/fullsize --write-figures  # what `ungated models` shows

With --steps K fewer than the model's own, K steps are timed and the clip's time is the measured
stages with the model's steps at the measured seconds per step (both are printed).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROMPT = "a red fox running on the beach at sunset, the camera following it slowly"


def measure(model_id: str, folder: Path, dtype: str, steps: int | None) -> dict:
    """One clip in this process; the figures as a dict."""
    from dataclasses import replace

    import numpy as np

    from ungated.engines.base import EngineOptions
    from ungated.engines.open import laptop
    from ungated.engines.open.engine import OpenModelEngine
    from ungated.engines.open.models import OPEN_MODELS
    from ungated.request import Request, plan

    laptop.fast_bfloat16 = (lambda: True) if dtype == "bfloat16" else (lambda: False)
    laptop.check_fits = lambda model, plan: None  # measured even where ungated would refuse it (peak RSS says why)
    model = OPEN_MODELS[model_id]
    if model.lora is not None:  # a fused LoRA changes weight values only: the base folder runs at its speed
        from ungated.engines.open import hub

        hub.require_lora = lambda model: None
    engine = OpenModelEngine(model, folder, EngineOptions())
    assert engine.laptop is not None, "a GPU was found: this benchmark is for machines without one"
    the_plan = plan(Request.build(prompt=PROMPT, model=model_id, seed=1), engine.capabilities, engine.id)
    if steps:
        the_plan = replace(the_plan, steps=steps)
    started = time.perf_counter()
    engine.load()
    loaded = time.perf_counter()

    stamps: dict[str, float] = {}
    encode_prompt = laptop.encode_prompt

    def timed_encode(*args, **kwargs):
        stamps["encode_start"] = time.perf_counter()
        out = encode_prompt(*args, **kwargs)
        stamps["encode_end"] = time.perf_counter()
        return out

    laptop.encode_prompt = timed_encode
    step_times: list[float] = []
    frames = engine.generate(the_plan, 1, lambda step, total: step_times.append(time.perf_counter()), lambda: False)
    clip = list(frames)
    decoded = time.perf_counter()
    write_s = finish(clip, the_plan, model_id)
    written = decoded + write_s

    denoise_start = stamps.get("encode_end", loaded)
    steps_s = list(np.diff([denoise_start, *step_times]))
    step_s = float(np.mean(steps_s))
    figures = {
        "model": model_id, "dtype": dtype, "threads": engine.laptop.threads,
        "size": [the_plan.width, the_plan.height], "frames": the_plan.frames, "seconds": the_plan.seconds,
        "steps_run": len(step_times), "steps": model.steps,
        "load_s": loaded - started,
        "encode_s": stamps["encode_end"] - stamps["encode_start"] if stamps else 0.0,
        "step_s": step_s, "steps_s": [round(s, 2) for s in steps_s],
        "decode_s": decoded - step_times[-1], "write_s": write_s,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "measured_total_s": written - started,
    }
    figures["clip_s"] = figures["encode_s"] + model.steps * step_s + figures["decode_s"] + figures["write_s"]
    return figures


def finish(clip: list, the_plan, model_id: str) -> float:
    """Seconds to write a clip's frames as ungated does after decoding: the invisible watermark on
    each frame, the MP4 encode, thumbnail and sprite sheet, and the C2PA signature."""
    from ungated.generate import clip_metadata
    from ungated.media.pipeline import write_clip
    from ungated.provenance.stamp import ClipStamp

    started = time.perf_counter()
    stamp = ClipStamp(the_plan.request.provenance, model_id, PROMPT, 1)
    with tempfile.TemporaryDirectory() as tmp:
        write_clip(iter(clip), Path(tmp) / "clip.mp4", width=the_plan.width, height=the_plan.height,
                   fps=the_plan.fps, total_frames=len(clip), metadata=clip_metadata(the_plan, 1, model_id, ""),
                   transform=stamp.frame, finish=stamp.finish)
    return time.perf_counter() - started


def refinish(model_id: str) -> list[dict]:
    """The write stage alone, re-measured for a model's stored rows on frames of their size (noise,
    as a random-weight model draws them), for rows measured before the write stage was timed whole."""
    import numpy as np

    from ungated.engines.open import laptop_figures
    from ungated.engines.open.models import OPEN_MODELS
    from ungated.request import Plan, Request

    rows = [r for r in json.loads(laptop_figures.FIGURES.read_text()) if r["model"] == model_id]
    for row in rows:
        (width, height), frames = row["size"], row["frames"]
        the_plan = Plan(request=Request.build(prompt=PROMPT), width=width, height=height, out_width=width,
                        out_height=height, frames=frames, fps=OPEN_MODELS[model_id].fps, steps=row["steps"],
                        guidance=1.0, seeds=(1,), adjustments=())
        clip = list(np.random.default_rng(0).integers(0, 256, (frames, height, width, 3), dtype=np.uint8))
        row["write_s"] = finish(clip, the_plan, model_id)
        row["clip_s"] = row["encode_s"] + row["steps"] * row["step_s"] + row["decode_s"] + row["write_s"]
    return rows


def child(model_id: str, folder: Path, dtype: str, steps: int | None) -> dict:
    command = [sys.executable, __file__, "--child", model_id, "--folder", str(folder), "--dtype", dtype]
    if steps:
        command += ["--steps", str(steps)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{model_id} {dtype} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    lines = ["| model | precision | size, frames | s/step | text s | decode s | write s | 2 s clip | peak RSS |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['dtype']} | {r['size'][0]}x{r['size'][1]}, {r['frames']} | {r['step_s']:.1f} | "
            f"{r['encode_s']:.1f} | {r['decode_s']:.1f} | {r['write_s']:.1f} | "
            f"{r['clip_s'] / 60:.1f} min ({r['steps']} steps) | {r['peak_rss_gb']:.1f} GB |")
    return "\n".join(lines)


def main() -> None:
    sys.path.insert(0, str(HERE))
    import fullsize

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("fullsize"), help="where fullsize.py keeps its folders")
    parser.add_argument("--model", action="append", help="a model id (repeatable); default: every laptop model")
    parser.add_argument("--dtype", action="append", choices=["bfloat16", "float32"])
    parser.add_argument("--steps", type=int, help="time this many steps instead of the model's own")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--write-figures", action="store_true",
                        help="store the figures where `ungated models` reads them (engines/open/laptop_figures.json)")
    parser.add_argument("--refinish", action="store_true",
                        help="re-measure only the write stage (watermark, encode, previews, signing) of stored rows")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.folder, args.dtype[0], args.steps)))
        return

    from ungated.engines.open.models import LAPTOP_SIZES

    from ungated.engines.open import laptop_figures

    if args.refinish:
        for model_id in args.model or sorted({r["model"] for r in json.loads(laptop_figures.FIGURES.read_text())}):
            laptop_figures.store(rows := refinish(model_id))
            print(table(rows))
        return
    rows = []
    models = args.model or [m for m in LAPTOP_SIZES if fullsize.SAME_WEIGHTS.get(m, m) in fullsize.MODELS]
    for dtype in args.dtype or ["bfloat16", "float32"]:  # every model in bfloat16 first
        for model_id in models:
            rows.append(child(model_id, fullsize.folder_for(model_id, args.root), dtype, args.steps))
            print(json.dumps(rows[-1]), file=sys.stderr)
            if args.write_figures:  # row by row, so a long run stopped early keeps what it measured
                laptop_figures.store(rows[-1:])
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
