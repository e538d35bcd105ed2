from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from ungated.media.encode import Mp4Writer, read_metadata
from ungated.media.pipeline import companion_paths, write_clip


def _frames(count: int, size: int = 32):
    for i in range(count):
        frame = np.zeros((size, size, 3), np.uint8)
        frame[:, : (i * size) // count + 1] = (200, 30, 30)
        yield frame


def test_mp4_is_h264_yuv420p_with_the_right_frames_and_tags(tmp_path: Path):
    path = tmp_path / "clip.mp4"
    files = write_clip(_frames(12), path, width=96, height=64, fps=8, total_frames=12,
                       metadata={"prompt": "a red bar", "seed": "7", "model": "builtin"})
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (96, 64)
        assert stream.average_rate == 8
        assert sum(1 for _ in container.decode(stream)) == 12
    meta = read_metadata(path)
    assert meta["prompt"] == "a red bar" and meta["seed"] == "7" and meta["model"] == "builtin"
    assert Image.open(files.thumbnail).size == (96, 64)
    assert Image.open(files.spritesheet).size == (5 * 96, 2 * 64)


def test_faststart_puts_the_index_first(tmp_path: Path):
    path = tmp_path / "clip.mp4"
    write_clip(_frames(8), path, width=32, height=32, fps=8, total_frames=8, metadata={})
    data = path.read_bytes()
    assert 0 < data.index(b"moov") < data.index(b"mdat")


def test_frames_are_upscaled_to_the_output_size(tmp_path: Path):
    path = tmp_path / "clip.mp4"
    write_clip(_frames(4, 16), path, width=128, height=128, fps=8, total_frames=4, metadata={})
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert frame.shape == (128, 128, 3)
    assert frame[64, 2, 0] > 150 and frame[64, 120, 0] < 60  # the red bar, left side, frame 0


def test_a_failed_stream_leaves_no_files(tmp_path: Path):
    def broken():
        yield from _frames(3)
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError):
        write_clip(broken(), tmp_path / "clip.mp4", width=32, height=32, fps=8, total_frames=8, metadata={})
    assert list(tmp_path.iterdir()) == []


def test_companion_paths_sit_next_to_the_video():
    files = companion_paths(Path("out/clip.mp4"))
    assert files.thumbnail == Path("out/clip.thumb.jpg")
    assert files.spritesheet == Path("out/clip.sprites.jpg")


def test_writer_context_manager_closes_on_success(tmp_path: Path):
    with Mp4Writer(tmp_path / "a.mp4", 32, 32, 8) as writer:
        for frame in _frames(5):
            writer.write(frame)
    assert writer.frames_written == 5
    assert (tmp_path / "a.mp4").stat().st_size > 0
