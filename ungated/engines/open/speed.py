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


def check(options: EngineOptions) -> None:
    if options.cache not in CACHES:
        raise InvalidRequest("--cache", f"must be one of {', '.join(CACHES)} (got {options.cache!r})")


def describe(options: EngineOptions) -> str | None:
    parts = [f"{options.cache} cache" if options.cache != "none" else "",
             "regional compile" if options.compile else "",
             f"{options.attention} attention" if options.attention else ""]
    parts = [p for p in parts if p]
    return f"speed: {', '.join(parts)}" if parts else None


def _cache_config(name: str, pipe):
    import diffusers

    if name == "first-block":
        return diffusers.FirstBlockCacheConfig(threshold=0.05)
    if name == "taylorseer":
        return diffusers.TaylorSeerCacheConfig(cache_interval=5, disable_cache_before_step=3)
    # FasterCache skips attention on steps whose timestep lies in its ranges, so it reads the
    # pipeline's current timestep.
    return diffusers.FasterCacheConfig(
        current_timestep_callback=lambda: pipe.current_timestep, attention_weight_callback=lambda _: 0.3,
        is_guidance_distilled=False,
    )


def denoisers(pipe) -> list:
    return [m for m in (getattr(pipe, "transformer", None), getattr(pipe, "transformer_2", None)) if m is not None]


def apply(pipe, options: EngineOptions) -> None:
    for transformer in denoisers(pipe):
        if options.attention:
            try:
                transformer.set_attention_backend(options.attention)
            except (ValueError, RuntimeError, ImportError) as err:
                raise InvalidRequest("--attention", str(err).splitlines()[0]) from None
        if options.cache != "none":
            transformer.enable_cache(_cache_config(options.cache, pipe))
        if options.compile:
            transformer.compile_repeated_blocks(fullgraph=True)
