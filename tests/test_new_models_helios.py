"""Helios (engines/open/streaming.py): a streaming model that samples its clip 33 frames at a time and
decodes each chunk as it goes. Tiny random folders in the real diffusers layout, loaded through the
same path a downloaded model takes, against plain diffusers on the same folder."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from ungated.engines.open import streaming
from ungated.engines.open.models import OPEN_MODELS
from ungated.errors import GenerationCancelled
from ungated.media.inputs import read_image

from .test_open_models import engine_for, run, tiny_plan

# (tiny folder, catalog row, size: the pyramid samples its first stage at a quarter of it, steps per
# stage or chunk, the steps over a 2-chunk clip: the distilled row samples its first chunk twice over)
KINDS = {
    "helios": ("helios-base", 32, 2, 2 * 2),
    "helios-distilled": ("helios-distilled", 64, 1, 3 * 1 * 2 + 3 * 1),
}


def plain_diffusers(folder, model_id: str, plan, seed: int, **extra) -> np.ndarray:
    """What diffusers alone makes of the folder, with the row's own arguments, as uint8 frames."""
    import diffusers

    pipe = diffusers.DiffusionPipeline.from_pretrained(folder, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    steps = {"num_inference_steps": plan.steps}
    if isinstance(pipe, diffusers.HeliosPyramidPipeline):
        steps = {"pyramid_num_inference_steps_list": [plan.steps] * 3}
    frames = pipe(prompt=plan.request.plain_prompt(), height=plan.height, width=plan.width, num_frames=plan.frames,
                  guidance_scale=plan.guidance, generator=torch.Generator("cpu").manual_seed(seed), output_type="np",
                  **steps, **OPEN_MODELS[model_id].call_arguments, **extra).frames[0]
    return (frames * 255).round().astype(np.uint8)


def streaming_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ungated-streaming-pipeline"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_frames_equal_plain_diffusers_with_progress_over_all_chunks(kind, tiny_folders):
    model_id, size, steps, total = KINDS[kind]
    engine = engine_for(model_id, tiny_folders[kind])
    plan = tiny_plan(65, fps=24, steps=steps, size=size)  # two chunks of 33 frames, cut to 65
    progress = []
    video = run(engine, plan, seed=3, progress=lambda step, of: progress.append((step, of)))
    assert video.shape == (65, size, size, 3) and video.dtype == np.uint8
    assert progress == [(step, total) for step in range(1, total + 1)]
    assert np.array_equal(video, plain_diffusers(tiny_folders[kind], model_id, plan, seed=3))
    assert not np.array_equal(video, run(engine, plan, seed=4))
    assert "decode" not in engine.pipe.vae.__dict__ and not streaming_threads()


def test_the_first_chunk_is_yielded_before_the_last_chunk_is_sampled(tiny_folders):
    engine = engine_for("helios-base", tiny_folders["helios"])
    events = []
    frames = engine.generate(tiny_plan(65, fps=24, steps=2), 0, lambda step, total: events.append(step),
                             lambda: False)
    for _ in frames:
        events.append("frame")
    # Steps 1-2 sample the first chunk, 3-4 the second (the last).
    assert events == [1, 2] + ["frame"] * 33 + [3, 4] + ["frame"] * 32


@pytest.mark.parametrize("cancel_at, frames_before", [(1, 0), (3, 33)])
def test_cancel_stops_the_pipeline_between_steps(cancel_at, frames_before, tiny_folders):
    engine = engine_for("helios-base", tiny_folders["helios"])
    engine.load()
    decodes = []
    original = engine.pipe.vae.decode
    engine.pipe.vae.decode = lambda *args, **kwargs: decodes.append(1) or original(*args, **kwargs)
    seen, made = [], []
    with pytest.raises(GenerationCancelled):
        for frame in engine.generate(tiny_plan(97, fps=24, steps=2), 0, lambda step, total: seen.append(step),
                                     lambda: len(seen) >= cancel_at):
            made.append(frame)
    assert seen == list(range(1, cancel_at + 1))  # no step after the one that saw the cancel
    assert len(made) == frames_before and len(decodes) == frames_before // 33
    assert not streaming_threads() and engine.pipe.vae.decode.__name__ == "<lambda>"  # the spy is back
    assert engine.preview() is None
    assert run(engine, tiny_plan(33, fps=24, steps=1)).shape == (33, 32, 32, 3)  # the engine still works


def test_a_reader_that_stops_early_stops_the_pipeline(tiny_folders):
    engine = engine_for("helios-base", tiny_folders["helios"])
    steps = []
    frames = engine.generate(tiny_plan(97, fps=24, steps=2), 0, lambda step, total: steps.append(step),
                             lambda: False)
    next(frames)
    frames.close()
    assert not streaming_threads() and "decode" not in engine.pipe.vae.__dict__
    assert steps[-1] <= 3  # it stopped at the next step after the first chunk, not at the end of the clip


def test_image_to_video_equals_plain_diffusers(tiny_folders, tmp_path):
    image = tmp_path / "start.png"
    Image.new("RGB", (48, 48), (220, 20, 20)).save(image)
    engine = engine_for("helios-base", tiny_folders["helios"])
    plan = tiny_plan(33, fps=24, steps=2, image=image)
    video = run(engine, plan, seed=2)
    assert video.shape == (33, 32, 32, 3)
    expected = plain_diffusers(tiny_folders["helios"], "helios-base", plan, seed=2, image=read_image(image, 32, 32))
    assert np.array_equal(video, expected)


def test_the_catalog_rows_follow_the_chunks():
    for model_id in ("helios-base", "helios-distilled"):
        model = OPEN_MODELS[model_id]
        assert model.licence.name == "Apache-2.0" and not model.licence.restrictions
        assert model.family.decodes_while_sampling and model.tasks == ("t2v", "i2v")
        assert model.sizes == ((640, 384),) and model.fps == 24
        fewest, step, most = model.frames
        assert (fewest, step) == (33, 32) and most <= 20 * 24
        assert (model.default_frames - fewest) % step == 0
    assert OPEN_MODELS["helios-distilled"].steps == 2 and OPEN_MODELS["helios-distilled"].guidance == 1.0
    assert OPEN_MODELS["helios-base"].steps == 50 and OPEN_MODELS["helios-base"].guidance == 5.0


class _Pipe:
    vae_scale_factor_temporal = 4


@pytest.mark.parametrize("asked, chunks, clip", [(33, 1, 33), (65, 2, 65), (129, 4, 129), (161, 5, 165),
                                                 (449, 14, 461)])
def test_every_length_the_row_allows_is_made_whole_by_the_pipeline(asked, chunks, clip):
    arguments = {"num_frames": asked}
    assert streaming.chunks(_Pipe(), arguments) == chunks and streaming.clip_frames(_Pipe(), arguments) == clip
    rule = OPEN_MODELS["helios-base"].frames
    for frames in range(rule[0], rule[2] + 1, rule[1]):
        assert streaming.clip_frames(_Pipe(), {"num_frames": frames}) >= frames
