"""What benchmarks/bench_laptop.py measured for each laptop model on full-size random weights (a
2-second clip at its laptop default, per precision), scaled to a plan and to this machine's cores:
the ETA of a clip and the laptop column of `ungated models` come from here.

Denoising and decoding are scaled by pixels x frames against the measured clip, and every stage
by cores; the ETA corrects itself from the real pace after the first step (stages.ClipClock).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from ..stages import Stages

FIGURES = Path(__file__).with_name("laptop_figures.json")
FIELDS = ("model", "dtype", "threads", "size", "frames", "steps", "load_s", "encode_s", "step_s", "decode_s",
          "write_s", "peak_rss_gb", "clip_s")


@cache
def _figures() -> dict[tuple[str, str], dict]:
    try:
        rows = json.loads(FIGURES.read_text())
    except (OSError, ValueError):
        return {}
    return {(row["model"], row["dtype"]): row for row in rows}


def measured(model_id: str, dtype: str) -> dict | None:
    return _figures().get((model_id, dtype))


def measured_peak_gb(model_ids: set[str], dtype: str) -> float:
    """The highest peak RSS measured for any of these rows in dtype (0 where none was measured)."""
    return max((row["peak_rss_gb"] for (model_id, measured_dtype), row in _figures().items()
                if model_id in model_ids and measured_dtype == dtype), default=0.0)


def estimate(model_id: str, dtype: str, width: int, height: int, frames: int, threads: int) -> Stages | None:
    row = measured(model_id, dtype)
    if row is None:
        return None
    (w, h), f = row["size"], row["frames"]
    work = (width * height * frames) / (w * h * f)
    cores = row["threads"] / max(1, threads)
    return Stages(load_s=row["load_s"], encode_s=row["encode_s"] * cores, step_s=row["step_s"] * work * cores,
                  decode_s=row["decode_s"] * work * cores, write_s=row["write_s"] * work)


def store(rows: list[dict]) -> None:
    """Keep the benchmark's rows (replacing those of the same model and precision)."""
    kept = {(r["model"], r["dtype"]): r for r in _figures().values()}
    kept |= {(r["model"], r["dtype"]): {k: round(r[k], 2) if isinstance(r[k], float) else r[k] for k in FIELDS}
             for r in rows}
    FIGURES.write_text(json.dumps(sorted(kept.values(), key=lambda r: (r["model"], r["dtype"])), indent=1) + "\n")
    _figures.cache_clear()
