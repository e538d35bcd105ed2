"""Plot a training run's loss curves (its work folder's loss.csv) as an image.

    python scripts/plot_training.py [WORK_DIR] [-o docs/images/training-curve.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ungated.train.common import LOG_FILE
from ungated.train.curve import plot_losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", type=Path, nargs="?", default=Path("builtin-model/work"))
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/images/training-curve.png"))
    args = parser.parse_args()
    print(f"wrote {plot_losses(args.work_dir / LOG_FILE, args.output)}")


if __name__ == "__main__":
    main()
