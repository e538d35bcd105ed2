"""HunyuanVideo 1.5 (diffusers' HunyuanVideo15Pipeline and HunyuanVideo15ImageToVideoPipeline): what
its pipelines do differently from the other families', handled around one call by `run`.

- No `callback_on_step_end`: the scheduler's `step`, which the pipeline calls once per denoising step
  with that step's new latents, is wrapped for the run, so progress, the preview latents and cancel
  work as with the other families (cancel raises inside the loop, before the VAE decode).
- No `guidance_scale` argument: classifier-free guidance is the pipeline's `guider` component. Its
  scale is set to the plan's guidance for the run (the model's published one unless asked) and put back.
- A negative prompt acts only while guidance is on (a scale other than 1): with guidance 1 (the
  default of the distilled models) it is refused, never silently ignored.
- Image-to-video takes no size: it draws the size nearest the image's aspect at its trained
  resolution (the transformer's `target_size`). ungated reads the image at the planned size, one of
  the model's native sizes, chosen among the sizes it draws; any other is refused, never changed.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

from ...errors import InvalidRequest


def run(pipe, arguments: dict, step_end) -> None:
    """One call of `pipe` with ungated's arguments; step_end(pipe, index, timestep, {"latents": ...})
    after each denoising step, as diffusers' step callbacks are called."""
    arguments = dict(arguments)
    scale = arguments.pop("guidance_scale")
    if arguments.get("negative_prompt") and math.isclose(scale, 1.0):
        raise InvalidRequest("negative_prompt", "HunyuanVideo 1.5 uses a negative prompt only with guidance above 1 "
                                                "(this model's is 1: its guidance is distilled in); add --guidance, "
                                                "e.g. 6, at twice the work per step, or leave the negative prompt out")
    if "image" in arguments:
        height, width = arguments.pop("height"), arguments.pop("width")
        drawn = pipe.video_processor.calculate_default_height_width(height, width, pipe.target_size)
        if tuple(drawn) != (height, width):
            raise InvalidRequest("size", f"HunyuanVideo 1.5 image-to-video draws {drawn[1]}x{drawn[0]} from a "
                                         f"{width}x{height} image, not {width}x{height}; ask for a native size")
    with _guidance(pipe.guider, scale), _steps(pipe, step_end):
        pipe(**arguments)


@contextmanager
def _guidance(guider, scale: float):
    if not hasattr(guider, "guidance_scale"):
        raise InvalidRequest("guidance", f"this folder's guider ({type(guider).__name__}) has no guidance scale "
                                         "ungated can set")
    published = guider.guidance_scale
    guider.guidance_scale = scale
    try:
        yield
    finally:
        guider.guidance_scale = published


@contextmanager
def _steps(pipe, step_end):
    """The scheduler's step, reporting the latents it returns (an instance attribute shadows the method)."""
    scheduler = pipe.scheduler
    shadowed = scheduler.__dict__.get("step")  # someone else's wrapper, kept
    step, done = scheduler.step, 0

    def reported(model_output, timestep, sample, *args, **kwargs):
        nonlocal done
        output = step(model_output, timestep, sample, *args, **kwargs)
        step_end(pipe, done, timestep, {"latents": output[0] if isinstance(output, tuple) else output.prev_sample})
        done += 1
        return output

    scheduler.step = reported
    try:
        yield
    finally:
        if shadowed is None:
            del scheduler.step
        else:
            scheduler.step = shadowed
