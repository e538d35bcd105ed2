"""Draw what a clip model trained on a dataset makes, next to the dataset's own clips: for each
caption, a row of the training clip's frames (as the model saw them) and a row of a generated clip.

    python scripts/training_strip.py my-clips my-model [-o docs/images/trained-on-demo.png] [--rows 10]
    python scripts/training_strip.py my-clips my-model --clips ball campfire sunset -o strip.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ungated.engines.builtin.clip_engine import BuiltinClipsEngine, sample_clip
from ungated.engines.builtin.net import to_uint8
from ungated.train.buckets import plan_buckets
from ungated.train.dataset import scan
from ungated.train.frames import clip_frames

FRAMES_SHOWN = 6
SCALE = 2
TEXT_LINE = 18


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("model", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/images/trained-on-demo.png"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=5, help="how many captions to show")
    parser.add_argument("--clips", nargs="*", help="show these clips (file names without suffix), in this order")
    args = parser.parse_args()
    engine = BuiltinClipsEngine(args.model)
    engine.load()
    config = engine.config
    groups, _ = plan_buckets(scan(args.data).clips, engine.capabilities)
    pairs = [(clip, bucket) for bucket, group in groups.items() for clip in group]
    if args.clips:
        stems = {Path(clip.path).stem: (clip, bucket) for clip, bucket in pairs}
        pairs = [stems[name] for name in args.clips if name in stems]
    pairs = pairs[: args.rows]
    tile_w, tile_h = config.width * SCALE, config.height * SCALE
    row_h = TEXT_LINE + 2 * tile_h + 6
    sheet = Image.new("RGB", (FRAMES_SHOWN * tile_w, len(pairs) * row_h), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (clip, bucket) in enumerate(pairs):
        real = clip_frames(args.data, clip, bucket)
        with torch.inference_mode():
            made = to_uint8(sample_clip(engine.net, config, clip.caption, "", config.frames, args.seed,
                                        engine.capabilities.default_steps, engine.capabilities.default_guidance))
        top = row * row_h
        draw.text((4, top + 3), f"{clip.caption}   (top: training clip; below: generated, seed {args.seed})",
                  fill="black")
        for strip, offset in ((real, TEXT_LINE), (made, TEXT_LINE + tile_h + 2)):
            picks = np.linspace(0, len(strip) - 1, FRAMES_SHOWN).round().astype(int)
            for column, index in enumerate(picks):
                tile = Image.fromarray(strip[index]).resize((tile_w, tile_h), Image.NEAREST)
                sheet.paste(tile, (column * tile_w, top + offset))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
