"""LoRAs on open models: a diffusers-format LoRA changes the output, weight 0 and no LoRA give
the base model's output back exactly, and a file that is not a LoRA for the model is refused."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from ungated.errors import InvalidRequest
from ungated.request import LoraChoice, Request, plan

from .test_open_models import engine_for, run, tiny_plan

PIPELINES = {"ltx": ("ltx-video", "LTXPipeline"), "wan": ("wan2.1-t2v-1.3b", "WanPipeline")}


def _make_lora(folder: Path, kind: str, out: Path, seed: int = 0) -> Path:
    """A rank-4 LoRA on the tiny transformer's attention, random (nonzero) on both sides."""
    import diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe_class = getattr(diffusers, PIPELINES[kind][1])
    pipe = pipe_class.from_pretrained(folder)
    torch.manual_seed(seed)
    pipe.transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                            target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    with torch.no_grad():  # strong enough to change a 2-step tiny clip visibly
        for name, param in pipe.transformer.named_parameters():
            if "lora_B" in name:
                param.mul_(20)
    pipe_class.save_lora_weights(out.parent, transformer_lora_layers=get_peft_model_state_dict(pipe.transformer),
                                 weight_name=out.name)
    return out


@pytest.mark.parametrize("kind", list(PIPELINES))
def test_a_lora_changes_the_clip_and_switching_it_off_restores_it_exactly(kind, tiny_folders, tmp_path):
    model_id = PIPELINES[kind][0]
    lora = _make_lora(tiny_folders[kind], kind, tmp_path / "style.safetensors")
    engine = engine_for(model_id, tiny_folders[kind])
    base = run(engine, tiny_plan(9))
    styled = run(engine, tiny_plan(9, loras=[{"path": lora}]))
    assert np.abs(styled.astype(int) - base.astype(int)).mean() > 1
    assert np.array_equal(run(engine, tiny_plan(9, loras=[{"path": lora, "weight": 0}])), base)
    assert np.array_equal(run(engine, tiny_plan(9)), base)  # the adapter stays loaded but off
    assert np.array_equal(run(engine, tiny_plan(9, loras=[{"path": lora}])), styled)


def test_a_file_that_is_not_a_lora_for_the_model_is_refused_by_name(tiny_folders, tmp_path):
    junk = tmp_path / "junk.safetensors"
    save_file({"some.unrelated.weight": torch.zeros(2, 2)}, str(junk))
    engine = engine_for("ltx-video", tiny_folders["ltx"])
    with pytest.raises(InvalidRequest, match="junk.safetensors") as err:
        run(engine, tiny_plan(9, loras=[{"path": junk}]))
    assert err.value.field == "loras"


def test_lora_choices_parse_and_check(tmp_path):
    lora = tmp_path / "a.safetensors"
    save_file({"x": torch.zeros(1)}, str(lora))
    assert LoraChoice.parse(f"{lora}:0.5") == LoraChoice(path=lora, weight=0.5)
    assert LoraChoice.parse(str(lora)).weight == 1
    with pytest.raises(ValueError, match="no such file"):
        LoraChoice.parse(str(tmp_path / "missing.safetensors"))
    with pytest.raises(InvalidRequest, match="loras") as err:
        from ungated.engines.builtin.engine import BuiltinEngine
        engine = BuiltinEngine()
        plan(Request.build(prompt="a red circle", loras=[{"path": lora}]), engine.capabilities, engine.id)
    assert "does not take LoRAs" in err.value.message


def test_the_api_applies_loras_from_the_library_by_name_and_never_takes_paths(tiny_folders, tmp_path):
    import json

    import av
    import httpx

    from .service import Server
    from .test_recovery import wait_for

    library = tmp_path / "files" / "loras"
    library.mkdir(parents=True)
    _make_lora(tiny_folders["wan"], "wan", library / "style.safetensors")
    (library / "style.json").write_text(json.dumps({"model": "wan2.1-t2v-1.3b", "rank": 4}))
    (tmp_path / "config.toml").write_text(f'[models."wan2.1-t2v-1.3b"]\npath = "{tiny_folders["wan"]}"\n')
    server = Server(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", extra=("--models", "builtin,wan2.1-t2v-1.3b"))
    server.start()
    try:
        listed = httpx.get(f"{server.base}/api/loras").json()["data"]
        assert [(e["name"], e["model"]) for e in listed] == [("style", "wan2.1-t2v-1.3b")]
        base = {"prompt": "a red fox running", "model": "wan2.1-t2v-1.3b", "seconds": 0.3, "steps": 2, "seed": 1}
        refused = {
            "loras.0": [{"path": str(library / "style.safetensors")}],
            "loras.0.name": [{"name": "../loras/style"}],
            "loras": "style",
        }
        for field, loras in refused.items():
            for path in ("/api/videos", "/api/plan"):
                response = httpx.post(f"{server.base}{path}", json={**base, "loras": loras})
                assert response.status_code == 400 and response.json()["error"]["param"] == field, response.text
        builtin = httpx.post(f"{server.base}/api/plan", json={"prompt": "a red circle", "loras": [{"name": "style"}]})
        assert builtin.status_code == 400 and "does not take LoRAs" in builtin.text
        made = {}
        for name, extra in (("base", {}), ("styled", {"loras": [{"name": "style", "weight": 1.5}]})):
            video = httpx.post(f"{server.base}/api/videos", json={**base, **extra}).json()["data"][0]
            url = f"{server.base}/api/videos/{video['id']}"
            done = wait_for(lambda: httpx.get(url).json()["status"] in ("completed", "failed"), what=name)
            assert done and httpx.get(url).json()["status"] == "completed", httpx.get(url).text
            assert httpx.get(url).json()["request"].get("loras", []) == extra.get("loras", [])
            content = httpx.get(f"{server.base}/v1/videos/{video['id']}/content").content
            (tmp_path / f"{name}.mp4").write_bytes(content)
            with av.open(str(tmp_path / f"{name}.mp4")) as clip:
                made[name] = np.stack([f.to_ndarray(format="rgb24") for f in clip.decode(video=0)])
        # The same frames encode to the same video: any difference is the LoRA's.
        assert np.abs(made["styled"].astype(int) - made["base"].astype(int)).mean() > 0.2
    finally:
        server.stop()


def test_a_comfyui_format_wan_lora_gives_the_same_clip_as_its_diffusers_twin(tiny_folders, tmp_path):
    from safetensors.torch import load_file

    diffusers_lora = _make_lora(tiny_folders["wan"], "wan", tmp_path / "diffusers.safetensors")
    names = {"attn1": "self_attn", "attn2": "cross_attn", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "o"}
    comfy = {}
    for key, value in load_file(str(diffusers_lora)).items():
        # transformer.blocks.0.attn1.to_q.lora_A.weight -> diffusion_model.blocks.0.self_attn.q.lora_down.weight
        block, attention, layer, side = re.fullmatch(
            r"transformer\.(blocks\.\d+)\.(attn[12])\.(to_q|to_k|to_v|to_out\.0)\.(lora_[AB])\.weight", key).groups()
        ends = {"lora_A": "lora_down", "lora_B": "lora_up"}
        comfy[f"diffusion_model.{block}.{names[attention]}.{names[layer]}.{ends[side]}.weight"] = value
    comfy_lora = tmp_path / "comfy.safetensors"
    save_file(comfy, str(comfy_lora))
    engine = engine_for("wan2.1-t2v-1.3b", tiny_folders["wan"])
    from_diffusers = run(engine, tiny_plan(9, loras=[{"path": diffusers_lora}]))
    from_comfy = run(engine_for("wan2.1-t2v-1.3b", tiny_folders["wan"]), tiny_plan(9, loras=[{"path": comfy_lora}]))
    assert np.array_equal(from_comfy, from_diffusers)


def test_loras_are_uploaded_to_the_library_listed_and_removed(server, tmp_path):
    import httpx

    lora = tmp_path / "ink.safetensors"
    save_file({"transformer.blocks.0.attn1.to_q.lora_A.weight": torch.ones(4, 8)}, str(lora))
    junk = tmp_path / "junk.safetensors"
    save_file({"some.weight": torch.ones(2)}, str(junk))
    api = httpx.Client(base_url=server.base, timeout=30)
    refused = {
        ("ink", b"not safetensors at all"): "body",
        ("ink", junk.read_bytes()): "body",
        ("-bad-name", lora.read_bytes()): "name",
    }
    for (name, body), field in refused.items():
        answer = api.put(f"/api/loras/{name}", content=body)
        assert answer.status_code == 400 and answer.json()["error"]["param"] == field, answer.text
    assert api.put("/api/loras/ink", content=lora.read_bytes(), params={"model": "nope"}).status_code == 400
    assert api.get("/api/loras").json()["data"] == []  # nothing refused was kept
    added = api.put("/api/loras/ink", content=lora.read_bytes(), params={"model": "wan2.1-t2v-1.3b"})
    assert added.status_code == 200 and added.json()["model"] == "wan2.1-t2v-1.3b", added.text
    assert api.put("/api/loras/ink", content=lora.read_bytes()).status_code == 409
    listed = api.get("/api/loras").json()["data"]
    assert [e["name"] for e in listed] == ["ink"] and "uploaded_by" not in listed[0]
    assert listed[0]["size_bytes"] == lora.stat().st_size
    assert api.delete("/api/loras/ink").json() == {"name": "ink", "deleted": True}
    assert api.get("/api/loras").json()["data"] == [] and api.delete("/api/loras/ink").status_code == 404
    assert not [p for p in (server.home / "files" / "loras").iterdir()]  # no partial uploads left behind
