"""A visible mark: the artist's own text or logo in a corner of every frame, at a chosen opacity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from ..errors import InvalidRequest

MARGIN = 0.03  # of the short side


def read_logo(path: Path) -> Image.Image:
    """The logo as RGBA, or InvalidRequest("mark_image") naming the file when it is not an image."""
    try:
        with Image.open(path) as source:
            return source.convert("RGBA")
    except FileNotFoundError:
        raise InvalidRequest("mark_image", f"no such file: {path}") from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise InvalidRequest("mark_image", f"{path} is not an image ungated can read; use a PNG (its "
                                           "transparency is kept), JPEG or WebP") from None


class VisibleMark:
    def __init__(self, text: str, corner: str = "bottom-right", opacity: float = 0.6, logo: Path | None = None):
        self.text, self.corner, self.opacity = text, corner, opacity
        self.logo = None if logo is None else read_logo(logo)  # read now: a bad file stops before any frame
        self._layer: tuple[tuple[int, int], np.ndarray, np.ndarray] | None = None  # (size, rgb, alpha)

    def _render(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        short = min(width, height)
        font = ImageFont.load_default(size=max(10, round(short * 0.045)))
        layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        margin = round(short * MARGIN)

        def place(w: int, h: int) -> tuple[int, int]:
            return (margin if "left" in self.corner else width - margin - w,
                    margin if "top" in self.corner else height - margin - h)

        if self.logo is not None:  # a logo, its long side an eighth of the frame's short side
            logo = self.logo.copy()
            logo.thumbnail((short // 8, short // 8), Image.LANCZOS)
            layer.alpha_composite(logo, place(*logo.size))
        else:
            draw = ImageDraw.Draw(layer)
            left, top, right, bottom = draw.textbbox((0, 0), self.text, font=font, stroke_width=2)
            x, y = place(right - left, bottom - top)
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
