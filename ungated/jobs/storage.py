"""Where the service keeps files: clips and their previews, and uploaded inputs, under one root
(the data directory by default). Workers on other machines must see the same root (a shared
mount) and are given its path; the store records paths relative to it."""

from __future__ import annotations

import shutil
from pathlib import Path

from .. import settings


class Storage:
    def __init__(self, root: Path | None = None):
        self.root = (root or settings.home() / "files").expanduser().resolve()

    def clip_path(self, video_id: str, token: str) -> Path:
        """Where one attempt writes its MP4: a name per attempt, so two never share files."""
        folder = self.root / "videos" / video_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{token}.mp4"

    def preview_path(self, video_id: str) -> Path:
        """The latest low-resolution preview frame of a job being sampled."""
        return self.root / "videos" / video_id / "preview.jpg"

    def input_path(self, name: str) -> Path:
        folder = self.root / "inputs"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def resolve(self, relative: str) -> Path:
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"{relative!r} is outside the storage root")
        return path

    def remove_video(self, video_id: str) -> None:
        shutil.rmtree(self.root / "videos" / video_id, ignore_errors=True)
