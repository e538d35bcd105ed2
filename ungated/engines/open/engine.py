"""One engine for every open model on diffusers: the catalog row and its family say what differs.

    >>> engine = OpenModelEngine(OPEN_MODELS["wan2.1-t2v-1.3b"])
    >>> engine.load()          # finds the weights, picks a memory mode, applies speed options
    >>> frames = engine.generate(plan, seed=7, on_progress=print, should_cancel=lambda: False)
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import replace
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ...errors import GenerationCancelled
from ...media.inputs import read_image
from ..base import CancelFn, EngineOptions, ProgressFn
from ..preview import false_colour, middle_latent_frame
from . import decode, directing, forcing, hub, hunyuan15, laptop, memory, processors, speed, streaming
from .catalog_engine import CatalogEngine
from .families import leading_frames_dropped
from .loras import LoraSlots
from .models import OpenModel


class _Stop(Exception):
    """Raised from the step callback so the pipeline never reaches its VAE decode."""


def pick_task(image: Path | None, video: Path | None) -> str:
    return "v2v" if video else "i2v" if image else "t2v"


class OpenModelEngine(CatalogEngine):
    def __init__(self, model: OpenModel, model_path: Path | None = None, options: EngineOptions = EngineOptions(),
                 hardware: memory.Hardware | None = None):
        speed.check(options, model.family)
        super().__init__(model, model_path, options, hardware)
        self.pipe = None  # the pipeline of the task last run; others are built from its components
        self.weights: Path | None = None  # the folder loaded
        self.loras = LoraSlots()
        self._latents: tuple | None = None  # while sampling: (latents, height, width, spatial ratio)

    def setup_notes(self) -> list[str]:
        setup = self.laptop.describe() if self.laptop else self.memory.describe()
        precision = (f"precision: float16 ({self.model.id} is published in bfloat16, which Apple GPUs run from "
                     "macOS 14 on)" if self.dtype == torch.float16 and self.model.dtype == "bfloat16" else "")
        return [line for line in (setup, precision, speed.describe(self.options)) if line]

    def load(self) -> None:
        if self.pipe is not None:
            return
        if self.laptop:
            laptop.check_fits(self.model, self.laptop)  # before reading any weights
            torch.set_num_threads(self.laptop.threads)
        folder = hub.require_weights(self.model, self.model_path)
        quantization = memory.quantization_config(self.memory, list(self.model.params), self.dtype)
        # Laptop mode loads the text encoders for each clip, apart from the denoiser (laptop.encode_prompt).
        left_out = laptop.text_encoders_left_out(folder) if self.encodes_apart else {}
        pipe = hub.load_pipeline(folder, self.dtype, lora=hub.require_lora(self.model),
                                 quantization_config=quantization, **left_out,
                                 **processors.left_out(self.model.family))
        processors.attach_tokenizers(pipe, self.model.family, folder)
        memory.apply(pipe, self.memory, self.hardware)
        if self.laptop and self.memory.vae_tiling:
            laptop.tile_for_laptop(pipe.vae)
        speed.apply(pipe, self.options)
        self.pipe = pipe
        self.weights = folder

    @property
    def encodes_apart(self) -> bool:
        return self.laptop is not None and laptop.frees_text_encoders(self.model)

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

    def call_arguments(self, plan, seed: int, task: str, pipe, image=None) -> dict:
        """The pipeline's arguments for a plan and task; image: the first frame for "i2v" where it is
        not the request's (a continuation starts from its source's last frame)."""
        request = plan.request
        family = self.model.family
        arguments = {
            "prompt": request.plain_prompt(), "negative_prompt": request.negative_prompt or None,
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
        if family.embedded_guidance and request.negative_prompt:
            # The negative prompt needs true classifier-free guidance; it takes over from the embedded
            # guidance, as diffusers advises against both at once.
            arguments |= {"true_cfg_scale": plan.guidance, "guidance_scale": 1.0}
        if "guidance_scale_2" in arguments and request.guidance is not None:
            arguments["guidance_scale_2"] = plan.guidance  # a request's guidance reaches both experts
        if task == "i2v":
            arguments["image"] = image if image is not None else read_image(request.image, plan.width, plan.height)
            arguments["num_frames"] += leading_frames_dropped(pipe)  # so that the planned frames remain
        if task == "v2v":
            arguments["video"] = directing.read_edit(plan, self.model.frames[1])
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
        on_progress = forcing.prepare(pipe, arguments, on_progress)  # SkyReels V2: its noise seeded, passes counted
        if self.model.family.decodes_while_sampling:  # Helios: steps counted over all chunks
            on_progress = streaming.counted(pipe, arguments, on_progress)
        speed.before_run(pipe, self.options, self.model.family, arguments)
        if self.encodes_apart:
            arguments = laptop.encode_prompt(pipe, self.model.family.name, self.weights, arguments, self.dtype)
        try:
            if self.model.family.decodes_while_sampling:  # each chunk's frames out as soon as it is decoded
                yield from streaming.run(pipe, arguments, step_end)
                return
            with decode.intercepted(pipe.vae):
                if self.model.family.guider:  # no step callback, guidance in a component
                    hunyuan15.run(pipe, arguments, step_end)
                else:
                    pipe(**self.model.family.pipeline_arguments(arguments), callback_on_step_end=step_end)
            raise RuntimeError(f"{type(pipe).__name__} finished without decoding its latents")
        except _Stop:
            raise GenerationCancelled from None
        except decode.DecodeCall as intercepted:
            call = intercepted
        finally:
            self._latents = None
        try:
            frames = len(arguments.get("video") or ()) or arguments["num_frames"]
            clip = decode.stream(pipe.vae, call, frames, arguments["width"] * arguments["height"], should_cancel)
            yield from islice(clip, leading_frames_dropped(pipe), None)  # as the pipeline drops them after decoding
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
        by_segments = "extend" in self.model.tasks  # LTX-Video's condition pipeline: frames at any index
        ends = directing.read_ends(plan, self.model.extend_overlap if by_segments else 1)
        for image in ends.kept:
            yield np.asarray(image)
        if by_segments and (ends.directed or plan.frames > self.model.frames[2]):
            yield from self._segments(plan, seed, task, ends, on_progress, should_cancel)
        elif ends.directed:
            yield from self._pinned(plan, seed, ends, on_progress, should_cancel)
        else:
            pipe = self.pipeline_for(task)
            yield from self._run(pipe, self.call_arguments(plan, seed, task, pipe), on_progress, should_cancel)
        for image in directing.trailing(plan):
            yield np.asarray(image)

    def _pinned(self, plan, seed: int, ends: directing.Ends, on_progress: ProgressFn,
                should_cancel: CancelFn) -> Iterator[np.ndarray]:
        """One image-to-video pass from the source's last frame (a continuation: that frame is not
        written again) or the loop's image; with an end frame (first-last-frame models), it ends
        on that frame, which is not written either."""
        skip = 1 if ends.context else 0
        pinned_end = ends.end is not None
        length, positions = directing.one_pass(self.model.frames, plan.frames, skip, pinned_end)
        pipe = self.pipeline_for("flf2v" if pinned_end else "i2v")
        first = ends.context[-1] if ends.context else ends.start
        arguments = self.call_arguments(replace(plan, frames=length), seed, "i2v", pipe, image=first)
        if pinned_end:
            arguments["last_image"] = ends.end
        wanted = Counter(positions)  # a position spread over more frames than the pass made is shown twice
        for position, frame in enumerate(self._run(pipe, arguments, on_progress, should_cancel)):
            for _ in range(wanted[position]):
                yield frame

    def _segments(self, plan, seed: int, task: str, ends: directing.Ends, on_progress: ProgressFn,
                  should_cancel: CancelFn) -> Iterator[np.ndarray]:
        """The new frames pass by pass (directing.segments), each streamed out as soon as it is
        decoded. The condition pipeline places each condition at a frame index: the context (the
        last frames of the source, then of the pass before) at 0, the loop's image at 0, and the end
        frame just after the new frames. A first pass with none of these runs the task's own pipeline."""
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

        rule, overlap = self.model.frames, self.model.extend_overlap
        context = ends.context[-directing.context_length(rule, overlap, len(ends.context)):] if ends.context else []
        passes = directing.segments(rule, plan.frames, overlap, len(context), ends.end is not None)
        for index, segment in enumerate(passes):
            def progress(done: int, total: int, index=index) -> None:
                on_progress(index * total + done, len(passes) * total)

            conditions = [LTXVideoCondition(video=context, frame_index=0, strength=1.0)] if context else []
            if index == 0 and ends.start is not None:
                conditions.append(LTXVideoCondition(image=ends.start, frame_index=0, strength=1.0))
            if segment.end_at is not None:
                conditions.append(LTXVideoCondition(image=ends.end, frame_index=segment.end_at, strength=1.0))
            segment_plan = replace(plan, frames=segment.length)
            if conditions:
                pipe = self.pipeline_for("extend")
                arguments = self.call_arguments(segment_plan, seed + index, "t2v", pipe) | {"conditions": conditions}
            else:
                pipe = self.pipeline_for(task)
                arguments = self.call_arguments(segment_plan, seed + index, task, pipe)
            last = deque(maxlen=overlap)
            for position, frame in enumerate(self._run(pipe, arguments, progress, should_cancel)):
                last.append(frame)
                if segment.skip <= position < segment.skip + segment.write:
                    yield frame
            context = [Image.fromarray(frame) for frame in last]
