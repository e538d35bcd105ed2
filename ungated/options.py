"""Command-line options for how to run an open model on this machine, shared by `generate`,
`serve` and `worker` (the built-in model ignores them)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .engines.base import EngineOptions

OffloadOption = Annotated[Optional[str], typer.Option(
    "--offload", help="Memory mode: none, model, group or sequential (default: the fastest that fits).")]
Fp8Option = Annotated[Optional[bool], typer.Option(
    "--fp8/--no-fp8", help="Store the transformer's weights in fp8 (default: only when needed to fit).")]
QuantizeOption = Annotated[Optional[str], typer.Option(
    help="Quantize the transformer and text encoder: nf4 or int8 (needs bitsandbytes; default: only when "
         "nothing else fits).")]
VaeTilingOption = Annotated[Optional[bool], typer.Option(
    "--vae-tiling/--no-vae-tiling", help="Decode the video in tiles (default: unless memory is plentiful).")]
CacheOption = Annotated[str, typer.Option(
    help="Step caching: none, first-block, taylorseer or faster (faster, slightly different output).")]
CompileOption = Annotated[bool, typer.Option("--compile", help="torch.compile the transformer blocks (GPU; "
                                                                 "slow first clip, faster after).")]
AttentionOption = Annotated[Optional[str], typer.Option(
    help="Attention kernel as diffusers names it: native, flash, sage, _native_cudnn, ...")]



def worker_arguments(options: EngineOptions) -> list[str]:
    """The `ungated worker` arguments that give a worker these options."""
    arguments = []
    for name in ("offload", "quantize", "attention"):
        if getattr(options, name) is not None:
            arguments += [f"--{name.replace('_', '-')}", getattr(options, name)]
    for name in ("fp8", "vae_tiling"):
        if getattr(options, name) is not None:
            arguments.append(f"--{'' if getattr(options, name) else 'no-'}{name.replace('_', '-')}")
    if options.cache != "none":
        arguments += ["--cache", options.cache]
    if options.compile:
        arguments.append("--compile")
    return arguments
