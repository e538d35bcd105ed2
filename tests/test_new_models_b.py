"""Kandinsky 5 Lite and Sana-Video (issue 30) end to end on the CPU: tiny random folders in the
published layout, loaded through the engine as a downloaded model is, and frame for frame equal to
plain diffusers with the same folder, seed, steps and size."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace

import diffusers
import numpy as np
import pytest
import torch

from ungated.engines.open.models import OPEN_MODELS
from ungated.request import Request, plan

from .test_open_models import assert_cancel_stops_before_the_vae_decode, engine_for, run, tiny_plan

# (tiny folder, catalog row, its frame rate)
ROWS = {
    "kandinsky5-lite": ("kandinsky5", 24),
    "kandinsky5-lite-distilled": ("kandinsky5", 24),
    "sana-video-2b-480p": ("sana_video", 16),
}


def plain_diffusers(model_id: str, folder):
    """The folder loaded by diffusers itself. Kandinsky 5's tokenizer is published as a Qwen2-VL
    processor, which transformers builds only with torchvision; its tokenizer is set by hand, as the
    pipeline only ever gives it text (see ungated/engines/open/processors.py)."""
    from transformers import AutoTokenizer

    kandinsky = OPEN_MODELS[model_id].family.name == "Kandinsky 5"
    pipe = diffusers.DiffusionPipeline.from_pretrained(folder, dtype=torch.float32,
                                                       **({"tokenizer": None} if kandinsky else {}))
    if kandinsky:
        pipe.tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def plain_frames(model_id: str, folder, the_plan, seed: int, negative: str | None = None) -> np.ndarray:
    pipe = plain_diffusers(model_id, folder)
    arguments = dict(prompt=the_plan.request.plain_prompt(), height=the_plan.height, width=the_plan.width,
                     num_inference_steps=the_plan.steps, guidance_scale=the_plan.guidance,
                     generator=torch.Generator("cpu").manual_seed(seed), output_type="np")
    if negative is not None:
        arguments["negative_prompt"] = negative
    if type(pipe).__name__ == "SanaVideoPipeline":  # its own name for the frame count; the exact size
        arguments |= {"frames": the_plan.frames, "use_resolution_binning": False}
    else:
        arguments["num_frames"] = the_plan.frames
    frames = pipe(**arguments).frames[0]
    return (frames * 255).round().astype(np.uint8)


@pytest.mark.parametrize("model_id", list(ROWS))
def test_frames_equal_plain_diffusers_with_progress_each_step(model_id, tiny_folders):
    kind, fps = ROWS[model_id]
    model = OPEN_MODELS[model_id]
    engine = engine_for(model_id, tiny_folders[kind])
    the_plan = replace(tiny_plan(9, fps=fps, steps=3), guidance=model.guidance if model.guidance == 1.0 else 4.0)
    steps, previews = [], []

    def progress(step: int, total: int) -> None:
        steps.append((step, total))
        previews.append(engine.preview())

    video = run(engine, the_plan, seed=7, progress=progress)
    assert video.shape == (9, 32, 32, 3) and video.dtype == np.uint8
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert all(p is not None and p.shape[2] == 3 for p in previews) and engine.preview() is None
    assert np.array_equal(video, plain_frames(model_id, tiny_folders[kind], the_plan, seed=7))
    assert not np.array_equal(video, run(engine, the_plan, seed=8))


@pytest.mark.parametrize("model_id", ["kandinsky5-lite", "sana-video-2b-480p"])
def test_a_negative_prompt_reaches_the_pipeline(model_id, tiny_folders):
    kind, fps = ROWS[model_id]
    engine = engine_for(model_id, tiny_folders[kind])
    the_plan = tiny_plan(9, fps=fps, steps=2, negative_prompt="snow at night")
    video = run(engine, the_plan, seed=3)
    assert np.array_equal(video, plain_frames(model_id, tiny_folders[kind], the_plan, seed=3, negative="snow at night"))
    assert not np.array_equal(video, run(engine, tiny_plan(9, fps=fps, steps=2), seed=3))


@pytest.mark.parametrize("model_id, seconds, frames", [("kandinsky5-lite", 2, 49), ("kandinsky5-lite", None, 121),
                                                       ("sana-video-2b-480p", 2, 33),
                                                       ("sana-video-2b-480p", None, 81)])
def test_the_planned_frames_follow_each_rows_rule(model_id, seconds, frames, tiny_folders):
    kind, _ = ROWS[model_id]
    engine = engine_for(model_id, tiny_folders[kind])
    asked = {"seconds": seconds} if seconds else {}
    the_plan = plan(Request.build(prompt="a red fox", model=model_id, **asked), engine.capabilities, model_id)
    assert (the_plan.width, the_plan.height, the_plan.frames) == (*OPEN_MODELS[model_id].sizes[0], frames)
    if seconds:  # the engine makes exactly the planned count (here at a tiny size, in one step)
        short = replace(the_plan, width=32, height=32, out_width=32, out_height=32, steps=1)
        assert len(run(engine, short)) == frames


@pytest.mark.parametrize("model_id", ["kandinsky5-lite", "sana-video-2b-480p"])
def test_cancel_stops_before_the_vae_decode(model_id, tiny_folders):
    kind, fps = ROWS[model_id]
    assert_cancel_stops_before_the_vae_decode(engine_for(model_id, tiny_folders[kind]), fps)


def test_kandinsky_folders_load_their_processor_as_its_tokenizer(tiny_folders):
    from transformers import PreTrainedTokenizerBase

    folder = tiny_folders["kandinsky5"]
    # As published: the tokenizer is a Qwen2-VL processor, whose video part needs torchvision.
    assert json.loads((folder / "model_index.json").read_text())["tokenizer"] == ["transformers", "Qwen2VLProcessor"]
    if importlib.util.find_spec("torchvision") is None:
        with pytest.raises(ImportError, match="(?i)torchvision"):
            diffusers.DiffusionPipeline.from_pretrained(folder)
    engine = engine_for("kandinsky5-lite", folder)
    engine.load()
    assert isinstance(engine.pipe.tokenizer, PreTrainedTokenizerBase)


def test_the_rows_state_their_licences_and_sizes():
    kandinsky, sana = OPEN_MODELS["kandinsky5-lite"], OPEN_MODELS["sana-video-2b-480p"]
    assert kandinsky.licence.name.startswith("MIT") and "Tencent Hunyuan" in kandinsky.licence.restrictions
    assert sana.licence.name.startswith("NVIDIA Open Model License") and "Gemma" in sana.licence.restrictions
    assert (OPEN_MODELS["kandinsky5-lite-distilled"].steps, OPEN_MODELS["kandinsky5-lite-distilled"].guidance) == \
        (16, 1.0)
    assert round(kandinsky.download_gb) == 21 and round(sana.download_gb) == 10


@pytest.mark.parametrize("model_id", ["kandinsky5-lite", "sana-video-2b-480p"])
@pytest.mark.parametrize("cache", ["first-block", "taylorseer", "faster"])
def test_step_caches_are_refused_by_name_before_loading(model_id, cache, tiny_folders):
    from ungated.errors import InvalidRequest

    with pytest.raises(InvalidRequest) as refused:
        engine_for(model_id, tiny_folders[ROWS[model_id][0]], cache=cache)
    assert refused.value.field == "--cache"
    assert f"not available for {OPEN_MODELS[model_id].family.name} models" in refused.value.message
