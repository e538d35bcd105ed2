"""Draw the README's sample strip: a few prompts, six frames of each, from the shipped weights.

    python scripts/sample_strip.py [-o docs/images/samples.png] [--seed 0] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ungated.engines.builtin.engine import BuiltinEngine
from ungated.request import Request, plan

PROMPTS = [
    "a small red circle moving right on a blue background",
    "a small yellow star bouncing on a purple background",
    "a large white triangle spinning on a black background",
    "a large green square growing on a white background",
    "a small orange circle moving up and a large blue star standing still on a gray background",
]
FRAMES_SHOWN = 6
TILE = 112
CAPTION_HEIGHT = 22


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/images/samples.png"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-dir", type=Path, help="a built-in model folder (default: the shipped one)")
    args = parser.parse_args()
    engine = BuiltinEngine(args.model_dir)
    font = ImageFont.load_default(size=14)
    row_height = TILE + CAPTION_HEIGHT
    sheet = Image.new("RGB", (FRAMES_SHOWN * TILE, len(PROMPTS) * row_height), (24, 24, 28))
    draw = ImageDraw.Draw(sheet)
    for row, prompt in enumerate(PROMPTS):
        p = plan(Request.build(prompt=prompt, seed=args.seed), engine.capabilities, engine.id)
        frames = list(engine.generate(p, args.seed, lambda *a: None, lambda: False))
        picks = [round(i * (len(frames) - 1) / (FRAMES_SHOWN - 1)) for i in range(FRAMES_SHOWN)]
        top = row * row_height
        draw.text((6, top + 4), f'"{prompt}"', fill=(230, 230, 230), font=font)
        for col, index in enumerate(picks):
            tile = Image.fromarray(frames[index]).resize((TILE, TILE), Image.LANCZOS)
            sheet.paste(tile, (col * TILE, top + CAPTION_HEIGHT))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output, optimize=True)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
