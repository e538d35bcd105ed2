"""The open-model catalog, memory-mode choice and weight lookup: pure logic, no model runs."""

from __future__ import annotations

import json
from pathlib import Path

import diffusers
import pytest

from ungated.engines.open import hub, memory
from ungated.engines.open.models import MODELS, OPEN_MODELS
from ungated.errors import InvalidRequest, ModelUnavailable


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.id)
def test_catalog_rows_are_consistent(model):
    caps = model.capabilities
    fewest, step, most = model.frames
    assert (model.default_frames - fewest) % step == 0 and fewest <= model.default_frames <= most
    assert caps.nearest_frames(model.default_frames) == model.default_frames
    for task in model.tasks:  # every task names a pipeline this diffusers has
        assert hasattr(diffusers, model.family.pipelines[task])
    for width, height in model.sizes:
        assert width % 16 == 0 and height % 16 == 0
    assert model.download_gb > 1 and model.licence.name


def cuda(free_gb: float) -> memory.Hardware:
    return memory.Hardware("cuda", "test GPU", free_gb)


def test_the_fastest_mode_that_fits_is_chosen_and_says_why():
    wan = OPEN_MODELS["wan2.1-t2v-1.3b"]
    assert memory.choose(wan, cuda(80)).mode == "none"
    assert not memory.choose(wan, cuda(80)).vae_tiling
    # Wan 1.3B: 18.5 GB in 16-bit, 17.0 with fp8 weights, 15.4 offloading whole models (the text
    # encoder is the largest), 5 in groups, 4.5 layer by layer; 90% of the free memory is used.
    for free, expected in {24: ("none", False), 20: ("none", True), 17.5: ("model", False), 16: ("group", False),
                           5: ("sequential", False)}.items():
        chosen = memory.choose(wan, cuda(free))
        assert (chosen.mode, chosen.fp8) == expected, free
        assert f"{free:.0f} GB free on test GPU" in chosen.reason
    tight = memory.choose(OPEN_MODELS["hunyuanvideo"], cuda(15))
    assert (tight.mode, tight.fp8, tight.vae_tiling) == ("sequential", True, True)
    assert "may not fit" in tight.reason


def test_flags_override_the_choice():
    wan = OPEN_MODELS["wan2.1-t2v-1.3b"]
    chosen = memory.choose(wan, cuda(80), mode="sequential", fp8=True, vae_tiling=False)
    assert (chosen.mode, chosen.fp8, chosen.vae_tiling) == ("sequential", True, False)
    assert "--offload" in chosen.describe()


def test_offload_is_refused_without_an_accelerator():
    wan = OPEN_MODELS["wan2.1-t2v-1.3b"]
    cpu = memory.Hardware("cpu", "CPU", 0.0)
    assert memory.choose(wan, cpu).mode == "none"
    with pytest.raises(InvalidRequest, match="needs a CUDA or Apple GPU"):
        memory.choose(wan, cpu, mode="model")
    with pytest.raises(InvalidRequest, match="--offload"):
        memory.choose(wan, cuda(8), mode="half")
    with pytest.raises(InvalidRequest, match="Apple"):
        memory.choose(wan, memory.Hardware("mps", "Apple GPU", 32), mode="group")
    with pytest.raises(InvalidRequest, match="--quantize: nf4 needs bitsandbytes|--quantize needs a CUDA"):
        memory.choose(wan, cpu, quantize="nf4")
    with pytest.raises(InvalidRequest, match="--quantize: must be one of nf4, int8"):
        memory.choose(wan, cuda(8), quantize="int3")
    assert memory.choose(wan, memory.Hardware("mps", "Apple GPU", 8)).mode in ("model", "sequential")


def test_missing_weights_say_what_to_run_and_how_big(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("UNGATED_HOME", str(tmp_path / "home"))
    ltx = OPEN_MODELS["ltx-video"]
    assert hub.find_weights(ltx, None) is None
    with pytest.raises(ModelUnavailable, match=r"about 16 GB\): run `ungated models pull ltx-video`"):
        hub.require_weights(ltx, None)
    with pytest.raises(InvalidRequest, match="no model_index.json"):
        hub.find_weights(ltx, tmp_path)


def test_config_file_points_a_model_at_a_folder(tmp_path, monkeypatch):
    folder = tmp_path / "ltx"
    folder.mkdir()
    (folder / "model_index.json").write_text("{}")
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(f'[models.ltx-video]\npath = "{folder}"\n')
    monkeypatch.setenv("UNGATED_HOME", str(home))
    assert hub.find_weights(OPEN_MODELS["ltx-video"], None) == folder


class FakeFile:
    def __init__(self, name: str, size: int):
        self.rfilename, self.size = name, size


def test_pull_shows_the_size_first_fetches_only_diffusers_folders_and_records_the_commit(tmp_path, monkeypatch):
    import huggingface_hub

    monkeypatch.setenv("UNGATED_HOME", str(tmp_path / "home"))
    index = tmp_path / "model_index.json"
    index.write_text(json.dumps({"_class_name": "LTXPipeline", "transformer": ["diffusers", "X"],
                                 "vae": ["diffusers", "Y"]}))
    files = [FakeFile("model_index.json", 1_000), FakeFile("transformer/model.safetensors", 3_000_000_000),
             FakeFile("vae/model.safetensors", 500_000_000), FakeFile("ltx-video-2b-v0.9.5.safetensors", 6_000_000_000)]
    events = []

    class FakeApi:
        def model_info(self, repo, revision, files_metadata):
            events.append(("info", repo, revision))
            return type("Info", (), {"sha": "c0ffee" * 6 + "abcd", "siblings": files})()

    def fake_snapshot(repo, revision, allow_patterns):
        events.append(("download", revision, tuple(allow_patterns)))
        return str(tmp_path)

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda repo, name, revision: str(index))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    ltx = OPEN_MODELS["ltx-video"]
    hub.pull(ltx, lambda gb, count: events.append(("size", round(gb, 1), count)))
    commit = "c0ffee" * 6 + "abcd"
    assert events == [("info", ltx.repo, "main"), ("size", 3.5, 3),
                      ("download", commit, ("model_index.json", "transformer/*", "vae/*"))]
    assert hub.locked_revisions() == {"ltx-video": commit}


def test_models_lists_every_engine_with_licence_and_size(tmp_path):
    from .test_cli import ungated

    result = ungated("models", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listing = result.stdout
    for model in MODELS:
        assert model.id in listing
    assert "Tencent Hunyuan Community License: not licensed in the EU" in listing
    assert "14 GB" in listing and "Apache-2.0" in listing


def test_generate_without_weights_is_one_line(tmp_path):
    import os

    from .test_cli import ungated

    env = os.environ | {"HF_HUB_CACHE": str(tmp_path / "hf"), "UNGATED_HOME": str(tmp_path / "home")}
    result = ungated("generate", "a cat", "--model", "ltx-video", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: the weights of ltx-video are not on this machine (about 16 GB): run `ungated models pull "
        "ltx-video`, or pass --model-path with a diffusers-format folder")
    assert list(Path(tmp_path).iterdir()) == []
