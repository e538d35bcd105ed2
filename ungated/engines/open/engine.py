"""One engine for every open model on diffusers: the catalog row and its family say what differs.

    >>> engine = OpenModelEngine(OPEN_MODELS["wan2.1-t2v-1.3b"])
    >>> engine.load()          # finds the weights, picks a memory mode, applies speed options
    >>> frames = engine.generate(plan, seed=7, on_progress=print, should_cancel=lambda: False)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ...errors import GenerationCancelled
from ...media.inputs import read_image, read_video
from ..base import CancelFn, EngineOptions, ProgressFn
from ..preview import false_colour, middle_latent_frame
from . import decode, hub, memory, speed
from .catalog_engine import CatalogEngine
from .loras import LoraSlots
from .models import OpenModel


class _Stop(Exception):
    """Raised from the step callback so the pipeline never reaches its VAE decode."""


def pick_task(image: Path | None, video: Path | None) -> str:
    return "v2v" if video else "i2v" if image else "t2v"


class OpenModelEngine(CatalogEngine):
    def __init__(self, model: OpenModel, model_path: Path | None = None, options: EngineOptions = EngineOptions(),
                 hardware: memory.Hardware | None = None):
        speed.check(options)
        super().__init__(model, model_path, options, hardware)
        self.pipe = None  # the pipeline of the task last run; others are built from its components
        self.loras = LoraSlots()
        self._latents: tuple | None = None  # while sampling: (latents, height, width, spatial ratio)

    def setup_notes(self) -> list[str]:
        return [line for line in (self.memory.describe(), speed.describe(self.options)) if line]

    def load(self) -> None:
        if self.pipe is not None:
            return
        folder = hub.require_weights(self.model, self.model_path)
        quantization = memory.quantization_config(self.memory, list(self.model.params), self.dtype)
        pipe = hub.load_pipeline(folder, self.dtype, quantization_config=quantization)
        memory.apply(pipe, self.memory, self.hardware)
        speed.apply(pipe, self.options)
        self.pipe = pipe

    def pipeline_for(self, task: str):
        """The loaded pipeline for a task, sharing the loaded components (no second load)."""
        import diffusers

        self.load()
        wanted = getattr(diffusers, self.model.family.pipelines[task])
        if not isinstance(self.pipe, wanted):
            # The components keep their own hooks (fp8, group offload, caching); only the
            # pipeline-level offloading is moved over to the new pipeline.
            if self.memory.mode in ("model", "sequential"):
                self.pipe.remove_all_hooks()
            switched = wanted.from_pipe(self.pipe)
            switched.set_progress_bar_config(disable=True)
            memory.place(switched, self.memory, self.hardware)
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

    def _run(self, pipe, arguments: dict, on_progress: ProgressFn, should_cancel: CancelFn) -> Iterator[np.ndarray]:
        """One pipeline pass, its frames streamed out as uint8 [height, width, 3] window by window."""

        def step_end(pipeline, index: int, timestep, tensors: dict) -> dict:
            if "latents" in tensors:
                ratio = getattr(pipeline, "vae_spatial_compression_ratio", None) or 32
                self._latents = (tensors["latents"], arguments["height"], arguments["width"], ratio)
            on_progress(index + 1, getattr(pipeline, "num_timesteps", None) or arguments["num_inference_steps"])
            if should_cancel():
                raise _Stop
            return tensors

        if should_cancel():
            raise GenerationCancelled
        try:
            with decode.intercepted(pipe.vae):
                pipe(**arguments, callback_on_step_end=step_end)
            raise RuntimeError(f"{type(pipe).__name__} finished without decoding its latents")
        except _Stop:
            raise GenerationCancelled from None
        except decode.DecodeCall as intercepted:
            call = intercepted
        finally:
            self._latents = None
        try:
            frames = len(arguments.get("video") or ()) or arguments["num_frames"]
            yield from decode.stream(pipe.vae, call, frames, arguments["width"] * arguments["height"], should_cancel)
        finally:
            pipe.maybe_free_model_hooks()  # what the pipeline does after its own decode

    @torch.inference_mode()
    def preview(self) -> np.ndarray | None:
        if self._latents is None:
            return None
        latents, height, width, ratio = self._latents
        frame = middle_latent_frame(latents, self.model.family.latent_layout, height, width, ratio)
        return None if frame is None else false_colour(frame)

    @torch.inference_mode()
    def generate(self, plan, seed: int, on_progress: ProgressFn, should_cancel: CancelFn) -> Iterator[np.ndarray]:
        task = pick_task(plan.request.image, plan.request.video)
        self.load()
        # On the shared components, so every task's pipeline sees the same adapters.
        self.loras.apply(self.pipe, plan.request.loras, self.id)
        one_pass = self.model.frames[2]
        if plan.request.extend:
            kept = read_video(plan.request.extend, plan.width, plan.height, plan.fps, plan.kept_frames)
            for image in kept:
                yield np.asarray(image)
            tail = kept[-self.model.extend_overlap:]
            yield from self._extended(plan, seed, "t2v", on_progress, should_cancel, tail)
            return
        if plan.frames <= one_pass:
            pipe = self.pipeline_for(task)
            yield from self._run(pipe, self.call_arguments(plan, seed, task, pipe), on_progress, should_cancel)
            return
        yield from self._extended(plan, seed, task, on_progress, should_cancel)

    def _extended(self, plan, seed: int, task: str, on_progress: ProgressFn, should_cancel: CancelFn,
                  tail: list | None = None) -> Iterator[np.ndarray]:
        """A clip longer than one pass: a first segment as usual (or, given the tail frames of a
        clip to continue, conditioned on them), then segments conditioned on the last frames of the
        one before, each streamed out as soon as it is decoded."""
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition
        from PIL import Image

        fewest, step, one_pass = self.model.frames
        overlap = self.model.extend_overlap
        new_per_segment = one_pass - overlap
        if tail is None:
            segments = 1 + -(-(plan.frames - one_pass) // new_per_segment)
        else:
            segments = -(-plan.frames // new_per_segment)
        made = 0
        for index in range(segments):
            def progress(done: int, total: int, index=index) -> None:
                on_progress(index * total + done, segments * total)

            if tail is None:
                length = one_pass
                pipe = self.pipeline_for(task)
                arguments = self.call_arguments(replace(plan, frames=length), seed, task, pipe)
            else:
                wanted = plan.frames - made + overlap
                length = min(one_pass, fewest + -(-(wanted - fewest) // step) * step)
                pipe = self.pipeline_for("extend")
                arguments = self.call_arguments(replace(plan, frames=length), seed + index, "t2v", pipe)
                arguments["conditions"] = [LTXVideoCondition(video=tail, frame_index=0, strength=1.0)]
            last = deque(maxlen=overlap)
            for position, frame in enumerate(self._run(pipe, arguments, progress, should_cancel)):
                last.append(frame)
                repeated = tail is not None and position < overlap  # the frames it was conditioned on
                if not repeated and made < plan.frames:
                    yield frame
                    made += 1
            tail = [Image.fromarray(frame) for frame in last]
