"""A visible mark: the artist's own text in a corner of every frame, at a chosen opacity."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

MARGIN = 0.03  # of the short side


class VisibleMark:
    def __init__(self, text: str, corner: str = "bottom-right", opacity: float = 0.6):
        self.text, self.corner, self.opacity = text, corner, opacity
        self._layer: tuple[tuple[int, int], np.ndarray, np.ndarray] | None = None  # (size, rgb, alpha)

    def _render(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        short = min(width, height)
        font = ImageFont.load_default(size=max(10, round(short * 0.045)))
        layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        left, top, right, bottom = draw.textbbox((0, 0), self.text, font=font, stroke_width=2)
        margin = round(short * MARGIN)
        x = margin if "left" in self.corner else width - margin - (right - left)
        y = margin if "top" in self.corner else height - margin - (bottom - top)
        draw.text((x - left, y - top), self.text, font=font, fill=(255, 255, 255, 255), stroke_width=2,
                  stroke_fill=(0, 0, 0, 255))
        pixels = np.asarray(layer).astype(np.float32)
        return pixels[..., :3], pixels[..., 3:] / 255.0 * self.opacity

    def __call__(self, index: int, frame: np.ndarray) -> np.ndarray:
        height, width = frame.shape[:2]
        if self._layer is None or self._layer[0] != (width, height):
            self._layer = ((width, height), *self._render(width, height))
        _, rgb, alpha = self._layer
        return (frame * (1 - alpha) + rgb * alpha).round().astype(np.uint8)
