"""One engine for every open model on diffusers: the catalog row and its family say what differs.

    >>> engine = OpenModelEngine(OPEN_MODELS["wan2.1-t2v-1.3b"])
    >>> engine.load()          # finds the weights, picks a memory mode, applies speed options
    >>> frames = engine.generate(plan, seed=7, on_progress=print, should_cancel=lambda: False)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ...errors import GenerationCancelled
from ...media.inputs import read_image, read_video
from ..base import CancelFn, Engine, EngineOptions, ProgressFn
from . import hub, memory, speed
from .models import OpenModel


class _Stop(Exception):
    """Raised from the step callback so the pipeline never reaches its VAE decode."""


def pick_task(image: Path | None, video: Path | None) -> str:
    return "v2v" if video else "i2v" if image else "t2v"


class OpenModelEngine(Engine):
    def __init__(self, model: OpenModel, model_path: Path | None = None, options: EngineOptions = EngineOptions(),
                 hardware: memory.Hardware | None = None):
        speed.check(options)
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
        self.pipe = None  # the pipeline of the task last run; others are built from its components

    def weights_present(self) -> bool:
        return hub.find_weights(self.model, self.model_path) is not None

    def memory_estimates(self) -> dict[str, float]:
        return {mode: memory.estimate_gb(self.model, mode) for mode in memory.MODES}

    def setup_notes(self) -> list[str]:
        return [line for line in (self.memory.describe(), speed.describe(self.options)) if line]

    @property
    def dtype(self) -> torch.dtype:
        # Half precision on the CPU is slow or unsupported for several ops; use full precision there.
        return getattr(torch, self.model.dtype) if self.hardware.accelerator else torch.float32

    def load(self) -> None:
        if self.pipe is not None:
            return
        import diffusers
        import transformers

        folder = hub.require_weights(self.model, self.model_path)
        for library in (diffusers, transformers):  # ungated shows its own progress
            library.utils.logging.disable_progress_bar()
            library.utils.logging.set_verbosity_error()
        quantization = memory.quantization_config(self.memory, list(self.model.params), self.dtype)
        pipe = diffusers.DiffusionPipeline.from_pretrained(folder, dtype=self.dtype, quantization_config=quantization)
        pipe.set_progress_bar_config(disable=True)
        self._prepare(pipe)

    def _prepare(self, pipe) -> None:
        memory.apply(pipe, self.memory, self.hardware)
        speed.apply(pipe, self.options)
        self.pipe = pipe

    def pipeline_for(self, task: str):
        """The loaded pipeline for a task, sharing the loaded components (no second load)."""
        import diffusers

        self.load()
        wanted = getattr(diffusers, self.model.family.pipelines[task])
        if not isinstance(self.pipe, wanted):
            if self.memory.mode != "none":
                self.pipe.remove_all_hooks()
            switched = wanted.from_pipe(self.pipe)
            switched.set_progress_bar_config(disable=True)
            memory.apply(switched, self.memory, self.hardware)
            self.pipe = switched
        return self.pipe

    def call_arguments(self, plan, seed: int, task: str, pipe) -> dict:
        request = plan.request
        family = self.model.family
        arguments = {
            "prompt": request.prompt, "negative_prompt": request.negative_prompt or None,
            "height": plan.height, "width": plan.width, "num_frames": plan.frames,
            "num_inference_steps": plan.steps, "guidance_scale": plan.guidance,
            # A CPU generator gives the same noise for a seed on every device.
            "generator": torch.Generator("cpu").manual_seed(seed), "output_type": "np",
            **family.call_arguments, **self.model.call_arguments,
        }
        if family.text_length_key:
            arguments["max_sequence_length"] = pipe.transformer.config[family.text_length_key]
        if family.fps_argument:
            arguments[family.fps_argument] = plan.fps
        if task == "i2v":
            arguments["image"] = read_image(request.image, plan.width, plan.height)
        if task == "v2v":
            arguments["video"] = read_video(request.video, plan.width, plan.height, plan.fps, plan.frames)
            arguments["strength"] = family.strength
            del arguments["num_frames"]  # the input video sets the length
        return arguments

    @torch.inference_mode()
    def generate(self, plan, seed: int, on_progress: ProgressFn, should_cancel: CancelFn) -> Iterator[np.ndarray]:
        task = pick_task(plan.request.image, plan.request.video)
        pipe = self.pipeline_for(task)

        def step_end(pipeline, index: int, timestep, tensors: dict) -> dict:
            on_progress(index + 1, getattr(pipeline, "num_timesteps", None) or plan.steps)
            if should_cancel():
                raise _Stop
            return tensors

        if should_cancel():
            raise GenerationCancelled
        try:
            video = pipe(**self.call_arguments(plan, seed, task, pipe), callback_on_step_end=step_end).frames[0]
        except _Stop:
            raise GenerationCancelled from None
        for frame in video:
            yield (np.clip(frame, 0.0, 1.0) * 255).round().astype(np.uint8)
