"""Family quirks that once made ungated differ from what a model's authors get: the frames a
pipeline drops after decoding, guidance that never reached part of a model, a task the model's
frame rule cannot do, and windowed decodes that miscounted frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ungated.engines.open import decode
from ungated.engines.open.engine import OpenModelEngine
from ungated.engines.open.models import OPEN_MODELS
from ungated.engines.pyramid_flow import engine as pyramid_flow
from ungated.errors import InvalidRequest
from ungated.request import Request
from ungated.request import plan as plan_for

from .test_open_models import engine_for, run, tiny_plan


def hunyuan_latent_concat_pipeline():
    """HunyuanVideo image-to-video with a latent-concat transformer (2 x 4 latent channels + a mask),
    built from the tiny HunyuanVideo components. Its LLaVA prompt encoder is stood in for by fixed
    embeddings: what is compared here is what happens after sampling."""
    from diffusers import HunyuanVideoImageToVideoPipeline, HunyuanVideoTransformer3DModel

    from .tiny_pipelines import hunyuan

    torch.manual_seed(0)
    base = hunyuan()
    transformer = HunyuanVideoTransformer3DModel(
        in_channels=9, out_channels=4, num_attention_heads=2, attention_head_dim=10, num_layers=1,
        num_single_layers=1, num_refiner_layers=1, patch_size=1, patch_size_t=1, guidance_embeds=True,
        text_embed_dim=16, pooled_projection_dim=8, rope_axes_dim=(2, 4, 4), image_condition_type="latent_concat",
    )
    pipe = HunyuanVideoImageToVideoPipeline(text_encoder=None, tokenizer=None, transformer=transformer, vae=base.vae,
                                            scheduler=base.scheduler, text_encoder_2=None, tokenizer_2=None,
                                            image_processor=None)
    embeds = torch.randn(1, 6, 16), torch.randn(1, 8), torch.ones(1, 6)
    pipe.encode_prompt = lambda *args, **kwargs: embeds
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_hunyuan_latent_concat_image_to_video_equals_diffusers_and_keeps_the_planned_frames(tmp_path):
    image = tmp_path / "start.png"
    Image.new("RGB", (32, 32), (220, 20, 20)).save(image)
    engine = OpenModelEngine(OPEN_MODELS["hunyuanvideo-i2v"])
    engine.pipe = pipe = hunyuan_latent_concat_pipeline()
    plan = tiny_plan(9, image=image)
    ours = run(engine, plan, seed=3)
    arguments = engine.call_arguments(plan, 3, "i2v", pipe)
    assert arguments["num_frames"] == 13  # the pipeline drops the first 4 frames it decodes
    theirs = pipe(**arguments).frames[0]
    assert ours.shape == (9, 32, 32, 3)
    assert np.array_equal(ours, (np.clip(theirs, 0, 1) * 255).round().astype(np.uint8))


def test_hunyuan_passes_a_negative_prompt_through_true_guidance(tiny_folders):
    engine = engine_for("hunyuanvideo", tiny_folders["hunyuan"])
    engine.load()
    plain = engine.call_arguments(tiny_plan(9), 0, "t2v", engine.pipe)
    assert "true_cfg_scale" not in plain and plain["guidance_scale"] == 4.0
    negative = engine.call_arguments(tiny_plan(9, negative_prompt="blurry"), 0, "t2v", engine.pipe)
    assert (negative["negative_prompt"], negative["true_cfg_scale"], negative["guidance_scale"]) == ("blurry", 4.0, 1.0)
    # and it acts: the clip differs from one without it
    assert not np.array_equal(run(engine, tiny_plan(9)), run(engine, tiny_plan(9, negative_prompt="blurry")))


@pytest.mark.parametrize("guidance,expected", [(None, (4.0, 3.0)), (6.0, (6.0, 6.0))])
def test_wan22_a14b_guidance_reaches_both_experts(guidance, expected):
    model = OPEN_MODELS["wan2.2-t2v-a14b"]
    plan = plan_for(Request.build(prompt="a fox", model=model.id, guidance=guidance), model.capabilities, model.id)
    arguments = OpenModelEngine(model).call_arguments(plan, 0, "t2v", pipe=None)
    assert (arguments["guidance_scale"], arguments["guidance_scale_2"]) == expected


def test_cogvideox15_refuses_video_to_video_in_plain_words(tmp_path):
    model = OPEN_MODELS["cogvideox1.5-5b"]
    assert "v2v" not in model.tasks and not model.capabilities.video_input
    source = tmp_path / "source.mp4"
    source.write_bytes(b"")
    with pytest.raises(InvalidRequest) as refused:
        plan_for(Request.build(prompt="a fox", model=model.id, video=source), model.capabilities, model.id)
    assert refused.value.field == "video" and "does not take an input video" in str(refused.value)


def test_a_windowed_cogvideox_decode_makes_the_planned_frames():
    from .tiny_pipelines import cogvideox

    torch.manual_seed(0)
    vae = cogvideox().vae
    latents = torch.randn(1, 4, 13, 2, 2)  # 49 frames
    one_frame_bytes = 16 * 16 * 3 * latents.element_size()
    calls = []
    original = vae.decode
    vae.decode = lambda latents, *args, **kwargs: calls.append(latents.shape[2]) or original(latents, *args, **kwargs)
    with torch.no_grad():
        # a budget of 4 latent frames' worth, which the VAE would decode to 16 frames, not 13
        clip = list(decode.stream(vae, decode.DecodeCall(latents, (), {}), 49, 16 * 16, lambda: False,
                                  budget=4 * 4 * one_frame_bytes))
    assert len(clip) == 49
    assert len(calls) > 1 and all(count % 2 for count in calls)


def test_a_vae_with_its_own_temporal_tiling_decodes_in_one_call_with_it_on(tiny_folders, monkeypatch):
    engine = engine_for("ltx-video", tiny_folders["ltx"])
    engine.load()
    vae = engine.pipe.vae
    seen = []
    original = vae.decode
    vae.decode = lambda latents, *args, **kwargs: seen.append(vae.use_framewise_decoding) or original(
        latents, *args, **kwargs)
    monkeypatch.setattr(decode, "BUDGET_BYTES", 1)
    clip = run(engine, tiny_plan(25, fps=24))
    assert clip.shape == (25, 32, 32, 3)
    assert seen == [True] and vae.use_framewise_decoding is False


@pytest.mark.parametrize("size,image,expected", [((640, 384), False, 5.0), ((1280, 768), False, 5.0),
                                                  ((640, 384), True, 4.0), ((1280, 768), True, 4.0)])
def test_pyramid_flow_guides_later_frames_as_its_authors_publish(size, image, expected):
    published_first = 9.0 if size == (1280, 768) and not image else 7.0
    assert pyramid_flow.video_guidance(published_first, *size, image) == pytest.approx(expected)
    assert pyramid_flow.video_guidance(published_first * 2, *size, image) == pytest.approx(2 * expected)
