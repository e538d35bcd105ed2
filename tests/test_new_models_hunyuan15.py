"""HunyuanVideo 1.5 (engines/open/hunyuan15.py) on tiny random folders in the real diffusers layout:
its pipelines take no step callback and no guidance_scale, so progress, cancel and guidance go
around the call; the frames must still equal what plain diffusers makes from the same folder."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from ungated.engines.open import decode
from ungated.engines.open.models import OPEN_MODELS
from ungated.errors import InvalidRequest
from ungated.request import Request, plan

from .test_open_models import assert_cancel_stops_before_the_vae_decode, engine_for, run, tiny_plan

KINDS = {"t2v": ("hunyuan15", "hunyuanvideo1.5-480p"), "i2v": ("hunyuan15-i2v", "hunyuanvideo1.5-480p-i2v")}


@pytest.fixture
def start_image(tmp_path):
    """A 32x32 image of noise, at the tiny models' size, so that ungated and diffusers read the same pixels."""
    path = tmp_path / "start.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)
    return path


def plain_diffusers(folder, guidance: float, seed: int, steps: int, frames: int, image=None,
                    negative: str | None = None) -> np.ndarray:
    """What a diffusers user gets: the folder's pipeline, its guider at the same scale, the same seed."""
    import diffusers

    pipe = diffusers.DiffusionPipeline.from_pretrained(folder, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    pipe.guider = pipe.guider.new(guidance_scale=guidance)
    size = {"image": Image.open(image).convert("RGB")} if image else {"height": 32, "width": 32}
    frames = pipe(prompt="a red fox running on the beach", negative_prompt=negative, num_frames=frames,
                  num_inference_steps=steps, generator=torch.Generator("cpu").manual_seed(seed), output_type="np",
                  **size).frames[0]
    return (frames * 255).round().astype(np.uint8)


@pytest.mark.parametrize("task", list(KINDS))
def test_frames_equal_plain_diffusers(task, tiny_folders, start_image):
    kind, model_id = KINDS[task]
    image = start_image if task == "i2v" else None
    engine = engine_for(model_id, tiny_folders[kind])
    video = run(engine, tiny_plan(9, fps=24, steps=2, image=image), seed=3)
    assert video.shape == (9, 32, 32, 3)
    assert np.array_equal(video, plain_diffusers(tiny_folders[kind], 4.0, 3, 2, 9, image))


def test_guidance_takes_effect_and_the_published_scale_is_kept(tiny_folders):
    engine = engine_for("hunyuanvideo1.5-480p", tiny_folders["hunyuan15"])
    guided = run(engine, replace(tiny_plan(9, fps=24), guidance=7.5), seed=3)
    assert engine.pipe.guider.guidance_scale == 6.0  # the folder's own, put back after the run
    assert np.array_equal(guided, plain_diffusers(tiny_folders["hunyuan15"], 7.5, 3, 2, 9))
    assert not np.array_equal(guided, run(engine, tiny_plan(9, fps=24), seed=3))


def test_a_negative_prompt_acts_with_guidance_and_is_refused_without(tiny_folders):
    engine = engine_for("hunyuanvideo1.5-480p", tiny_folders["hunyuan15"])
    negative = run(engine, tiny_plan(9, fps=24, negative_prompt="blurry"), seed=3)
    assert np.array_equal(negative, plain_diffusers(tiny_folders["hunyuan15"], 4.0, 3, 2, 9, negative="blurry"))
    assert not np.array_equal(negative, run(engine, tiny_plan(9, fps=24), seed=3))
    unguided = replace(tiny_plan(9, fps=24, negative_prompt="blurry"), guidance=1.0)
    with pytest.raises(InvalidRequest) as refused:
        run(engine, unguided)
    assert refused.value.field == "negative_prompt" and "only with guidance above 1" in refused.value.message
    assert "\n" not in str(refused.value)
    run(engine, replace(tiny_plan(9, fps=24), guidance=1.0))  # without a negative prompt, guidance 1 runs


@pytest.mark.parametrize("frames", [5, 13])
def test_the_planned_frame_count_is_made(frames, tiny_folders):
    engine = engine_for("hunyuanvideo1.5-480p", tiny_folders["hunyuan15"])
    assert run(engine, tiny_plan(frames, fps=24)).shape == (frames, 32, 32, 3)


def test_the_catalog_plans_its_native_sizes_and_121_frames():
    def planned(model_id: str, **asked):
        caps = OPEN_MODELS[model_id].capabilities
        the_plan = plan(Request.build(prompt="a red fox", model=model_id, **asked), caps, model_id)
        return the_plan.width, the_plan.height, the_plan.frames, the_plan.steps, the_plan.guidance

    assert planned("hunyuanvideo1.5-480p") == (848, 480, 121, 50, 6.0)
    assert planned("hunyuanvideo1.5-720p", aspect="9:16")[:2] == (720, 1264)
    distilled = OPEN_MODELS["hunyuanvideo1.5-480p-i2v-step-distilled"].capabilities
    assert (distilled.default_steps, distilled.default_guidance, distilled.image_required) == (8, 1.0, True)
    assert planned("hunyuanvideo1.5-720p", seconds=10)[2] == 241


def test_the_native_sizes_are_the_sizes_its_image_to_video_pipeline_draws():
    from diffusers.pipelines.hunyuan_video1_5.image_processor import HunyuanVideo15ImageProcessor

    processor = HunyuanVideo15ImageProcessor(vae_scale_factor=16)
    for model_id, target_size in (("hunyuanvideo1.5-480p-i2v", 640), ("hunyuanvideo1.5-720p-i2v", 960)):
        for width, height in OPEN_MODELS[model_id].sizes:
            assert processor.calculate_default_height_width(height, width, target_size) == (height, width)


def test_progress_and_preview_are_reported_after_every_step(tiny_folders):
    engine = engine_for("hunyuanvideo1.5-480p", tiny_folders["hunyuan15"])
    steps, previews = [], []

    def progress(step: int, total: int) -> None:
        steps.append((step, total))
        previews.append(engine.preview())

    run(engine, tiny_plan(9, fps=24, steps=3), progress=progress)
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert all(p is not None and p.dtype == np.uint8 and p.std() > 0 for p in previews)
    assert engine.preview() is None and "step" not in vars(engine.pipe.scheduler)  # the wrapper is gone


def test_cancel_stops_before_the_vae_decode(tiny_folders):
    assert_cancel_stops_before_the_vae_decode(engine_for("hunyuanvideo1.5-480p", tiny_folders["hunyuan15"]), fps=24)


def test_image_to_video_starts_from_the_image(tiny_folders, start_image, tmp_path):
    engine = engine_for("hunyuanvideo1.5-480p-i2v", tiny_folders["hunyuan15-i2v"])
    engine.load()
    encoded = []
    original = engine.pipe.vae.encode
    engine.pipe.vae.encode = lambda pixels, *a, **k: encoded.append(pixels.clone()) or original(pixels, *a, **k)
    video = run(engine, tiny_plan(9, fps=24, image=start_image))
    # The first latent frame is conditioned on exactly the image, at the planned size.
    pixels = np.asarray(Image.open(start_image), dtype=np.float32) / 127.5 - 1
    assert len(encoded) == 1 and encoded[0].shape == (1, 3, 1, 32, 32)
    assert np.allclose(encoded[0][0, :, 0].permute(1, 2, 0).numpy(), pixels, atol=1e-6)
    other = tmp_path / "other.png"
    Image.new("RGB", (32, 32), (20, 200, 20)).save(other)
    assert not np.array_equal(video, run(engine, tiny_plan(9, fps=24, image=other)))


def test_image_to_video_refuses_a_size_it_would_not_draw(tiny_folders, start_image):
    engine = engine_for("hunyuanvideo1.5-480p-i2v", tiny_folders["hunyuan15-i2v"])
    wide = replace(tiny_plan(9, fps=24, image=start_image), width=48, out_width=48)
    with pytest.raises(InvalidRequest) as refused:
        run(engine, wide)
    assert refused.value.field == "size" and "draws" in refused.value.message


def test_long_clips_decode_window_by_window_to_the_planned_frames(tiny_folders, monkeypatch):
    engine = engine_for("hunyuanvideo1.5-480p", tiny_folders["hunyuan15"])
    whole = run(engine, tiny_plan(17, fps=24))
    # A budget of two latent frames' decoded pixels: the 5 latent frames decode in windows of 3.
    monkeypatch.setattr(decode, "BUDGET_BYTES", 2 * 4 * 32 * 32 * 3 * 4)
    windowed = run(engine, tiny_plan(17, fps=24))
    assert windowed.shape == whole.shape == (17, 32, 32, 3)
    assert not np.array_equal(windowed, whole)  # it did decode in windows


def test_taylorseer_runs_and_the_caches_it_cannot_take_are_refused_in_one_line(tiny_folders):
    engine = engine_for("hunyuanvideo1.5-480p", tiny_folders["hunyuan15"], cache="taylorseer")
    assert run(engine, tiny_plan(9, fps=24, steps=3)).shape == (9, 32, 32, 3)
    assert engine.pipe.transformer.is_cache_enabled
    for cache, why in (("faster", "they run guidance as two separate calls a step"),
                       ("first-block", "diffusers 0.42 has no FirstBlockCache entry")):
        with pytest.raises(InvalidRequest) as refused:
            engine_for("hunyuanvideo1.5-480p", tiny_folders["hunyuan15"], cache=cache)
        assert refused.value.field == "--cache" and why in refused.value.message
        assert refused.value.message.endswith("use taylorseer")


def test_the_step_distilled_model_runs_its_meanflow_steps_as_diffusers_does(tmp_path, start_image):
    """The 8-step image-to-video model (MeanFlow: each step also told the next timestep), guidance 1."""
    from .tiny_pipelines import hunyuan15

    torch.manual_seed(0)
    pipe = hunyuan15(image_to_video=True)
    transformer = type(pipe.transformer).from_config(pipe.transformer.config, use_meanflow=True)
    pipe = type(pipe)(**{**pipe.components, "transformer": transformer.eval(),
                         "guider": pipe.guider.new(guidance_scale=1.0)})
    pipe.register_to_config(feature_extractor=("transformers", "SiglipImageProcessor"))
    pipe.save_pretrained(tmp_path / "distilled")
    engine = engine_for("hunyuanvideo1.5-480p-i2v-step-distilled", tmp_path / "distilled")
    steps = []
    video = run(engine, replace(tiny_plan(9, fps=24, steps=3, image=start_image), guidance=1.0), seed=3,
                progress=lambda step, total: steps.append(step))
    assert steps == [1, 2, 3] and engine.pipe.transformer.config.use_meanflow
    assert np.array_equal(video, plain_diffusers(tmp_path / "distilled", 1.0, 3, 3, 9, start_image))


def test_on_a_laptop_it_is_refused_before_loading(tiny_folders, monkeypatch):
    from ungated.engines.open import hub

    monkeypatch.setenv("UNGATED_LAPTOP_MODE", "on")
    monkeypatch.setattr(hub, "load_pipeline", lambda *args, **kwargs: pytest.fail("loaded weights"))
    threads = torch.get_num_threads()
    with pytest.raises(InvalidRequest, match=r"hunyuanvideo1.5-480p needs about \d+ GB .* more than a 16 GB laptop"):
        engine_for("hunyuanvideo1.5-480p", tiny_folders["hunyuan15"]).load()
    assert torch.get_num_threads() == threads
