"""What every engine behind a row of the open-model catalog shares, whether it runs the model on a
diffusers pipeline (engine.py) or on ungated's own implementation (engines/pyramid_flow): its
identity and licence from the row, where its weights are, and the memory plan for this machine."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from ...settings import laptop_mode
from ..base import Engine, EngineOptions
from ..stages import Stages
from . import hub, laptop, laptop_figures, memory
from .models import OpenModel


class CatalogEngine(Engine):
    def __init__(self, model: OpenModel, model_path: Path | None = None, options: EngineOptions = EngineOptions(),
                 hardware: memory.Hardware | None = None):
        self.model = model
        self.id = model.id
        self.title = model.title
        self.capabilities = model.capabilities
        self.licence = model.licence.name
        self.licence_restrictions = model.licence.restrictions
        self.download_gb = model.download_gb
        self.model_path = model_path
        self.options = options
        self.hardware = hardware or memory.detect()
        self.memory = memory.choose(model, self.hardware, options.offload, options.fp8, options.vae_tiling,
                                    options.quantize)
        # Without a GPU, diffusers models run in laptop mode; ungated's own engines have their own CPU path.
        self.laptop = (laptop.choose(model) if not self.hardware.accelerator and model.family.layout == "diffusers"
                       and laptop_mode() else None)
        if self.laptop:
            self.capabilities = laptop.capabilities(model, self.laptop)
            if options.vae_tiling is None:  # laptop mode decodes in tiles, unless told not to
                self.memory = replace(self.memory, vae_tiling=True)

    @property
    def dtype(self) -> torch.dtype:
        if self.laptop:
            return getattr(torch, self.laptop.dtype)
        return getattr(torch, memory.precision(self.hardware, self.model.dtype))

    def stage_estimate(self, plan) -> Stages | None:
        if not self.laptop:  # measured for laptop mode only (benchmarks/bench_laptop.py)
            return None
        return laptop_figures.estimate(self.id, self.laptop.dtype, plan.width, plan.height, plan.frames,
                                       self.laptop.threads)

    def weights_present(self) -> bool:
        return hub.find_weights(self.model, self.model_path) is not None

    def memory_estimates(self) -> dict[str, float]:
        return {mode: memory.estimate_gb(self.model, mode) for mode in memory.MODES}
