"""The watermark's own embedding and reading are invisible-watermark's dwtDctSvd method, computed
for all blocks at once, and the Marker marks each frame of a clip as a fresh embedding would."""

import cv2
import numpy as np
import pytest
from imwatermark import WatermarkDecoder
from imwatermark.dwtDctSvd import EmbedDwtDctSvd

from ungated.media.encode import Mp4Writer
from ungated.provenance import watermark

MARK = 0x1234ABCD


def moving_shapes(width: int, height: int, frames: int) -> list[np.ndarray]:
    """A yellow disc and a green triangle moving over a flat purple background, anti-aliased."""
    out = []
    for k in range(frames):
        frame = np.full((height, width, 3), (90, 40, 160), np.uint8)
        cv2.circle(frame, (width // 4 + 5 * k, height // 2), height // 5, (250, 220, 30), -1, cv2.LINE_AA)
        corner = np.array([[width - 120 - 3 * k, 30], [width - 20 - 3 * k, 60], [width - 90 - 3 * k, 140]])
        cv2.fillPoly(frame, [corner.astype(np.int32)], (20, 200, 60), cv2.LINE_AA)
        out.append(frame)
    return out


def textured(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (7, 7), 2)


def library_bits(rgb: np.ndarray) -> list[int]:
    decoder = WatermarkDecoder("bits", watermark.ID_BITS + watermark.CRC_BITS)
    return [int(b) for b in decoder.decode(np.ascontiguousarray(rgb[..., ::-1]), watermark.METHOD,
                                           scales=watermark.SCALES)]


def test_the_embedding_is_the_librarys():
    """The change to the method's low band is what invisible-watermark's own loop makes, block for
    block, and the marked frame reads back as the U plane it gives, rounded to whole levels (the
    library truncates it instead, swaps two detail bands and wraps U past 255)."""
    import pywt

    frame = moving_shapes(480, 360, 1)[0]
    frame[:160, :200] = textured(160, 200)
    u = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV)[..., 1]
    band, _ = pywt.dwt2(u.astype(np.float64), "haar")
    expected = band.copy()
    EmbedDwtDctSvd(watermark._bits(MARK), 48, watermark.SCALES).encode_frame(expected, watermark.SCALES[1])

    tiles = u.reshape(45, 8, 60, 8).swapaxes(1, 2).reshape(-1, 8, 8)
    bits = np.array(watermark._bits(MARK))[np.arange(45 * 60) % 48]
    change = watermark._block_changes(watermark._ll_blocks(tiles), bits).reshape(45, 60, 4, 4).swapaxes(1, 2)
    assert np.allclose(change.reshape(180, 240), expected - band, atol=1e-9)

    marked = watermark.Marker(MARK)(0, frame)
    read = cv2.cvtColor(marked, cv2.COLOR_RGB2YUV)[..., 1]
    want = np.clip(np.rint(u + (expected - band).repeat(2, 0).repeat(2, 1) / 2), 0, 255)
    assert np.mean(read == want) > 0.999
    assert np.abs(marked.astype(int) - frame)[..., 0].max() == 0  # red stays; luma and V all but stay


@pytest.mark.parametrize("size", [(480, 360), (333, 270)])
def test_reading_is_the_librarys(size):
    width, height = size
    frames = [textured(height, width, seed) for seed in range(4)] + moving_shapes(width, height, 2)
    frames += [watermark.Marker(MARK)(0, frame) for frame in frames]
    for frame in frames:
        assert list(watermark.read_bits(frame)) == library_bits(frame)
    assert watermark._mark_of(library_bits(frames[-1])) == MARK  # the library reads our mark


def test_each_frame_is_marked_as_a_fresh_embedding_would():
    """Blocks that did not change keep their change exactly (no shimmer on a still background),
    and the ones that did are embedded again (no trail behind a moving edge)."""
    frames = moving_shapes(483, 301, 12)  # sides not a multiple of 8: the rest is left as it is
    marker = watermark.Marker(MARK)
    for index, frame in enumerate(frames):
        marked = marker(index, frame)
        assert np.array_equal(marked, watermark.Marker(MARK)(0, frame))
        assert np.array_equal(marked[296:], frame[296:]) and np.array_equal(marked[:, 480:], frame[:, 480:])
        assert watermark._mark_of(list(watermark.read_bits(marked))) == MARK
    background = (slice(250, 296), slice(0, 80))  # never reached by the shapes
    first = marker(0, frames[0])[background]
    assert np.abs(first.astype(int) - frames[0][background]).max() > 0
    assert np.array_equal(marker(99, frames[-1])[background], first)


def test_a_change_in_u_reads_back_exactly():
    rgb = textured(64, 64).reshape(-1, 3)
    u = cv2.cvtColor(rgb[None], cv2.COLOR_RGB2YUV)[0, :, 1]
    for step in (0, 1, -3, 6):  # 0: nothing to nudge
        target = np.clip(u.astype(int) + step, 0, 255).astype(np.uint8)
        changed = (rgb + watermark._rgb_change(rgb, u, target)).astype(np.uint8)
        assert np.mean(cv2.cvtColor(changed[None], cv2.COLOR_RGB2YUV)[0, :, 1] == target) > 0.999


def test_frames_of_any_memory_layout_are_marked():
    frame = moving_shapes(480, 360, 1)[0]
    planes = np.ascontiguousarray(frame.transpose(2, 0, 1)).transpose(1, 2, 0)  # as a (3, H, W) tensor gives
    assert np.array_equal(watermark.Marker(MARK)(0, planes), watermark.Marker(MARK)(0, frame))


def test_a_small_frame_is_left_unmarked():
    frame = moving_shapes(320, 240, 1)[0]
    assert watermark.Marker(MARK)(0, frame) is frame


def test_a_clip_marked_frame_by_frame_is_found_after_a_reencode(tmp_path):
    marker = watermark.Marker(MARK)
    path = tmp_path / "marked.mp4"
    with Mp4Writer(path, 480, 272, 24, crf=28) as writer:
        for index, frame in enumerate(moving_shapes(480, 272, 12)):
            writer.write(marker(index, frame))
    assert watermark.detect(path).mark == MARK


@pytest.mark.parametrize("color", [(255, 255, 255), (0, 254, 252), (0, 0, 0)])
def test_white_and_saturated_backgrounds_carry_the_mark(tmp_path, color):
    """Where a channel sits at 0 or 255 the change in blue is clipped; green and red make up
    the rest, so a white background (the commonest there is) still carries every bit."""
    marker, clip = watermark.Marker(watermark.mark_id("video_5eed1e55")), tmp_path / "flat.mp4"
    with Mp4Writer(clip, 480, 480, 8) as writer:
        for index in range(8):
            frame = np.full((480, 480, 3), color, np.uint8)
            frame[100:200, 100 + 5 * index:200 + 5 * index] = (220, 40, 40)
            writer.write(marker(index, frame))
    assert watermark.detect(clip).mark == watermark.mark_id("video_5eed1e55")
