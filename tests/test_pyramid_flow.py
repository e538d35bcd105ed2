"""Pyramid Flow, ungated's own implementation: the modules make exactly the published checkpoint's
parameter names and shapes (built on the meta device at the published configs, against the fact
files in tests/facts), and a tiny random model in the published folder layout generates through
the engine: text-to-video and image-to-video, seeded, streamed, cancellable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ungated.engines.catalog import get_engine
from ungated.engines.pyramid_flow.sampler import block_noise, history, renoise, stages
from ungated.engines.pyramid_flow.transformer import PyramidFluxTransformer
from ungated.engines.pyramid_flow.vae import CausalVideoVAE
from ungated.errors import GenerationCancelled, InvalidRequest, ModelUnavailable
from ungated.request import Request, plan as make_plan

from .tiny_pyramid import TINY_VAE, published_config, save_tiny_pyramid

FACTS = Path(__file__).parent / "facts"
MODEL = "pyramid-flow-miniflux"


def published_keys(name: str) -> dict[str, list[int]]:
    lines = [line for line in (FACTS / f"pyramid_flow_{name}_keys.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    return {key: json.loads(shape) for key, shape in (line.split(" ", 1) for line in lines)}


@pytest.mark.parametrize("name, module", [("transformer", PyramidFluxTransformer), ("vae", CausalVideoVAE)])
def test_the_modules_have_the_published_checkpoints_names_and_shapes(name, module):
    config = {k: v for k, v in published_config(name).items() if not k.startswith("_")}
    with torch.device("meta"):
        built = module.from_config(config)
    ours = {key: list(tensor.shape) for key, tensor in built.state_dict().items()}
    assert ours == published_keys(name)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    return save_tiny_pyramid(tmp_path_factory.mktemp("pyramid") / "pyramid-flow-miniflux")


def _plan(**fields):
    engine_caps = get_engine(MODEL).capabilities
    request = Request.build(**{"prompt": "a red fox running", "seconds": 0.4, "steps": 2, "size": "640x384",
                               **fields})
    return make_plan(request, engine_caps, MODEL)


def _run(folder: Path, the_plan, seed: int = 3, progress=None, cancel=lambda: False) -> np.ndarray:
    engine = get_engine(MODEL, folder)
    return np.stack(list(engine.generate(the_plan, seed, progress or (lambda step, total: None), cancel)))


def test_text_to_video_is_seeded_and_streams_every_frame(tiny_folder):
    the_plan = _plan()
    engine = get_engine(MODEL, tiny_folder)
    seen, previews = [], []

    def progress(step: int, total: int) -> None:
        seen.append((step, total))
        previews.append(engine.preview())

    clip = np.stack(list(engine.generate(the_plan, 3, progress, lambda: False)))
    assert clip.shape == (9, 384, 640, 3) and clip.dtype == np.uint8  # 1 + 8 frames: two latent frames
    # Three stages of 2 steps for the first frame, three of 1 (half) for the next.
    assert seen == [(step, 9) for step in range(1, 10)]
    assert previews[0].shape == (12, 20, 3) and previews[-1].shape == (48, 80, 3)  # the stage's latent grid
    assert np.array_equal(_run(tiny_folder, the_plan), clip)
    assert not np.array_equal(_run(tiny_folder, the_plan, seed=4), clip)
    assert clip.std() > 0


def test_image_to_video_samples_only_the_frames_after_the_image(tiny_folder, tmp_path):
    picture = tmp_path / "start.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (384, 640, 3), dtype=np.uint8)).save(picture)
    seen = []
    clip = _run(tiny_folder, _plan(image=picture), progress=lambda step, total: seen.append(total))
    assert clip.shape == (9, 384, 640, 3)
    assert set(seen) == {3}  # the first frame is the image: only the second is sampled


def test_cancel_stops_between_steps(tiny_folder):
    steps = []
    with pytest.raises(GenerationCancelled):
        _run(tiny_folder, _plan(), progress=lambda step, total: steps.append(step), cancel=lambda: len(steps) >= 2)
    assert steps == [1, 2]


def test_the_vae_decodes_in_chunks_exactly_as_in_one_go():
    torch.manual_seed(0)
    vae = CausalVideoVAE(**TINY_VAE).eval()
    z = torch.randn(1, 16, 4, 6, 8)
    with torch.no_grad():
        whole = vae.decode(z)
        chunked = torch.cat(list(vae.decode_chunks(z, window=1)), dim=2)
        tiled = torch.cat(list(vae.decode_chunks(z, window=2, tile=4)), dim=2)
        encoded = vae.encode(whole[:, :, :9], torch.Generator().manual_seed(0))
    assert whole.shape == (1, 3, 25, 48, 64)  # 1 + 8k frames, 8x the size
    torch.testing.assert_close(chunked, whole, rtol=1e-4, atol=1e-5)
    assert tiled.shape == whole.shape and (tiled - whole).abs().mean() < (whole.abs().mean())
    assert encoded.shape == (1, 16, 2, 6, 8)


def test_the_pyramid_schedule_and_noise_follow_the_published_sampler():
    published = [(1000.0, 744.256, 0.0), (744.0, 386.358, 0.333), (386.0, 1.385, 0.666)]
    for stage, (first, last, signal) in zip(stages(), published):
        assert (stage.first_timestep, round(stage.last_timestep, 3), round(stage.entry_signal, 3)) == (
            first, last, signal)
    noise = block_noise(torch.Size([2, 4, 1, 64, 64]), torch.Generator().manual_seed(0))
    assert abs(noise.std().item() - 1) < 0.02
    assert noise.reshape(2, 4, 1, 32, 2, 32, 2).sum((4, 6)).abs().max() < 1e-4  # each 2x2 block sums to zero
    frames = torch.arange(5.0).reshape(1, 1, 5, 1, 1).expand(1, 1, 5, 8, 8)
    layout = [(clip.shape[2:], clip[0, 0, :, 0, 0].tolist()) for clip in history(frames, 2)]
    assert layout == [((3, 2, 2), [0.0, 1.0, 2.0]), ((1, 4, 4), [3.0]), ((1, 8, 8), [4.0])]


def test_missing_or_wrong_weights_say_what_to_do(tmp_path):
    with pytest.raises(ModelUnavailable, match="ungated models pull pyramid-flow-miniflux"):
        get_engine(MODEL).load()
    with pytest.raises(InvalidRequest, match="causal_video_vae/config.json"):
        get_engine(MODEL, tmp_path).load()


def test_the_vae_loads_attention_weights_under_their_old_names_too(tmp_path):
    """Checkpoints saved by older diffusers name the VAE's attention query/key/value/proj_attn."""
    torch.manual_seed(0)
    vae = CausalVideoVAE(**TINY_VAE)
    vae.save_pretrained(tmp_path, safe_serialization=False)
    renames = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}
    state = torch.load(tmp_path / "diffusion_pytorch_model.bin", weights_only=True)
    old = {}
    for key, value in state.items():
        for new_name, old_name in renames.items():
            key = key.replace(f"attentions.0.{new_name}.", f"attentions.0.{old_name}.")
        old[key] = value
    torch.save(old, tmp_path / "diffusion_pytorch_model.bin")
    loaded = CausalVideoVAE.from_pretrained(tmp_path, use_safetensors=False)
    for key, value in vae.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_renoising_hands_each_stage_the_start_its_training_defined():
    """A stage ends at end_sigma * noise + (1 - end_sigma) * clean; after upsampling and renoising,
    the next stage must start at start_sigma * noise + (1 - start_sigma) * clean (training's
    definition): signal and noise in exactly those amounts."""
    published_ends, published_starts = {0: 0.667, 1: 0.334}, {1: 0.80024, 2: 0.50075}
    clean = 0.7  # a flat field: the same at every resolution
    generator = torch.Generator().manual_seed(0)
    for index in (1, 2):
        end = published_ends[index - 1]
        ended = end * torch.randn(1, 4, 1, 64, 64, generator=generator) + (1 - end) * clean
        started = renoise(ended, stages()[index].entry_signal, generator)
        start = published_starts[index]
        noise = started - (1 - start) * clean
        assert abs(noise.mean().item()) < 0.01 and abs(noise.std().item() - start) < 0.01, (index, noise.std())
