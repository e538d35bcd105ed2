"""Plot a built-in model training run's loss curves (its work folder's loss.csv) as an image.

    pip install -e '.[docs]'
    python scripts/plot_training.py [WORK_DIR] [-o docs/images/training-curve.png]
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

TITLES = {"painter": "shape painter (pixel MSE)", "tracks": "track network (flow-matching MSE)"}
SMOOTHING = 50  # steps in the running mean drawn over the raw losses


def _running_mean(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", type=Path, nargs="?", default=Path("builtin-model/work"))
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/images/training-curve.png"))
    args = parser.parse_args()
    losses: dict[str, list[tuple[int, float]]] = defaultdict(list)
    with (args.work_dir / "loss.csv").open() as f:
        for stage, step, loss in csv.reader(f):
            losses[stage].append((int(step), float(loss)))
    fig, axes = plt.subplots(1, len(losses), figsize=(5 * len(losses), 3.4), layout="constrained")
    for ax, (stage, points) in zip([axes] if len(losses) == 1 else axes, losses.items()):
        steps, values = zip(*sorted(dict(points).items()))  # a resumed run logs some steps twice
        ax.plot(steps, values, color="#9bb", linewidth=0.6, label="per step")
        ax.plot(steps, _running_mean(list(values), SMOOTHING), color="#c33", label=f"mean of {SMOOTHING}")
        ax.set_yscale("log")
        ax.set_title(TITLES.get(stage, stage))
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
