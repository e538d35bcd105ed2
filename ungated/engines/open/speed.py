"""Speed options for open models, all through diffusers' own hooks. Off unless asked for: each
trades something (quality, warm-up time, or a dependency) for speed; docs/open-models.md says what.

    cache      reuse transformer outputs across steps: "first-block" (FirstBlockCache),
               "taylorseer" (TaylorSeer forecasting), "faster" (FasterCache), or "none"
    compile    regional torch.compile of the repeated transformer blocks
    attention  the attention kernel: "native" (PyTorch SDPA), "flash", "sage", ... as diffusers names them
"""

from __future__ import annotations

from ...errors import InvalidRequest
from ..base import EngineOptions

CACHES = ("none", "first-block", "taylorseer", "faster")

# The attention modules of every family's transformer blocks: attn (HunyuanVideo), attn1 and attn2
# (the rest). diffusers' defaults match only names ending in "attn", which hooks nothing on most.
_ATTENTION_MODULES = r"(blocks|transformer_blocks|single_transformer_blocks)\.\d+\.attn\d?"
_SELF_ATTENTION_MODULES = r"^(blocks|transformer_blocks|single_transformer_blocks)\.\d+\.attn1?$"

# FasterCache per family: the latent layout where guidance runs as one batch of [unconditional,
# conditional] (it then also approximates the unconditional half), "attention-only" where it can
# only reuse attention: HunyuanVideo has guidance distilled in (one call a step), and LTX-Video's
# packed [batch, tokens, channels] output is a layout FasterCache cannot split.
_FASTER_CACHE = {"CogVideoX": "BFCHW", "Mochi": "BCFHW", "LTX-Video": "attention-only",
                 "HunyuanVideo": "attention-only"}
_NO_FASTER_CACHE = {  # why not, where known
    "Wan": "they run guidance as two separate calls a step, which FasterCache's one state would mix up",
    "HunyuanVideo 1.5": "they run guidance as two separate calls a step, which FasterCache's one state would mix up",
}
# Families whose transformer blocks diffusers' FirstBlockCache does not know (it raises at load).
_NO_FIRST_BLOCK_CACHE = {"HunyuanVideo 1.5": "diffusers 0.42 has no FirstBlockCache entry for its transformer blocks"}

# Families no --cache is offered for: diffusers' step caches cannot hook their transformers.
_NO_CACHE = {
    "Kandinsky 5": "FirstBlockCache does not know its blocks, and TaylorSeer would hook none of its attention",
    "Sana-Video": "its transformer has no cache support in diffusers 0.42",
}

# Pipelines that call the transformer outside diffusers' cache contexts: the step caches keep their
# state per context ("cond", "uncond"), so they stop with a raw error there.
_WITHOUT_CACHE_CONTEXT = ("WanVideoToVideoPipeline", "HunyuanVideoImageToVideoPipeline")


def check(options: EngineOptions, family=None) -> None:
    if options.cache not in CACHES:
        raise InvalidRequest("--cache", f"must be one of {', '.join(CACHES)} (got {options.cache!r})")
    if options.cache != "none" and family is not None and family.name in _NO_CACHE:
        raise InvalidRequest("--cache", f"{options.cache} is not available for {family.name} models: "
                             f"{_NO_CACHE[family.name]}; run them without --cache")
    if options.cache == "faster" and family is not None and family.name not in _FASTER_CACHE:
        why = _NO_FASTER_CACHE.get(family.name, "ungated has not checked it with this family")
        others = "taylorseer" if family.name in _NO_FIRST_BLOCK_CACHE else "first-block or taylorseer"
        raise InvalidRequest("--cache", f"faster is not available for {family.name} models: {why}; use {others}")
    if options.cache == "first-block" and family is not None and family.name in _NO_FIRST_BLOCK_CACHE:
        raise InvalidRequest("--cache", f"first-block is not available for {family.name} models: "
                             f"{_NO_FIRST_BLOCK_CACHE[family.name]}; use taylorseer")


def describe(options: EngineOptions) -> str | None:
    parts = [f"{options.cache} cache" if options.cache != "none" else "",
             "regional compile" if options.compile else "",
             f"{options.attention} attention" if options.attention else ""]
    parts = [p for p in parts if p]
    return f"speed: {', '.join(parts)}" if parts else None


def denoisers(pipe) -> list:
    return [m for m in (getattr(pipe, "transformer", None), getattr(pipe, "transformer_2", None)) if m is not None]


def apply(pipe, options: EngineOptions) -> None:
    """At load: the options that do not depend on the request (FasterCache is set per run: before_run)."""
    import diffusers

    for transformer in denoisers(pipe):
        if options.attention:
            try:
                transformer.set_attention_backend(options.attention)
            except (ValueError, RuntimeError, ImportError) as err:
                raise InvalidRequest("--attention", str(err).splitlines()[0]) from None
        if options.cache == "first-block":
            transformer.enable_cache(diffusers.FirstBlockCacheConfig(threshold=0.05))
        if options.cache == "taylorseer":
            transformer.enable_cache(diffusers.TaylorSeerCacheConfig(
                cache_interval=5, disable_cache_before_step=3, cache_identifiers=[_ATTENTION_MODULES]))
        if options.compile:
            transformer.compile_repeated_blocks(fullgraph=True)


def before_run(pipe, options: EngineOptions, family, arguments: dict) -> None:
    """The cache for one run of `pipe`, the pipeline in use (a task switch makes a new one)."""
    name = type(pipe).__name__
    if options.cache in ("first-block", "taylorseer") and name in _WITHOUT_CACHE_CONTEXT:
        raise InvalidRequest("--cache", f"{options.cache} is not available for this task on {family.name}: "
                             f"diffusers' {name} does not tell its guidance calls apart for caches; "
                             "run it without --cache")
    if options.cache == "faster":
        _use_faster_cache(pipe, family, arguments)


def _use_faster_cache(pipe, family, arguments: dict) -> None:
    """FasterCache reads the timestep of the pipeline in use, and splits guidance only where this
    run batches it (scale > 1), so it is set afresh for each run."""
    import diffusers

    if arguments.get("true_cfg_scale", 1.0) > 1:  # HunyuanVideo's negative prompt: two calls a step, as Wan
        raise InvalidRequest("--cache", f"faster cannot be combined with a negative prompt on {family.name} "
                             "(guidance then runs as two separate calls a step); use first-block or taylorseer")
    layout = _FASTER_CACHE[family.name]
    batched_guidance = layout != "attention-only" and arguments["guidance_scale"] > 1
    for transformer in denoisers(pipe):
        if transformer.is_cache_enabled:
            transformer.disable_cache()
        transformer.enable_cache(diffusers.FasterCacheConfig(
            current_timestep_callback=lambda: pipe.current_timestep, attention_weight_callback=lambda _: 0.3,
            spatial_attention_block_identifiers=(_SELF_ATTENTION_MODULES,),
            tensor_format=layout if batched_guidance else "BCFHW", is_guidance_distilled=not batched_guidance,
        ))
