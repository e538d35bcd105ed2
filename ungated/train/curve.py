"""A training run's loss curves (its work folder's loss.csv) drawn as an image."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

TITLES = {"painter": "shape painter (pixel MSE)", "tracks": "track network (flow-matching MSE)",
          "clips": "clip model (denoising MSE of the clean clip)", "lora": "LoRA (denoising MSE)"}
SMOOTHING = 50  # steps in the running mean drawn over the raw losses


def _running_mean(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


def read_losses(log: Path) -> dict[str, list[tuple[int, float]]]:
    """stage -> (step, loss) in step order; a resumed run logs some steps twice, the last wins."""
    losses: dict[str, dict[int, float]] = defaultdict(dict)
    with log.open() as f:
        for stage, step, loss in csv.reader(f):
            losses[stage][int(step)] = float(loss)
    return {stage: sorted(points.items()) for stage, points in losses.items()}


def plot_losses(log: Path, output: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    losses = read_losses(log)
    fig, axes = plt.subplots(1, len(losses), figsize=(5 * len(losses), 3.4), layout="constrained", squeeze=False)
    for ax, (stage, points) in zip(axes[0], losses.items()):
        steps, values = zip(*points)
        window = max(1, min(SMOOTHING, len(values) // 10))
        ax.plot(steps, values, color="#9bb", linewidth=0.6, label="per step")
        ax.plot(steps, _running_mean(list(values), window), color="#c33", label=f"mean of {window}")
        ax.set_yscale("log")
        ax.set_title(TITLES.get(stage, stage))
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=110)
    plt.close(fig)
    return output
