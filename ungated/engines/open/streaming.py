"""Pipelines that decode as they sample (Helios): the clip is made chunk after chunk, each chunk
sampled on the ones before and decoded by the pipeline itself before the next is sampled. Instead
of stopping the pipeline at its first `vae.decode` (decode.py), ungated lets every decode happen and
streams each chunk's frames out as it comes, so the first frames are written while the later
chunks are still being sampled: that is what makes such a model a streaming one.

    >>> for frame in run(pipe, arguments, step_end):   # uint8 [height, width, 3], chunk by chunk
    ...     writer.write(frame)

The pipeline runs on a thread of its own. Whatever touches ungated's state runs on the caller's
thread: the step callback (progress, preview, cancel) and the frames. The pipeline thread waits at
each step until the caller has handled it, so cancelling still stops it between two steps, and a
caller that stops reading stops it at the next step or decode.

HeliosPyramidPipeline (Helios-Distilled, Helios-Mid) samples each chunk in pyramid stages, from a
quarter of the size up; a request's steps are its steps per stage, as its authors publish them
(`pyramid_num_inference_steps_list`, e.g. [2, 2, 2]).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

import numpy as np
import torch

from ..base import ProgressFn
from .decode import to_uint8

PYRAMID = "HeliosPyramidPipeline"


class _Abandoned(Exception):
    """Raised in the pipeline thread when the caller has stopped (cancelled, failed or stopped reading)."""


def pipeline_arguments(pipe, arguments: dict) -> dict:
    """The pipeline's own arguments: a pyramid pipeline takes its steps per stage, and every chunk's
    decoded frames are streamed out here, so the pipeline is asked for latents only (it decodes each
    chunk all the same, and keeps no clip of its own to post-process)."""
    arguments = {**arguments, "output_type": "latent"}
    if type(pipe).__name__ == PYRAMID:
        steps = arguments.pop("num_inference_steps")
        arguments["pyramid_num_inference_steps_list"] = [steps] * pipe.scheduler.config.stages
    return arguments


def chunk_frames(pipe, arguments: dict) -> int:
    """Frames one chunk decodes to (33 for Helios's 9 latent frames a chunk)."""
    latent_frames = arguments.get("num_latent_frames_per_chunk", 9)
    return (latent_frames - 1) * pipe.vae_scale_factor_temporal + 1


def chunks(pipe, arguments: dict) -> int:
    """How many chunks the pipeline samples for these arguments (its own arithmetic)."""
    return max(1, -(-arguments["num_frames"] // chunk_frames(pipe, arguments)))


def clip_frames(pipe, arguments: dict) -> int:
    """Frames of the pipeline's clip: its chunks' frames, cut to a whole number of latent frames as
    the pipeline cuts them after decoding (33, 65, 97, 129, then 165 for 5 chunks)."""
    decoded, ratio = chunks(pipe, arguments) * chunk_frames(pipe, arguments), pipe.vae_scale_factor_temporal
    return (decoded - 1) // ratio * ratio + 1


def planned_steps(pipe, arguments: dict) -> int:
    """Steps over all chunks. A distilled pyramid pipeline with `is_amplify_first_chunk` samples its
    first chunk with twice the steps."""
    if type(pipe).__name__ != PYRAMID:
        return chunks(pipe, arguments) * arguments["num_inference_steps"]
    per_chunk = arguments["num_inference_steps"] * pipe.scheduler.config.stages
    amplified = arguments.get("is_amplify_first_chunk", False) and pipe.config.get("is_distilled", False)
    return (chunks(pipe, arguments) + amplified) * per_chunk


def counted(pipe, arguments: dict, on_progress: ProgressFn) -> ProgressFn:
    """Progress as one count over all chunks (and pyramid stages), each of which the pipeline counts
    afresh, so that the progress bar and its ETA cover the whole clip."""
    total, done = planned_steps(pipe, arguments), 0

    def progress(_step: int, _total: int) -> None:
        nonlocal done
        done += 1
        on_progress(done, total)

    return progress


def run(pipe, arguments: dict, step_end: Callable) -> Iterator[np.ndarray]:
    """One pipeline call, its frames yielded chunk by chunk as uint8 [height, width, 3]: the first
    `num_frames` of the pipeline's own clip (clip_frames), which holds exactly that many for 33, 65,
    97 or 129 frames and a few more (4 to 12, the end of its last chunk) for longer clips.
    step_end(pipeline, index, timestep, tensors) runs on the caller's thread at every step; whatever
    it raises stops the pipeline and is raised here."""
    events: queue.Queue = queue.Queue()  # from the pipeline thread: ("step" | "frames" | "done" | "error", ...)
    replies: queue.Queue = queue.Queue()  # to it, after each step: the callback's tensors, or None to stop
    stopping = threading.Event()
    threads = torch.get_num_threads()  # torch's thread count is per thread: the same as the caller's
    remaining = min(clip_frames(pipe, arguments), arguments["num_frames"])
    shadowed, own_decode = pipe.vae.__dict__.get("decode"), pipe.vae.decode  # someone else's wrapper kept

    def relay(pipeline, index: int, timestep, tensors: dict) -> dict:
        events.put(("step", (pipeline, index, timestep, tensors)))
        tensors = replies.get()
        if tensors is None:
            raise _Abandoned
        return tensors

    def decode(latents, *args, **kwargs):
        if stopping.is_set():
            raise _Abandoned
        decoded = own_decode(latents, *args, **kwargs)[0]
        events.put(("frames", to_uint8(decoded)))
        # The frames are handed on: the pipeline is given none to hold (a view would keep them all).
        return (decoded.new_empty((*decoded.shape[:2], 0, *decoded.shape[3:])),)

    def sample() -> None:
        torch.set_num_threads(threads)
        try:
            with torch.inference_mode():
                pipe(**pipeline_arguments(pipe, arguments), callback_on_step_end=relay)
            events.put(("done", None))
        except BaseException as error:  # handed to the caller's thread, raised there
            events.put(("error", error))

    pipe.vae.decode = decode  # an instance attribute shadows the class's method while the pipeline runs
    thread = threading.Thread(target=sample, name="ungated-streaming-pipeline", daemon=True)
    thread.start()
    try:
        while True:
            kind, payload = events.get()
            if kind == "step":
                try:
                    replies.put(step_end(*payload))
                except BaseException:
                    replies.put(None)
                    raise
            elif kind == "frames":
                for frame in payload[:remaining]:
                    remaining -= 1
                    yield frame
            elif kind == "error":
                raise payload
            else:
                return
    finally:
        stopping.set()
        while thread.is_alive() or not events.empty():  # let the pipeline thread unwind at its next step
            try:
                kind, _ = events.get(timeout=0.1)
            except queue.Empty:
                continue
            if kind == "step":
                replies.put(None)
        thread.join()
        if shadowed is None:
            del pipe.vae.decode
        else:
            pipe.vae.decode = shadowed
        pipe.maybe_free_model_hooks()
