"""Laptop mode (engines/open/laptop.py): open models on a machine with no GPU, with tiny random
folders in the real diffusers layout loaded through the same path a downloaded model takes."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import torch

from ungated.engines.open import laptop
from ungated.engines.open.models import OPEN_MODELS
from ungated.errors import InvalidRequest
from ungated.request import Request, plan

from .test_open_models import engine_for, run, tiny_plan

DETECT_BFLOAT16 = laptop.fast_bfloat16


@pytest.fixture(autouse=True)
def laptop_mode(monkeypatch):
    """Laptop mode on (the suite turns it off), bfloat16 as this test asks, torch's threads restored."""
    monkeypatch.setenv("UNGATED_LAPTOP_MODE", "on")
    monkeypatch.setattr(laptop, "fast_bfloat16", lambda: True)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_without_a_gpu_open_models_run_in_laptop_mode_said_in_one_line(tiny_folders):
    engine = engine_for("wan2.1-t2v-1.3b", tiny_folders["wan"])
    assert engine.laptop is not None and engine.dtype == torch.bfloat16
    note = engine.setup_notes()[0]
    assert note.startswith("laptop mode (no GPU found): bfloat16 weights (this CPU computes bfloat16 natively), "
                           "text encoders freed before denoising, VAE tiling")
    assert "default 544x320, 2 s (--size/--seconds override)" in note
    video = run(engine, tiny_plan(9))
    assert video.shape == (9, 32, 32, 3)
    assert engine.pipe.vae.use_tiling and engine.pipe.transformer.dtype == torch.bfloat16
    # Tiles as large as a laptop-size frame, which then decodes as one (Wan's own are 256 pixels).
    vae = engine.pipe.vae
    assert (vae.tile_sample_min_width, vae.tile_sample_min_height) == (832, 512)
    assert torch.get_num_threads() == laptop.physical_cores()


def test_without_fast_bfloat16_the_weights_are_float32_and_the_note_says_why(tiny_folders, monkeypatch):
    monkeypatch.setattr(laptop, "fast_bfloat16", DETECT_BFLOAT16)  # detected from the CPU's flags
    monkeypatch.setattr(laptop, "cpu_flags", lambda: {"avx2", "fma"})
    engine = engine_for("cogvideox-2b", tiny_folders["cogvideox"])  # one that fits a laptop in float32
    assert engine.dtype == torch.float32
    assert ("float32 weights (this CPU has no fast bfloat16; text encoders stay bfloat16 to fit)"
            in engine.setup_notes()[0])
    assert run(engine, tiny_plan(9)).shape == (9, 32, 32, 3)
    assert engine.pipe.transformer.dtype == torch.float32
    monkeypatch.setattr(laptop, "cpu_flags", lambda: {"avx2", "avx512_bf16"})
    assert laptop.fast_bfloat16()


@pytest.mark.parametrize("kind, model_id, fps", [("wan", "wan2.1-t2v-1.3b", 16), ("ltx", "ltx-video", 24)])
def test_the_text_encoder_is_freed_before_denoising_and_frames_match_diffusers(kind, model_id, fps, tiny_folders,
                                                                              monkeypatch):
    import diffusers

    monkeypatch.setattr(laptop, "fast_bfloat16", lambda: False)  # float32 denoiser: exact comparison
    monkeypatch.setattr(laptop, "check_fits", lambda model, plan: None)  # LTX-Video's float32 fit: tested below
    engine = engine_for(model_id, tiny_folders[kind])
    loaded, encoded = [], []
    load_text_encoder, encode_prompt = laptop.load_text_encoder, laptop.encode_prompt
    monkeypatch.setattr(laptop, "load_text_encoder",
                        lambda *args: loaded.append(weakref.ref(module := load_text_encoder(*args))) or module)
    monkeypatch.setattr(laptop, "encode_prompt", lambda *args: encoded.append(out := encode_prompt(*args)) or out)
    denoising_with = []
    engine.load()
    assert engine.pipe.text_encoder is None  # never loaded beside the denoiser
    forward = engine.pipe.transformer.forward
    engine.pipe.transformer.forward = lambda *a, **k: denoising_with.append(
        [r() for r in loaded]) or forward(*a, **k)
    video = run(engine, tiny_plan(9, fps=fps), seed=3)
    gc.collect()
    assert len(loaded) == 1 and loaded[0]() is None  # released: nothing holds the text encoder
    assert denoising_with and all(alive == [None] for alive in denoising_with)
    assert encoded[0]["prompt"] is None and encoded[0]["prompt_embeds"] is not None

    # Plain diffusers, the same folder, seed and prompt embeddings.
    plain = diffusers.DiffusionPipeline.from_pretrained(tiny_folders[kind], dtype=torch.float32)
    plain.set_progress_bar_config(disable=True)
    arguments = {k: v for k, v in encoded[0].items() if k not in ("generator", "callback_on_step_end")}
    expected = plain(**arguments, generator=torch.Generator("cpu").manual_seed(3)).frames[0]
    assert np.array_equal(video, (expected * 255).round().astype(np.uint8))


def test_the_laptop_default_size_and_length_are_used_unless_asked_otherwise(tiny_folders):
    engine = engine_for("wan2.1-t2v-1.3b", tiny_folders["wan"])

    def planned(**asked):
        the_plan = plan(Request.build(prompt="a red fox", model=engine.id, **asked), engine.capabilities, engine.id)
        return the_plan.width, the_plan.height, the_plan.frames

    assert planned() == (544, 320, 33)  # 2 s at 16 fps: the nearest 4N+1
    assert planned(size="832x480", seconds=5) == (832, 480, 81)
    assert planned(resolution="480p") == (832, 480, 33)
    assert planned(size="320x544")[:2] == (320, 544)
    ltx = engine_for("ltx-video", tiny_folders["ltx"])
    the_plan = plan(Request.build(prompt="a red fox", model=ltx.id), ltx.capabilities, ltx.id)
    assert (the_plan.width, the_plan.height, the_plan.frames) == (512, 320, 49)


def test_with_laptop_mode_off_the_native_defaults_stay(tiny_folders, monkeypatch):
    monkeypatch.setenv("UNGATED_LAPTOP_MODE", "off")
    engine = engine_for("wan2.1-t2v-1.3b", tiny_folders["wan"])
    assert engine.laptop is None and engine.dtype == torch.float32
    assert engine.capabilities == OPEN_MODELS["wan2.1-t2v-1.3b"].capabilities


@pytest.mark.parametrize("model_id, kind", [("mochi-1", "mochi"), ("ltx-video-13b", "ltx"),
                                            ("hunyuanvideo", "hunyuan")])
def test_a_model_that_cannot_fit_a_16_gb_laptop_is_refused_before_loading(model_id, kind, tiny_folders, monkeypatch):
    from ungated.engines.open import hub

    monkeypatch.setattr(hub, "load_pipeline", lambda *args, **kwargs: pytest.fail("loaded weights"))
    engine = engine_for(model_id, tiny_folders[kind])
    with pytest.raises(InvalidRequest) as refused:
        engine.load()
    assert refused.value.field == "model"
    assert f"{model_id} needs about" in refused.value.message and "more than a 16 GB laptop" in refused.value.message


def test_the_models_given_a_laptop_size_fit_in_bfloat16_and_all_but_ltx_video_in_float32():
    from ungated.engines.open.models import LAPTOP_SIZES

    for model_id in LAPTOP_SIZES:
        assert laptop.peak_gb(OPEN_MODELS[model_id], "bfloat16") <= laptop.BUDGET_GB, model_id
        # LTX-Video's transformer and VAE (3.2B) in float32 are 12.7 GB before any activation.
        fits = laptop.peak_gb(OPEN_MODELS[model_id], "float32") <= laptop.BUDGET_GB
        assert fits == (model_id != "ltx-video"), model_id


@pytest.mark.parametrize("mac, dtype", [("14.5", torch.bfloat16), ("13.6.1", torch.float16)])
def test_apple_gpus_run_bfloat16_from_macos_14_and_float16_before(mac, dtype, monkeypatch):
    import platform

    from ungated.engines.open import memory
    from ungated.engines.open.engine import OpenModelEngine

    monkeypatch.setattr(platform, "mac_ver", lambda: (mac, ("", "", ""), "arm64"))
    apple = memory.Hardware("mps", "Apple GPU", 24.0)
    engine = OpenModelEngine(OPEN_MODELS["wan2.1-t2v-1.3b"], hardware=apple)
    assert engine.laptop is None and engine.dtype == dtype
    assert any("precision: float16" in note for note in engine.setup_notes()) == (dtype == torch.float16)
    assert OpenModelEngine(OPEN_MODELS["cogvideox-2b"], hardware=apple).dtype == torch.float16  # published so
