"""H.264 MP4 writing through PyAV, one frame at a time.

Memory stays flat in clip length: each frame is converted and handed to libx264 as it arrives,
and packets go straight to the file. "faststart" moves the index to the front so browsers can
play before the download ends; "use_metadata_tags" lets custom keys (prompt, seed) be stored.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

DEFAULT_CRF = 23
DEFAULT_PRESET = "medium"


class Mp4Writer:
    def __init__(self, path: Path, width: int, height: int, fps: int, metadata: dict[str, str] | None = None,
                 crf: int = DEFAULT_CRF, preset: str = DEFAULT_PRESET):
        self.container = av.open(str(path), mode="w", format="mp4",
                                 options={"movflags": "faststart+use_metadata_tags"})
        self.stream = self.container.add_stream("libx264", rate=fps)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": str(crf), "preset": preset}
        self.container.metadata.update(metadata or {})
        self.frames_written = 0

    def write(self, frame: np.ndarray) -> None:
        """frame: uint8 [height, width, 3] RGB."""
        video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        for packet in self.stream.encode(video_frame):
            self.container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        for packet in self.stream.encode(None):  # flush the encoder's delayed frames
            self.container.mux(packet)
        self.container.close()

    def abort(self) -> None:
        self.container.close()

    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def read_metadata(path: Path) -> dict[str, str]:
    with av.open(str(path)) as container:
        return dict(container.metadata)
