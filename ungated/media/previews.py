"""Thumbnail and spritesheet, collected while frames stream past (only the chosen frames are kept)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

THUMBNAIL_LONG_SIDE = 480
PREVIEW_LONG_SIDE = 256
SPRITE_TILES = 10
SPRITE_COLUMNS = 5
SPRITE_LONG_SIDE = 160


def _fit(image: Image.Image, long_side: int) -> Image.Image:
    scale = long_side / max(image.size)
    if scale >= 1:
        return image
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)


class PreviewCollector:
    def __init__(self, total_frames: int):
        self.thumbnail_index = total_frames // 2
        count = min(SPRITE_TILES, total_frames)
        self.sprite_indices = sorted({round(i * (total_frames - 1) / max(count - 1, 1)) for i in range(count)})
        self.thumbnail: Image.Image | None = None
        self.tiles: list[Image.Image] = []

    def add(self, index: int, frame: np.ndarray) -> None:
        if index == self.thumbnail_index:
            self.thumbnail = _fit(Image.fromarray(frame), THUMBNAIL_LONG_SIDE)
        if index in self.sprite_indices:
            self.tiles.append(_fit(Image.fromarray(frame), SPRITE_LONG_SIDE))

    def save_thumbnail(self, path: Path) -> None:
        self.thumbnail.save(path, format="JPEG", quality=88)

    def save_spritesheet(self, path: Path) -> None:
        tile_w, tile_h = self.tiles[0].size
        columns = min(SPRITE_COLUMNS, len(self.tiles))
        rows = -(-len(self.tiles) // columns)
        sheet = Image.new("RGB", (columns * tile_w, rows * tile_h))
        for i, tile in enumerate(self.tiles):
            sheet.paste(tile, ((i % columns) * tile_w, (i // columns) * tile_h))
        sheet.save(path, format="JPEG", quality=85)


def save_preview(frame: np.ndarray, path: Path) -> None:
    """A preview frame as a small JPEG, replaced in one step so readers never see half of one."""
    image = Image.fromarray(frame)
    scale = PREVIEW_LONG_SIDE / max(image.size)
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BILINEAR)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    image.save(partial, format="JPEG", quality=80)
    partial.replace(path)
