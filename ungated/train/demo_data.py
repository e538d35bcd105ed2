"""A small demo dataset, drawn in code: ten short captioned clips of simple scenes (a sunset, snow,
rain, waves, a bouncing ball, ...), written as MP4s with .txt captions beside them, the layout
`ungated dataset check` and the trainers read. For trying training without footage of your own,
and for the tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..media.encode import Mp4Writer

Scene = Callable[[np.ndarray, np.ndarray, float, np.random.Generator], np.ndarray]  # (y, x, t) -> RGB


def _mix(a, b, w):
    w = np.clip(w, 0, 1)[..., None]
    return np.asarray(a, float) * (1 - w) + np.asarray(b, float) * w


def _across(x, fraction):
    """The x coordinate a fraction of the way across the frame (x is in square units)."""
    return x.min() + fraction * (x.max() - x.min())


def _disc(y, x, cy, cx, r):
    return np.clip((r - np.hypot(y - cy, x - cx)) * 200, 0, 1)


def sunset(y, x, t):
    sky = _mix((250, 170, 80), (120, 40, 90), 1 - y / 0.6)
    sun = _disc(y, x, 0.25 + 0.3 * t, 0.5, 0.1)
    frame = _mix(sky, (255, 230, 120), sun)
    sea = _mix((30, 60, 110), (200, 120, 70), 0.25 + 0.2 * np.sin(60 * y + 8 * t) * (y < 0.75))
    return np.where((y > 0.6)[..., None], sea, frame)


def snow(y, x, t, flakes=np.random.default_rng(1).random((60, 3))):
    frame = _mix((10, 15, 50), (40, 50, 90), y)
    for fx, fy, size in flakes:
        cx = _across(x, fx) + 0.03 * np.sin(6 * t + fx * 9)  # drifting a little from side to side
        frame = _mix(frame, (240, 240, 255), _disc(y, x, (fy + 0.4 * t) % 1, cx, 0.008 + 0.01 * size))
    return frame


def rain(y, x, t, drops=np.random.default_rng(2).random((80, 2))):
    frame = _mix((70, 80, 95), (40, 45, 55), y)
    for dx, dy in drops:
        cy = (dy + 1.5 * t) % 1
        streak = (np.abs(x - _across(x, dx) + 0.1 * (y - cy)) < 0.005) & (y > cy - 0.06) & (y < cy)
        frame = _mix(frame, (180, 190, 210), streak * 0.8)
    return frame


def waves(y, x, t):
    sky = _mix((150, 200, 240), (90, 150, 220), 1 - y / 0.4)
    shore = 0.65 + 0.08 * np.sin(2 * np.pi * t * 1.5) + 0.02 * np.sin(12 * x)
    sea = _mix((20, 90, 150), (230, 240, 250), np.exp(-((y - shore) * 40) ** 2))
    sand = np.asarray((225, 200, 150), float)
    frame = np.where((y < 0.4)[..., None], sky, sea)
    return np.where((y > shore + 0.02)[..., None], sand, frame)


def ball(y, x, t):
    frame = _mix((150, 210, 250), (60, 160, 70), (y > 0.75).astype(float))
    cy = 0.7 - 0.5 * np.abs(np.sin(2 * np.pi * t))
    return _mix(frame, (220, 30, 40), _disc(y, x, cy, 0.2 + 0.6 * t, 0.07))


def clouds(y, x, t):
    frame = _mix((70, 140, 230), (170, 210, 250), y)
    for cy, cx, r in ((0.3, 0.2, 0.1), (0.33, 0.3, 0.08), (0.6, 0.6, 0.12), (0.62, 0.72, 0.09)):
        frame = _mix(frame, (250, 250, 250), _disc(y, x, cy, (cx + 0.3 * t) % 1.2 - 0.1, r) * 0.9)
    return frame


def campfire(y, x, t):
    frame = _mix((5, 5, 20), (30, 20, 30), y)
    flicker = 0.12 + 0.03 * np.sin(40 * t) + 0.02 * np.sin(23 * t + 1)
    flame = np.clip(1 - np.hypot((x - 0.5) * 3, (y - 0.78) / (flicker * 8)) * 1.2, 0, 1) * (y < 0.8)
    frame = _mix(frame, (255, 140, 20), flame * 1.5)
    frame = _mix(frame, (255, 240, 150), flame ** 2 * 2)
    return _mix(frame, (90, 50, 20), ((y > 0.8) & (y < 0.86) & (np.abs(x - 0.5) < 0.15)).astype(float))


def fireworks(y, x, t):
    frame = _mix((5, 5, 25), (20, 20, 45), y)
    city = (y > 0.8 - 0.1 * (np.floor(x * 12) % 3) / 2).astype(float)
    frame = _mix(frame, (15, 15, 15), city)
    radius = 0.05 + 0.25 * t
    for k in range(16):
        angle = 2 * np.pi * k / 16
        frame = _mix(frame, (255, 80, 200), _disc(y, x, 0.35 + radius * np.sin(angle), 0.5 + radius * np.cos(angle),
                                                  0.02) * (1 - 0.7 * t))
    return frame


def leaf(y, x, t):
    frame = _mix((240, 230, 200), (200, 170, 120), y)
    angle = 4 * np.pi * t
    cy, cx = 0.2 + 0.6 * t, 0.5 + 0.2 * np.sin(3 * np.pi * t)
    u = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)
    v = -(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)
    return _mix(frame, (60, 150, 40), np.clip(((u / 0.1) ** 2 + (v / 0.04) ** 2 < 1) * 1.0, 0, 1))


def stars(y, x, t, points=np.random.default_rng(3).random((50, 3))):
    frame = _mix((0, 0, 10), (10, 10, 40), y)
    for py, px, phase in points:
        glow = 0.5 + 0.5 * np.sin(2 * np.pi * (2 * t + phase))
        frame = _mix(frame, (255, 255, 230), _disc(y, x, py, _across(x, (px - 0.1 * t) % 1), 0.01) * glow)
    return frame


SCENES: dict[str, tuple[Scene, str]] = {
    "sunset": (sunset, "an orange sun setting over the sea"),
    "snow": (snow, "snow falling at night"),
    "rain": (rain, "rain falling on a grey day"),
    "waves": (waves, "waves rolling onto a sandy beach"),
    "ball": (ball, "a red ball bouncing across the grass"),
    "clouds": (clouds, "white clouds drifting across a blue sky"),
    "campfire": (campfire, "a campfire flickering at night"),
    "fireworks": (fireworks, "pink fireworks over a dark city"),
    "leaf": (leaf, "a green leaf spinning as it falls"),
    "stars": (stars, "stars twinkling in the night sky"),
}


def write_demo_dataset(folder: Path, width: int = 256, height: int = 144, seconds: float = 3.0, fps: int = 24,
                       scenes: list[str] | None = None, on_clip: Callable[[int], None] = lambda done: None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.meshgrid((np.arange(height) + 0.5) / height, (np.arange(width) + 0.5) / width, indexing="ij")
    x = x * width / height - (width / height - 1) / 2  # square units, centred
    frames = round(seconds * fps)
    for done, name in enumerate(scenes or list(SCENES), start=1):
        draw, caption = SCENES[name]
        with Mp4Writer(folder / f"{name}.mp4", width, height, fps, crf=18) as writer:
            for i in range(frames):
                writer.write(np.clip(draw(y, x, i / frames), 0, 255).astype(np.uint8))
        (folder / f"{name}.txt").write_text(caption + "\n")
        on_clip(done)
    return folder
