"""Every open-model family end to end on the CPU, with tiny random components saved in the real
diffusers layout and loaded through the same path a downloaded model takes (`--model-path`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ungated.engines.base import EngineOptions
from ungated.engines.open.engine import OpenModelEngine
from ungated.engines.open.models import OPEN_MODELS
from ungated.errors import GenerationCancelled
from ungated.media.encode import Mp4Writer
from ungated.request import Plan, Request


# (tiny pipeline, a catalog model of that family and task, frames its rule allows)
FAMILIES = {
    "cogvideox": ("cogvideox-2b", 9),
    "mochi": ("mochi-1", 7),
    "ltx": ("ltx-video", 9),
    "wan": ("wan2.1-t2v-1.3b", 9),
    "hunyuan": ("hunyuanvideo", 9),
}


def engine_for(model_id: str, folder: Path, **options) -> OpenModelEngine:
    return OpenModelEngine(OPEN_MODELS[model_id], folder, EngineOptions(**options))


def tiny_plan(frames: int, fps: int = 8, steps: int = 2, size: int = 32, seed: int = 0, **request) -> Plan:
    return Plan(request=Request.build(prompt="a red fox running on the beach", **request), width=size, height=size,
                out_width=size, out_height=size, frames=frames, fps=fps, steps=steps, guidance=4.0, seeds=(seed,),
                adjustments=())


def run(engine: OpenModelEngine, plan: Plan, seed: int = 0, cancel=lambda: False, progress=None) -> np.ndarray:
    frames = engine.generate(plan, seed, progress or (lambda step, total: None), cancel)
    return np.stack(list(frames))


@pytest.mark.parametrize("kind", list(FAMILIES))
def test_each_family_makes_the_planned_frames_deterministically(kind, tiny_folders):
    model_id, frames = FAMILIES[kind]
    engine = engine_for(model_id, tiny_folders[kind])
    steps, previews = [], []
    plan = tiny_plan(frames)

    def progress(step: int, total: int) -> None:
        steps.append((step, total))
        previews.append(engine.preview())

    first = run(engine, plan, seed=5, progress=progress)
    assert first.shape == (frames, 32, 32, 3) and first.dtype == np.uint8
    assert steps == [(1, 2), (2, 2)]
    assert all(p is not None and p.dtype == np.uint8 and p.shape[2] == 3 and p.std() > 0 for p in previews)
    assert engine.preview() is None  # only while sampling
    assert np.array_equal(first, run(engine, plan, seed=5))
    assert not np.array_equal(first, run(engine, plan, seed=6))


def assert_cancel_stops_before_the_vae_decode(engine: OpenModelEngine, fps: int = 8) -> None:
    engine.load()
    decodes = []
    original = engine.pipe.vae.decode
    engine.pipe.vae.decode = lambda *args, **kwargs: decodes.append(1) or original(*args, **kwargs)
    seen = []
    with pytest.raises(GenerationCancelled):
        run(engine, tiny_plan(9, fps=fps, steps=4), cancel=lambda: len(seen) >= 1,
            progress=lambda step, total: seen.append(step))
    assert seen == [1] and decodes == []
    run(engine, tiny_plan(9, fps=fps, steps=1))
    assert decodes  # the spy works: an uncancelled run does decode


def test_cancel_stops_before_the_vae_decode(tiny_folders):
    assert_cancel_stops_before_the_vae_decode(engine_for("wan2.1-t2v-1.3b", tiny_folders["wan"]))


def test_image_to_video_starts_from_the_image(tiny_folders, tmp_path):
    image = tmp_path / "start.png"
    Image.new("RGB", (64, 48), (220, 20, 20)).save(image)
    # Separate image-to-video weights (Wan, CogVideoX), and LTX-Video's t2v weights reused for i2v.
    for kind, model_id in (("wan-i2v", "wan2.1-i2v-14b-480p"), ("cogvideox-i2v", "cogvideox-5b-i2v"),
                           ("ltx", "ltx-video")):
        engine = engine_for(model_id, tiny_folders[kind])
        video = run(engine, tiny_plan(9, image=image))
        assert video.shape == (9, 32, 32, 3)


def test_video_to_video_reuses_the_loaded_text_to_video_weights(tiny_folders, tmp_path):
    source = tmp_path / "source.mp4"
    with Mp4Writer(source, 32, 32, 8, {}) as writer:
        for i in range(12):
            writer.write(np.full((32, 32, 3), i * 20, np.uint8))
    for kind in ("wan", "cogvideox"):
        model_id, frames = FAMILIES[kind]
        engine = engine_for(model_id, tiny_folders[kind])
        text_to_video = run(engine, tiny_plan(frames))
        restyled = run(engine, tiny_plan(frames, steps=4, video=source))
        assert restyled.shape == text_to_video.shape
        assert type(engine.pipe).__name__.endswith("VideoToVideoPipeline")


def test_first_block_cache_is_applied_and_still_makes_the_clip(tiny_folders):
    engine = engine_for("wan2.1-t2v-1.3b", tiny_folders["wan"], cache="first-block")
    video = run(engine, tiny_plan(9, steps=3))
    assert engine.pipe.transformer.is_cache_enabled
    assert video.shape == (9, 32, 32, 3)


def test_the_cli_generates_with_a_local_folder_at_the_native_size(tiny_folders, tmp_path):
    import av

    from .test_cli import ungated

    result = ungated("generate", "a red fox running on the beach", "--model", "wan2.1-t2v-1.3b", "--model-path",
                     str(tiny_folders["wan"]), "--seconds", "0.5", "--steps", "2", "--seed", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "note: memory: no offload (no GPU found" in result.stderr
    assert result.stdout.strip().endswith("wrote clip.mp4 (832x480, 0.5625 s at 16 fps, seed 3) with thumbnail and "
                                          "spritesheet beside each")
    with av.open(str(tmp_path / "clip.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height, stream.average_rate) == (832, 480, 16)
        assert sum(1 for _ in container.decode(video=0)) == 9


def test_clips_longer_than_one_pass_are_extended_segment_by_segment(tiny_folders):
    from dataclasses import replace

    # LTX-Video made to do at most 17 frames per pass: 33 frames take three passes, each later one
    # conditioned on the previous pass's last 9 frames and adding 8 new ones.
    short_ltx = replace(OPEN_MODELS["ltx-video"], frames=(9, 8, 17))
    assert short_ltx.capabilities.frames_max > 17
    engine = OpenModelEngine(short_ltx, tiny_folders["ltx"])
    progress = []
    video = run(engine, tiny_plan(33, fps=24), progress=lambda step, total: progress.append((step, total)))
    assert video.shape == (33, 32, 32, 3)
    assert progress == [(step, 6) for step in range(1, 7)]
    assert type(engine.pipe).__name__ == "LTXConditionPipeline"


def test_switching_task_keeps_the_component_hooks_applied_once(tiny_folders, tmp_path):
    from ungated.engines.open import memory

    engine = engine_for("wan2.1-t2v-1.3b", tiny_folders["wan"])
    # fp8 weights are refused on a CPU-only machine by choice; set directly, the casting hook
    # runs on the CPU too, which is enough to see it survive a switch of pipeline.
    engine.memory = memory.MemoryPlan("none", False, True, "test")
    run(engine, tiny_plan(9))
    source = tmp_path / "source.mp4"
    with Mp4Writer(source, 32, 32, 8, {}) as writer:
        for i in range(12):
            writer.write(np.full((32, 32, 3), i * 20, np.uint8))
    restyled = run(engine, tiny_plan(9, video=source))
    assert restyled.shape == (9, 32, 32, 3)
    stored = {parameter.dtype for parameter in engine.pipe.transformer.parameters()}
    assert torch.float8_e4m3fn in stored


def test_extend_continues_a_finished_clip(tiny_folders, tmp_path):
    from dataclasses import replace

    from ungated.media.inputs import read_video

    source = tmp_path / "source.mp4"
    with Mp4Writer(source, 32, 32, 24, {}) as writer:
        for i in range(12):
            writer.write(np.full((32, 32, 3), i * 20, np.uint8))
    engine = engine_for("ltx-video", tiny_folders["ltx"])
    plan = replace(tiny_plan(17, fps=24, extend=source), kept_frames=12)
    video = run(engine, plan)
    assert video.shape == (12 + 17, 32, 32, 3)
    kept = np.stack([np.asarray(image) for image in read_video(source, 32, 32, 24, 12)])
    assert np.array_equal(video[:12], kept)  # the clip itself, then what follows it
    assert type(engine.pipe).__name__ == "LTXConditionPipeline"


INDEXES = {  # what model_index.json names for two families, as published
    "ltx-video": {"_class_name": "LTXPipeline", "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
                  "text_encoder": ["transformers", "T5EncoderModel"],
                  "tokenizer": ["transformers", "T5TokenizerFast"],
                  "transformer": ["diffusers", "LTXVideoTransformer3DModel"],
                  "vae": ["diffusers", "AutoencoderKLLTXVideo"]},
    "wan2.1-t2v-1.3b": {"_class_name": "WanPipeline", "scheduler": ["diffusers", "UniPCMultistepScheduler"],
                        "text_encoder": ["transformers", "UMT5EncoderModel"],
                        "tokenizer": ["transformers", "T5TokenizerFast"],
                        "transformer": ["diffusers", "WanTransformer3DModel"], "vae": ["diffusers", "AutoencoderKLWan"],
                        "transformer_2": [None, None]},
}


@pytest.mark.parametrize("model_id", list(INDEXES))
def test_a_folder_with_only_model_index_json_names_what_it_lacks_in_one_line(model_id, tmp_path):
    import json

    from .test_cli import one_error_line, ungated

    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps(INDEXES[model_id]))
    line = one_error_line(ungated("generate", "a fox", "--model", model_id, "--model-path", "weights", cwd=tmp_path))
    assert line == ("error: --model-path: weights is an incomplete diffusers-format folder: it lacks scheduler/, "
                    "text_encoder/, tokenizer/, transformer/, vae/ (its model_index.json names them); copy the whole "
                    f"folder, or run `ungated models pull {model_id}`")
    assert [p.name for p in tmp_path.iterdir()] == ["weights"]


def test_a_model_folder_missing_weights_or_a_shard_is_not_complete(tmp_path):
    import json

    from ungated.engines.open import hub

    model = OPEN_MODELS["ltx-video"]
    (tmp_path / "model_index.json").write_text(json.dumps(INDEXES["ltx-video"]))
    for name in ("scheduler", "tokenizer", "text_encoder", "transformer", "vae"):
        (tmp_path / name).mkdir()
    (tmp_path / "scheduler" / "scheduler_config.json").write_text("{}")
    (tmp_path / "tokenizer" / "tokenizer_config.json").write_text("{}")
    for name in ("text_encoder", "transformer", "vae"):
        (tmp_path / name / "config.json").write_text("{}")
    (tmp_path / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    shards = {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}
    (tmp_path / "text_encoder" / "model.safetensors.index.json").write_text(json.dumps({"weight_map": shards}))
    (tmp_path / "text_encoder" / shards["a"]).write_bytes(b"")
    assert hub.missing_files(model, tmp_path) == ["text_encoder/model-00002-of-00002.safetensors",
                                                  "transformer/*.safetensors"]
    (tmp_path / "text_encoder" / shards["b"]).write_bytes(b"")
    (tmp_path / "transformer" / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    assert hub.missing_files(model, tmp_path) == [] and hub.find_weights(model, tmp_path) == tmp_path


@pytest.mark.parametrize("kind", list(FAMILIES))
def test_frames_equal_plain_diffusers_for_the_same_folder_seed_steps_and_size(kind, tiny_folders):
    """What a user with the real weights gets is what the model's authors get: no speed option, the
    model's own published call settings, and ungated's decode and streaming change no frame."""
    import diffusers

    model_id, frames = FAMILIES[kind]
    model = OPEN_MODELS[model_id]
    plan = tiny_plan(frames, steps=3)
    ours = run(engine_for(model_id, tiny_folders[kind]), plan, seed=11)

    plain = diffusers.DiffusionPipeline.from_pretrained(tiny_folders[kind], dtype=torch.float32)
    plain.set_progress_bar_config(disable=True)
    settings = {**model.family.call_arguments, **model.call_arguments}
    if model.family.text_length_key:
        settings["max_sequence_length"] = plain.transformer.config[model.family.text_length_key]
    if model.family.fps_argument:
        settings[model.family.fps_argument] = plan.fps
    expected = plain(prompt=plan.request.prompt, height=plan.height, width=plan.width, num_frames=frames,
                     num_inference_steps=plan.steps, guidance_scale=plan.guidance, output_type="np",
                     generator=torch.Generator("cpu").manual_seed(11), **settings).frames[0]
    assert ours.shape == (frames, 32, 32, 3)
    assert np.array_equal(ours, (np.clip(expected, 0, 1) * 255).round().astype(np.uint8))
