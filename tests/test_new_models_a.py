"""New catalog rows (issue 30): Wan VACE, SkyReels V2 diffusion forcing (long clips in passes) and
Wan 2.1 1.3B with CausVid's step-distillation LoRA fused at load. Each is built tiny in code, saved
in the real layout, loaded through ungated's path, and checked frame for frame against the plain
diffusers pipeline on the same folder, seed, steps and size."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from ungated.engines.open import forcing, hub
from ungated.engines.open.engine import OpenModelEngine
from ungated.engines.open.models import OPEN_MODELS
from ungated.errors import ModelUnavailable

from .test_open_models import assert_cancel_stops_before_the_vae_decode, engine_for, run, tiny_plan

# SkyReels V2 made to do 9 frames per pass, each later pass continuing from the last 5 frames of the
# one before: 21 frames take four passes (3 latent frames each, 2 of them shared with the pass before).
SHORT_PASSES = {"base_num_frames": 9, "overlap_history": 5, "addnoise_condition": 20}


def skyreels_short_passes():
    model = OPEN_MODELS["skyreels-v2-df-1.3b-540p"]
    return replace(model, call_arguments={"base_num_frames": 9},
                   family=replace(model.family, call_arguments={"overlap_history": 5, "addnoise_condition": 20}))


def plain_diffusers(folder: Path, plan, seed: int, lora: Path | None = None, global_seed: int | None = None,
                    **extra) -> np.ndarray:
    """What a diffusers user gets: the folder's own pipeline, float32, the same prompt, size, steps,
    guidance and seed, and nothing else."""
    import diffusers

    pipe = diffusers.DiffusionPipeline.from_pretrained(folder, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    if lora is not None:
        pipe.load_lora_weights(str(lora))
    if global_seed is not None:
        torch.manual_seed(global_seed)
    out = pipe(prompt=plan.request.prompt, height=plan.height, width=plan.width, num_frames=plan.frames,
               num_inference_steps=plan.steps, guidance_scale=plan.guidance,
               generator=torch.Generator("cpu").manual_seed(seed), output_type="np", **extra).frames[0]
    return (out * 255).round().astype(np.uint8)


def test_wan_vace_frames_equal_plain_diffusers(tiny_folders):
    engine = engine_for("wan2.1-vace-1.3b", tiny_folders["wan-vace"])
    steps = []
    ours = run(engine, tiny_plan(9, fps=16), seed=3, progress=lambda step, total: steps.append((step, total)))
    assert type(engine.pipe).__name__ == "WanVACEPipeline"
    assert ours.shape == (9, 32, 32, 3) and steps == [(1, 2), (2, 2)]
    assert np.array_equal(ours, plain_diffusers(tiny_folders["wan-vace"], tiny_plan(9, fps=16), 3))


def test_skyreels_makes_a_clip_longer_than_one_pass_equal_to_plain_diffusers(tiny_folders):
    engine = OpenModelEngine(skyreels_short_passes(), tiny_folders["skyreels-v2-df"])
    plan = tiny_plan(21, fps=24)
    steps = []
    ours = run(engine, plan, seed=3, progress=lambda step, total: steps.append((step, total)))
    assert ours.shape == (21, 32, 32, 3)
    # Four passes of two steps, counted as one run of eight, so the bar and its ETA cover the clip.
    assert steps == [(step, 8) for step in range(1, 9)]
    # The pipeline draws the re-noising of the frames a pass continues from on torch's global
    # generator: plain diffusers gives the same clip twice only with that generator seeded too.
    expected = plain_diffusers(tiny_folders["skyreels-v2-df"], plan, 3, global_seed=3, fps=24, **SHORT_PASSES)
    assert np.array_equal(ours, expected)


def test_skyreels_gives_the_same_clip_for_a_seed_whatever_the_global_generator(tiny_folders):
    folder, plan = tiny_folders["skyreels-v2-df"], tiny_plan(21, fps=24)
    engine = OpenModelEngine(skyreels_short_passes(), folder)
    torch.manual_seed(123)
    first = run(engine, plan, seed=3)
    torch.manual_seed(456)
    assert np.array_equal(first, run(engine, plan, seed=3))
    assert not np.array_equal(first, run(engine, plan, seed=4))
    # Without ungated's seeding, the pipeline's own output depends on the global generator.
    assert not np.array_equal(plain_diffusers(folder, plan, 3, global_seed=1, fps=24, **SHORT_PASSES),
                              plain_diffusers(folder, plan, 3, global_seed=2, fps=24, **SHORT_PASSES))


@pytest.mark.parametrize("frames, base, overlap, expected", [
    (21, 9, 5, 4), (9, 9, 5, 1), (97, 97, 17, 1), (98, 97, 17, 1), (101, 97, 17, 2), (257, 97, 17, 3),
    (477, 97, 17, 6),
])
def test_the_pass_count_is_the_pipelines_own(frames, base, overlap, expected):
    arguments = {"num_frames": frames, "base_num_frames": base, "overlap_history": overlap}
    assert forcing.passes(arguments, 4) == expected


def test_skyreels_offers_clips_beyond_one_pass_up_to_the_longest_ungated_makes():
    from ungated.request import MAX_SECONDS, Request, plan

    model = OPEN_MODELS["skyreels-v2-df-1.3b-540p"]
    assert model.family.call_arguments == {"overlap_history": 17, "addnoise_condition": 20}
    assert model.call_arguments["base_num_frames"] == model.default_frames == 97
    caps = model.capabilities
    assert caps.frames_max > 97 and caps.frames_max / model.fps > MAX_SECONDS - 0.5
    long = plan(Request.build(prompt="a red fox", model=model.id, seconds=12), caps, model.id)
    assert long.frames == 289 and (long.width, long.height) == (960, 544)
    assert model.licence.restrictions  # not verified: listed with a warning, never a default


@pytest.mark.parametrize("kind, model_id", [("wan-vace", "wan2.1-vace-1.3b"),
                                            ("skyreels-v2-df", "skyreels-v2-df-1.3b-540p")])
def test_cancel_stops_before_the_vae_decode(kind, model_id, tiny_folders):
    assert_cancel_stops_before_the_vae_decode(engine_for(model_id, tiny_folders[kind]))


# --- Wan 2.1 1.3B + CausVid LoRA ---

def kijai_lora(folder: Path, path: Path, rank: int = 4) -> Path:
    """A random LoRA for the tiny Wan transformer in the layout of Kijai's CausVid extraction
    (original Wan names under diffusion_model., lora_down/lora_up, bias deltas as diff_b, norm
    deltas as diff), which diffusers converts on load as it does the published file."""
    import json

    from safetensors.torch import save_file

    config = json.loads((folder / "transformer" / "config.json").read_text())
    dim, ffn, layers = config["num_attention_heads"] * config["attention_head_dim"], config["ffn_dim"], \
        config["num_layers"]
    generator = torch.Generator().manual_seed(11)

    def pair(name: str, fan_in: int, fan_out: int) -> dict:
        return {f"diffusion_model.{name}.lora_down.weight": torch.randn(rank, fan_in, generator=generator) * 0.3,
                f"diffusion_model.{name}.lora_up.weight": torch.randn(fan_out, rank, generator=generator) * 0.3,
                f"diffusion_model.{name}.diff_b": torch.randn(fan_out, generator=generator) * 0.05}

    tensors = {}
    for block in range(layers):
        for attention in ("self_attn", "cross_attn"):
            for projection in ("q", "k", "v", "o"):
                tensors |= pair(f"blocks.{block}.{attention}.{projection}", dim, dim)
            tensors[f"diffusion_model.blocks.{block}.{attention}.norm_q.diff"] = torch.zeros(dim)
        tensors |= pair(f"blocks.{block}.ffn.0", dim, ffn) | pair(f"blocks.{block}.ffn.2", ffn, dim)
    tensors |= pair("time_projection.1", dim, 6 * dim)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path


def pulled(cache: Path, repo: str, filename: str) -> Path:
    """Where `models pull` leaves one file in the Hugging Face cache."""
    commit = "0" * 40
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(commit)
    return root / "snapshots" / commit / filename


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    import huggingface_hub.constants

    cache = tmp_path / "hf"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_the_causvid_row_is_a_four_step_model_without_guidance():
    from ungated.engines.open import laptop
    from ungated.engines.open.models import LAPTOP_SIZES

    model, base = OPEN_MODELS["wan2.1-t2v-1.3b-causvid"], OPEN_MODELS["wan2.1-t2v-1.3b"]
    assert (model.steps, model.guidance, model.repo) == (4, 1.0, base.repo)
    assert (model.lora.repo, model.lora.filename) == ("Kijai/WanVideo_comfy",
                                                      "Wan21_CausVid_bidirect2_T2V_1_3B_lora_rank32.safetensors")
    assert "non-commercial" in model.licence.restrictions
    assert LAPTOP_SIZES[model.id] == LAPTOP_SIZES[base.id] and model.laptop == (544, 320)
    assert laptop.peak_gb(model, "float32") <= laptop.BUDGET_GB


def test_without_the_lora_the_row_says_in_one_line_what_to_run(tiny_folders, hf_cache, monkeypatch):
    monkeypatch.setattr(hub, "load_pipeline", lambda *args, **kwargs: pytest.fail("loaded weights"))
    with pytest.raises(ModelUnavailable) as missing:
        engine_for("wan2.1-t2v-1.3b-causvid", tiny_folders["wan"]).load()
    message = str(missing.value)
    assert "\n" not in message and message.endswith("run `ungated models pull wan2.1-t2v-1.3b-causvid`")
    assert "Wan21_CausVid_bidirect2_T2V_1_3B_lora_rank32.safetensors" in message


def test_the_lora_is_fused_at_load_and_equals_diffusers_adapter(tiny_folders, hf_cache):
    model = OPEN_MODELS["wan2.1-t2v-1.3b-causvid"]
    folder = tiny_folders["wan"]
    lora = kijai_lora(folder, pulled(hf_cache, model.lora.repo, model.lora.filename))
    assert hub.require_lora(model) == lora
    plan = replace(tiny_plan(9, fps=16, steps=2), guidance=model.guidance)
    engine = engine_for(model.id, folder)
    ours = run(engine, plan, seed=4)
    assert not getattr(engine.pipe.transformer, "peft_config", None)  # fused: no adapter left to switch off
    # Fused weights against diffusers' unfused adapter: equal up to float rounding.
    expected = plain_diffusers(folder, plan, 4, lora=lora)
    assert np.abs(ours.astype(int) - expected).max() <= 1
    assert not np.array_equal(ours, run(engine_for("wan2.1-t2v-1.3b", folder), plan, seed=4))  # the LoRA acts


def test_pull_fetches_the_rows_lora_too(tmp_path, monkeypatch):
    import huggingface_hub

    from .test_open_catalog import FakeFile

    monkeypatch.setenv("UNGATED_HOME", str(tmp_path / "home"))
    index = tmp_path / "model_index.json"
    index.write_text('{"_class_name": "WanPipeline", "transformer": ["diffusers", "X"]}')
    fetched = []

    class FakeApi:
        def model_info(self, repo, revision, files_metadata):
            return type("Info", (), {"sha": "a" * 40, "siblings": [FakeFile("transformer/x.safetensors", 10)]})()

    def fake_download(repo, name, revision):
        fetched.append((repo, name, revision))
        return str(index)

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo, revision, allow_patterns: str(tmp_path))
    model = OPEN_MODELS["wan2.1-t2v-1.3b-causvid"]
    hub.pull(model, lambda gb, count: None)
    assert (model.lora.repo, model.lora.filename, "main") in fetched
    fetched.clear()
    hub.pull(OPEN_MODELS["wan2.1-t2v-1.3b"], lambda gb, count: None)
    assert [name for _repo, name, _revision in fetched] == ["model_index.json"]


def test_in_laptop_mode_the_causvid_row_loads_its_lora_without_the_text_encoder(tiny_folders, hf_cache, monkeypatch):
    from ungated.engines.open import laptop

    monkeypatch.setenv("UNGATED_LAPTOP_MODE", "on")
    monkeypatch.setattr(laptop, "fast_bfloat16", lambda: False)  # float32: the same numbers as above
    monkeypatch.setattr(laptop, "check_fits", lambda model, plan: None)  # the float32 fit is tested elsewhere
    threads = torch.get_num_threads()
    model = OPEN_MODELS["wan2.1-t2v-1.3b-causvid"]
    folder = tiny_folders["wan"]
    kijai_lora(folder, pulled(hf_cache, model.lora.repo, model.lora.filename))
    plan = replace(tiny_plan(9, fps=16, steps=2), guidance=model.guidance)
    try:
        engine = engine_for(model.id, folder)
        assert engine.laptop is not None and engine.capabilities.default_size == (544, 320)
        video = run(engine, plan, seed=4)
        assert engine.pipe.text_encoder is None
    finally:
        torch.set_num_threads(threads)
    monkeypatch.setenv("UNGATED_LAPTOP_MODE", "off")
    assert np.abs(video.astype(int) - run(engine_for(model.id, folder), plan, seed=4)).max() <= 1


@pytest.mark.parametrize("kind, model, frames", [("wan-vace", lambda: OPEN_MODELS["wan2.1-vace-1.3b"], 9),
                                                 ("skyreels-v2-df", skyreels_short_passes, 21)])
def test_in_laptop_mode_the_text_encoder_is_freed_and_frames_equal_diffusers(kind, model, frames, tiny_folders,
                                                                             monkeypatch):
    import diffusers

    from ungated.engines.open import laptop

    monkeypatch.setenv("UNGATED_LAPTOP_MODE", "on")
    monkeypatch.setattr(laptop, "fast_bfloat16", lambda: False)  # float32 denoiser: exact comparison
    monkeypatch.setattr(laptop, "check_fits", lambda model, plan: None)  # the float32 fit is tested elsewhere
    encoded, encode_prompt = [], laptop.encode_prompt
    monkeypatch.setattr(laptop, "encode_prompt", lambda *args: encoded.append(out := encode_prompt(*args)) or out)
    threads = torch.get_num_threads()
    try:
        engine = OpenModelEngine(model(), tiny_folders[kind])
        video = run(engine, tiny_plan(frames, fps=24), seed=3)
        assert engine.pipe.text_encoder is None and encoded[0]["prompt"] is None  # never beside the denoiser
    finally:
        torch.set_num_threads(threads)
    # Plain diffusers, the same folder, seed and prompt embeddings.
    plain = diffusers.DiffusionPipeline.from_pretrained(tiny_folders[kind], dtype=torch.float32)
    plain.set_progress_bar_config(disable=True)
    arguments = {k: v for k, v in encoded[0].items() if k not in ("generator", "callback_on_step_end")}
    torch.manual_seed(3)
    expected = plain(**arguments, generator=torch.Generator("cpu").manual_seed(3)).frames[0]
    assert np.array_equal(video, (expected * 255).round().astype(np.uint8))
