"""Print docs/open-models.md's table: the setup ungated picks for each open model on a GPU with
8, 12, 16, 24, 48 or 80 GB free (estimates from parameter counts; see the doc).

    python scripts/memory_table.py
"""

from ungated.engines.open import memory
from ungated.engines.open.models import MODELS

CARDS_GB = (8, 12, 16, 24, 48, 80)
SHORT = {"none": "full", "model": "model", "group": "group", "sequential": "seq"}


def cell(plan: memory.MemoryPlan) -> str:
    text = SHORT[plan.mode] + (" +fp8" if plan.fp8 else "")
    return f"({text})" if "may not fit" in plan.reason else text


def main() -> None:
    print("| model | " + " | ".join(f"{gb} GB" for gb in CARDS_GB) + " |")
    print("|---|" + "---|" * len(CARDS_GB))
    for model in MODELS:
        cells = [cell(memory.choose(model, memory.Hardware("cuda", "GPU", gb))) for gb in CARDS_GB]
        print(f"| {model.id} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
