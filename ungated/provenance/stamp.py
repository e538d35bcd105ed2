"""Everything provenance does to one clip: frames pass through the visible mark (when chosen) and
the invisible watermark (unless turned off) on their way to the encoder, and the finished MP4 is
signed with its C2PA manifest before it is given its final name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .c2pa_manifest import Authorship, sign
from .choices import ProvenanceChoices
from .credentials import Credentials, load
from .visible import VisibleMark
from .watermark import Marker, mark_id

FrameFilter = Callable[[int, np.ndarray], np.ndarray]


class ClipStamp:
    def __init__(self, choices: ProvenanceChoices, model: str, prompt: str, seed: int, artist: str = "",
                 video_id: str | None = None, credentials: Credentials | None = None, mark_image: Path | None = None):
        self.mark = mark_id(video_id)
        self.authorship = Authorship(model=model, artist=artist, video_id=video_id,
                                     prompt=prompt if choices.publish_prompt else None,
                                     seed=seed if choices.publish_prompt else None)
        self.filters: list[FrameFilter] = []
        if choices.mark_text or mark_image:
            self.filters.append(VisibleMark(choices.mark_text or "", choices.mark_corner, choices.mark_opacity,
                                            logo=mark_image))
        if choices.watermark:
            self.filters.append(Marker(self.mark))  # last: the mark must survive what is drawn on top
        self.credentials = credentials

    def frame(self, index: int, frame: np.ndarray) -> np.ndarray:
        for apply in self.filters:
            frame = apply(index, frame)
        return frame

    def finish(self, mp4: Path) -> None:
        sign(mp4, self.authorship, self.credentials or load())
