"""Speed options (`--cache`) on every open-model family, with the tiny random pipelines loaded
through the real engine path: each cache runs where diffusers' hook can, is refused before any
weights load where it cannot, and actually changes the work done (hooks on the attention modules)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ungated.engines.base import EngineOptions
from ungated.engines.open.engine import OpenModelEngine
from ungated.engines.open.models import OPEN_MODELS
from ungated.errors import InvalidRequest
from ungated.media.encode import Mp4Writer

from .test_open_models import FAMILIES, run, tiny_plan


def engine_for(kind: str, folder, cache: str) -> OpenModelEngine:
    return OpenModelEngine(OPEN_MODELS[FAMILIES[kind][0]], folder, EngineOptions(cache=cache))


def clip(kind: str, tiny_folders, cache: str, steps: int = 4, **plan) -> np.ndarray:
    return run(engine_for(kind, tiny_folders[kind], cache), tiny_plan(FAMILIES[kind][1], steps=steps, **plan))


def hooked(engine: OpenModelEngine, hook: str) -> list[str]:
    from diffusers.hooks import HookRegistry

    return [name for name, module in engine.pipe.transformer.named_modules()
            if isinstance(getattr(module, "_diffusers_hook", None), HookRegistry)
            and module._diffusers_hook.get_hook(hook) is not None]


@pytest.mark.parametrize("kind", ["cogvideox", "mochi", "ltx", "hunyuan"])
def test_faster_cache_makes_the_clip_and_changes_the_work(kind, tiny_folders):
    uncached = clip(kind, tiny_folders, "none")
    cached = clip(kind, tiny_folders, "faster")
    assert cached.shape == uncached.shape
    assert not np.array_equal(cached, uncached)


def test_faster_cache_without_guidance_runs_on_a_batch_of_one(tiny_folders):
    # guidance 1 turns guidance off: nothing to split into unconditional and conditional halves
    engine = engine_for("cogvideox", tiny_folders["cogvideox"], "faster")
    video = run(engine, replace(tiny_plan(9, steps=4), guidance=1.0))
    assert video.shape == (9, 32, 32, 3)


@pytest.mark.parametrize("model_id", ["wan2.1-t2v-1.3b", "wan2.2-t2v-a14b"])
def test_faster_cache_is_refused_in_one_line_where_it_cannot_run(model_id, tmp_path):
    # Refused when the engine is made, before any weights are looked for (tmp_path holds none).
    with pytest.raises(InvalidRequest) as refused:
        OpenModelEngine(OPEN_MODELS[model_id], tmp_path, EngineOptions(cache="faster"))
    assert refused.value.field == "--cache"
    assert "\n" not in str(refused.value) and "Wan" in str(refused.value)


def test_faster_cache_follows_the_pipeline_when_the_task_changes(tiny_folders, tmp_path):
    source = tmp_path / "source.mp4"
    with Mp4Writer(source, 32, 32, 8, {}) as writer:
        for i in range(12):
            writer.write(np.full((32, 32, 3), i * 20, np.uint8))
    engine = engine_for("cogvideox", tiny_folders["cogvideox"], "faster")
    first = run(engine, tiny_plan(9, steps=4))
    restyled = run(engine, tiny_plan(9, steps=4, video=source))
    again = run(engine, tiny_plan(9, steps=4))
    assert restyled.shape == first.shape == again.shape
    assert np.array_equal(first, again)  # the cache starts afresh each clip


# FirstBlockCache needs two blocks or more: the tiny CogVideoX and LTX-Video have one (real ones, dozens).
@pytest.mark.parametrize("kind", ["mochi", "wan", "hunyuan"])
def test_first_block_cache_runs_on_each_family(kind, tiny_folders):
    assert clip(kind, tiny_folders, "first-block", steps=3).shape == (FAMILIES[kind][1], 32, 32, 3)


@pytest.mark.parametrize("kind", list(FAMILIES))
def test_taylorseer_hooks_the_attention_of_every_family(kind, tiny_folders):
    uncached = clip(kind, tiny_folders, "none", steps=5)
    engine = engine_for(kind, tiny_folders[kind], "taylorseer")
    cached = run(engine, tiny_plan(FAMILIES[kind][1], steps=5))
    attention = hooked(engine, "taylorseer_cache")
    assert attention and all(name.rsplit(".", 1)[1].startswith("attn") for name in attention)
    assert not np.array_equal(cached, uncached)


def test_faster_cache_with_a_negative_prompt_on_hunyuanvideo_is_refused(tiny_folders):
    # The negative prompt turns on true guidance: two separate calls a step, which FasterCache mixes up.
    engine = engine_for("hunyuan", tiny_folders["hunyuan"], "faster")
    with pytest.raises(InvalidRequest) as refused:
        run(engine, tiny_plan(9, steps=4, negative_prompt="blurry"))
    assert refused.value.field == "--cache" and "negative prompt" in refused.value.message


@pytest.mark.parametrize("cache", ["first-block", "taylorseer"])
def test_step_caches_are_refused_in_one_line_where_the_pipeline_has_no_cache_context(cache, tiny_folders, tmp_path):
    # Wan's video-to-video pipeline calls its transformer outside diffusers' cache contexts.
    source = tmp_path / "source.mp4"
    with Mp4Writer(source, 32, 32, 8, {}) as writer:
        for i in range(12):
            writer.write(np.full((32, 32, 3), i * 20, np.uint8))
    engine = engine_for("wan", tiny_folders["wan"], cache)
    with pytest.raises(InvalidRequest) as refused:
        run(engine, tiny_plan(9, steps=2, video=source))
    assert refused.value.field == "--cache" and "\n" not in str(refused.value)
    assert run(engine, tiny_plan(9, steps=2)).shape == (9, 32, 32, 3)  # text to video still runs
