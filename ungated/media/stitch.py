"""Joining clips end to end into one MP4 (a storyboard's shots), and the joined clip's thumbnail
and spritesheet.

Clips of one format (size, frame rate, codec and its extradata, as one board's shots are) are
joined by stream copy: their H.264 packets are written again with their timestamps moved along,
so every frame is the clip's own, invisible watermark included, and nothing is encoded. Clips
that differ are decoded and encoded again, at the first clip's size and frame rate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from .encode import Mp4Writer
from .pipeline import resize_frame
from .previews import PreviewCollector


@dataclass(frozen=True)
class Stitched:
    frames: int
    width: int
    height: int
    fps: Fraction
    copied: bool  # stream copy (True) or encoded again (False)

    @property
    def seconds(self) -> float:
        return float(self.frames / self.fps)


def clip_format(path: Path) -> tuple:
    """What must match for clips to be joined by stream copy."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context
        return codec.name, codec.width, codec.height, codec.pix_fmt, stream.average_rate, bytes(codec.extradata or b"")


def stitch(clips: Sequence[Path], out: Path, metadata: dict[str, str] | None = None,
           on_clip: Callable[[int], None] = lambda index: None) -> Stitched:
    """Write clips one after another to out (an MP4); on_clip(index) is called as each begins."""
    if not clips:
        raise ValueError("nothing to stitch")
    formats = {clip_format(clip) for clip in clips}
    join = _copy if len(formats) == 1 else _encode
    return join(clips, out, metadata or {}, on_clip)


def _copy(clips: Sequence[Path], out: Path, metadata: dict[str, str], on_clip: Callable[[int], None]) -> Stitched:
    frames, start = 0, Fraction(0)  # where the next clip begins, in seconds
    with av.open(str(out), "w", format="mp4", options={"movflags": "faststart+use_metadata_tags"}) as writing:
        writing.metadata.update(metadata)
        target = None
        for index, clip in enumerate(clips):
            on_clip(index)
            with av.open(str(clip)) as reading:
                source = reading.streams.video[0]
                if target is None:
                    target = writing.add_stream_from_template(source)
                    width, height, fps = source.codec_context.width, source.codec_context.height, source.average_rate
                time_base = source.time_base
                shift = round(start / time_base)
                end = start
                for packet in reading.demux(source):
                    if packet.dts is None:  # the demuxer's empty flush packets
                        continue
                    packet.pts += shift
                    packet.dts += shift
                    end = max(end, (packet.pts + (packet.duration or 0)) * time_base)
                    packet.stream = target
                    writing.mux(packet)
                    frames += 1
                start = end
    return Stitched(frames, width, height, fps, copied=True)


def _encode(clips: Sequence[Path], out: Path, metadata: dict[str, str], on_clip: Callable[[int], None]) -> Stitched:
    with av.open(str(clips[0])) as first:
        codec = first.streams.video[0].codec_context
        width, height, fps = codec.width, codec.height, first.streams.video[0].average_rate
    with Mp4Writer(out, width, height, round(fps), metadata) as writer:
        for index, clip in enumerate(clips):
            on_clip(index)
            with av.open(str(clip)) as reading:
                for frame in reading.decode(video=0):
                    writer.write(resize_frame(frame.to_ndarray(format="rgb24"), width, height))
    return Stitched(writer.frames_written, width, height, Fraction(round(fps)), copied=False)


def write_previews(mp4: Path, frames: int, thumbnail: Path, spritesheet: Path) -> None:
    """The thumbnail and spritesheet of a clip of `frames` frames, as a made clip has them; only
    the frames they show are converted to pictures."""
    previews = PreviewCollector(frames)
    wanted = {previews.thumbnail_index, *previews.sprite_indices}
    with av.open(str(mp4)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                previews.add(index, frame.to_ndarray(format="rgb24"))
    previews.save_thumbnail(thumbnail)
    previews.save_spritesheet(spritesheet)
