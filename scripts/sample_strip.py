"""Draw sample strips from the shipped built-in weights: six frames of a 10 s 16:9 clip of each
prompt, one row each (frames 1.9 s apart, so that a once-a-second hop or a quarter turn a second
shows a different moment in each).

    python scripts/sample_strip.py                 # the README's strip: docs/images/samples.png
    python scripts/sample_strip.py --held-out 12   # held-out prompts, judged: docs/images/held-out.png

With --held-out, the prompts are the first N of `ungated eval builtin`'s 16:9 set (combinations
the training world never draws), and each row says what the analytic judge read from the clip.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ungated.engines.builtin import evaluate
from ungated.engines.builtin.engine import BuiltinEngine
from ungated.engines.builtin.judge import judge

PROMPTS = [
    "a small red circle moving right on a blue background",
    "a large yellow star bouncing on a purple background",
    "a large white triangle spinning on a black background",
    "a small green square moving up quickly and a large orange circle growing on a gray background",
    "a large red circle left of a small blue square on a white background",
    "a small purple circle and a large yellow triangle moving left slowly on a black background",
]
FRAMES_SHOWN = 6
SPACING_SECONDS = 1.9
TILE_W, TILE_H = 192, 108
CLIPS = evaluate.SETS["16:9"]
TEXT_LINE = 18


def _verdict(scene, clip: np.ndarray) -> str:
    """What the judge read, attribute by attribute: 'ok' or what it saw instead."""
    rates = evaluate.score([scene], [judge(clip)])
    missed = sorted(name.split(" ", 1)[-1] for name, rate in rates.items() if rate < 1 and "exact" not in name)
    return "judged: all attributes followed" if not missed else "judged: missed " + ", ".join(dict.fromkeys(missed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, help="default: docs/images/samples.png, or held-out.png")
    parser.add_argument("--held-out", type=int, metavar="N", help="draw the first N held-out prompts instead")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-dir", type=Path, help="a built-in model folder (default: the shipped one)")
    args = parser.parse_args()
    engine = BuiltinEngine(args.model_dir)
    engine.load()
    scenes = evaluate.held_out_scenes(args.held_out, args.seed, CLIPS.width / CLIPS.height) if args.held_out else None
    prompts = [s.caption() for s in scenes] if scenes else PROMPTS
    output = args.output or Path("docs/images") / ("held-out.png" if scenes else "samples.png")
    lines = 2 if scenes else 1
    font = ImageFont.load_default(size=14)
    row_height = TILE_H + lines * TEXT_LINE + 6
    sheet = Image.new("RGB", (FRAMES_SHOWN * (TILE_W + 4) - 4, len(prompts) * row_height), (24, 24, 28))
    draw = ImageDraw.Draw(sheet)
    for row, prompt in enumerate(prompts):
        # The seeds `ungated eval builtin` uses, so a row is the clip it judged.
        seed = args.seed + row if scenes else args.seed
        clip = np.stack(list(evaluate.generate(engine, prompt, seed, CLIPS)))
        top = row * row_height
        draw.text((6, top + 4), f'"{prompt}"', fill=(230, 230, 230), font=font)
        if scenes:
            draw.text((6, top + 4 + TEXT_LINE), _verdict(scenes[row], clip), fill=(160, 200, 160), font=font)
        picks = [min(len(clip) - 1, round(i * SPACING_SECONDS * CLIPS.fps)) for i in range(FRAMES_SHOWN)]
        for col, index in enumerate(picks):
            tile = Image.fromarray(clip[index]).resize((TILE_W, TILE_H), Image.LANCZOS)
            sheet.paste(tile, (col * (TILE_W + 4), top + lines * TEXT_LINE + 6))
    output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(output, optimize=True)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
