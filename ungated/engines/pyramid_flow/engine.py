"""The Pyramid Flow engine: text-to-video and image-to-video from the published miniFLUX weights.

    weights folder (as published)      what reads it
    diffusion_transformer_384p/        transformer.PyramidFluxTransformer (640x384, up to 5 s)
    diffusion_transformer_768p/        the same at 1280x768 (up to 10 s)
    causal_video_vae/                  vae.CausalVideoVAE
    text_encoder/, tokenizer/          CLIP-L (pooled)      } text.TextEncoders
    text_encoder_2/, tokenizer_2/      T5-XXL (states)      }

A clip of 1 + 8k frames is k + 1 latent frames, made one after another by sampler.sample_frame
(three spatial stages each), then decoded causally in chunks and streamed out frame by frame.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ...errors import GenerationCancelled, InvalidRequest
from ...media.inputs import read_image
from ..base import CancelFn, EngineOptions, ProgressFn
from ..open import directing, hub, memory
from ..open.catalog_engine import CatalogEngine
from ..open.models import OpenModel
from ..preview import false_colour
from .sampler import first_noise, sample_frame
from .text import DEFAULT_NEGATIVE, PROMPT_SUFFIX, TextEncoders

# The latent normalisation the transformer was trained with: the first frame (an image on its
# own) and the later frames have their own statistics.
IMAGE_SHIFT, IMAGE_SCALE = -0.04, 1 / 1.8726
VIDEO_SHIFT, VIDEO_SCALE = -0.2343, 1 / 3.0986
FRAMES_PER_LATENT = 8
# The published settings sample later frames with half the first frame's steps: the same ratio
# applies to what a request asks for.
VIDEO_STEPS_RATIO = 0.5
# The authors' published guidance per transformer and task: (first frame, later frames). Image-to-video
# never guides its first frame (the image is it); 7 there is the catalog's default guidance, so a
# default request gets the published 4. A request's guidance scales the later frames' by the same ratio.
PUBLISHED_GUIDANCE = {("384p", "t2v"): (7.0, 5.0), ("768p", "t2v"): (9.0, 5.0),
                      ("384p", "i2v"): (7.0, 4.0), ("768p", "i2v"): (7.0, 4.0)}
DECODE_TILE = 32  # latent pixels: 256-pixel tiles when VAE tiling is on


class PyramidFlowEngine(CatalogEngine):
    def __init__(self, model: OpenModel, model_path: Path | None = None, options: EngineOptions = EngineOptions(),
                 hardware: memory.Hardware | None = None):
        for flag, asked in (("--cache", options.cache != "none"), ("--compile", options.compile),
                            ("--attention", options.attention is not None)):
            if asked:
                raise InvalidRequest(flag, f"not available for {model.id} (its engine is ungated's own, not diffusers')")
        super().__init__(model, model_path, options, hardware)
        self.folder: Path | None = None
        self.text: TextEncoders | None = None
        self.vae = None
        self.transformers: dict[str, torch.nn.Module] = {}  # "384p" / "768p", loaded when first asked for
        self._sampling: torch.Tensor | None = None  # the latent frame being sampled, for previews

    @property
    def device(self) -> torch.device:
        return torch.device(self.hardware.kind) if self.hardware.accelerator else torch.device("cpu")

    def setup_notes(self) -> list[str]:
        return [self.memory.describe()]

    def load(self) -> None:
        if self.text is not None:
            return
        from .vae import CausalVideoVAE

        self.folder = hub.require_weights(self.model, self.model_path)
        _quiet()
        text = TextEncoders(self.folder, self.dtype, self._quantization("transformers"))
        vae_folder = self.folder / "causal_video_vae"  # published as a pickled .bin; a converted copy may be safetensors
        self.vae = CausalVideoVAE.from_pretrained(vae_folder, dtype=self.dtype, use_safetensors=any(
            vae_folder.glob("*.safetensors"))).eval()
        self._place(self.vae)
        self._place(text.clip)
        self._place(text.t5, big=True)
        self.text = text

    def transformer(self, width: int, height: int) -> torch.nn.Module:
        """The transformer trained at this size (see `variant`)."""
        from .transformer import PyramidFluxTransformer

        variant = variant_for(width, height)
        if variant not in self.transformers:
            folder = self.folder / f"diffusion_transformer_{variant}"
            if not (folder / "config.json").is_file():
                raise InvalidRequest("size", f"{width}x{height} needs {folder.name}/ in {self.folder}, which is missing")
            net = PyramidFluxTransformer.from_pretrained(folder, dtype=self.dtype,
                                                         quantization_config=self._quantization("diffusers")).eval()
            if self.memory.fp8:
                net.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=self.dtype)
            self._place(net, big=True)
            self.transformers = {variant: net}  # one at a time: two would rarely fit together
        return self.transformers[variant]

    def _quantization(self, library: str):
        """A bitsandbytes config for the big modules (the transformer, T5) when the plan quantizes."""
        if self.memory.quantize is None:
            return None
        _, settings = memory.bitsandbytes_settings(self.memory.quantize, self.dtype)
        if library == "diffusers":
            from diffusers import BitsAndBytesConfig
        else:
            from transformers import BitsAndBytesConfig
        return BitsAndBytesConfig(**settings)

    def _place(self, module: torch.nn.Module, big: bool = False) -> None:
        """Where a module lives between uses: on the device, or (model offload) on the CPU until
        used; big modules stream their weights in (group or sequential offload)."""
        mode = self.memory.mode
        if big and mode == "group":
            from diffusers.hooks import apply_group_offloading

            apply_group_offloading(module, onload_device=self.device, offload_type="leaf_level", use_stream=True)
        elif big and mode == "sequential":
            from accelerate import cpu_offload

            cpu_offload(module, execution_device=self.device)
        elif mode != "model" and not getattr(module, "is_loaded_in_4bit", False):
            module.to(self.device)

    @contextmanager
    def _using(self, *modules: torch.nn.Module):
        """With model offload, the modules on the device for the block, then back on the CPU."""
        if self.memory.mode != "model":
            yield
            return
        for module in modules:
            module.to(self.device)
        try:
            yield
        finally:
            for module in modules:
                module.to("cpu")
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def preview(self) -> np.ndarray | None:
        return None if self._sampling is None else false_colour(self._sampling[0, :, 0])

    @torch.inference_mode()
    def generate(self, plan, seed: int, on_progress: ProgressFn, should_cancel: CancelFn) -> Iterator[np.ndarray]:
        self.load()
        if should_cancel():
            raise GenerationCancelled
        request = plan.request
        # A continuation (extend, re-cut, follows) is image-to-video from its source's last frame,
        # which is not written again.
        ends = directing.read_ends(plan, 1)
        for kept in ends.kept:
            yield np.asarray(kept)
        first = ends.context[-1] if ends.context else None
        if request.image:
            first = read_image(request.image, plan.width, plan.height)
        length, positions = directing.one_pass(self.model.frames, plan.frames, len(ends.context), False)
        latent_frames = 1 + (length - 1) // FRAMES_PER_LATENT
        video_steps = max(1, round(plan.steps * VIDEO_STEPS_RATIO))
        image = first is not None
        total = (0 if image else 3 * plan.steps) + (latent_frames - 1) * 3 * video_steps
        done = 0

        def step() -> None:
            nonlocal done
            done += 1
            on_progress(done, total)
            if should_cancel():
                raise GenerationCancelled

        with self._using(*self.text.modules()):
            negative = request.negative_prompt or DEFAULT_NEGATIVE
            text = self.text.encode([negative, request.plain_prompt() + PROMPT_SUFFIX], self.device)
        net = self.transformer(plan.width, plan.height)
        generator = torch.Generator("cpu").manual_seed(seed)  # the same noise for a seed on any device
        channels = net.latent_channels
        ratio = self.vae.spatial_ratio
        noise = first_noise((1, channels, latent_frames, plan.height // ratio, plan.width // ratio), generator,
                            self.dtype).to(self.device)
        if image:
            with self._using(self.vae):
                generated = self._encode_image(first, generator)
        else:
            with self._using(net):
                generated = self._frame(net, text, plan.guidance, noise[:, :, :1], None, plan.steps, generator, step)
        with self._using(net):
            for index in range(1, latent_frames):
                frame = self._frame(net, text, video_guidance(plan.guidance, plan.width, plan.height, image),
                                    noise[:, :, index:index + 1], generated, video_steps, generator, step)
                generated = torch.cat([generated, frame], dim=2)
        self._sampling = None
        with self._using(self.vae):
            yield from self._decode(generated, positions, should_cancel)

    def _frame(self, net, text, guidance: float, noise, past, steps: int, generator, step) -> torch.Tensor:
        states, mask, pooled = text

        def denoise(latents: torch.Tensor, timestep: torch.Tensor, clips: list[torch.Tensor]) -> torch.Tensor:
            self._sampling = latents
            pair = [torch.cat([clip] * 2) for clip in (*clips, latents)]  # [negative, positive]
            velocity = net(pair, timestep.repeat(2).to(latents.dtype), states, mask, pooled)
            uncond, cond = velocity.chunk(2)
            return uncond + guidance * (cond - uncond)

        return sample_frame(denoise, noise, past, steps, generator, step)

    def _encode_image(self, image: Image.Image, generator: torch.Generator) -> torch.Tensor:
        pixels = torch.from_numpy(np.array(image.convert("RGB"))).float()
        pixels = (pixels / 127.5 - 1).permute(2, 0, 1)[None, :, None].to(self.device, self.dtype)
        latent = self.vae.encode(pixels, generator)
        return (latent - IMAGE_SHIFT) * IMAGE_SCALE

    def _decode(self, generated: torch.Tensor, positions: list[int], should_cancel: CancelFn) -> Iterator[np.ndarray]:
        """The decoded frames at these positions, in order."""
        z = torch.cat([generated[:, :, :1] / IMAGE_SCALE + IMAGE_SHIFT,
                       generated[:, :, 1:] / VIDEO_SCALE + VIDEO_SHIFT], dim=2)
        wanted = Counter(positions)
        position = 0
        tile = DECODE_TILE if self.memory.vae_tiling else None
        for chunk in self.vae.decode_chunks(z, window=1, tile=tile):
            pixels = (chunk[0].float() * 127.5 + 127.5).clamp(0, 255).round().to(torch.uint8)
            for frame in pixels.permute(1, 2, 3, 0).cpu().numpy():
                for _ in range(wanted[position]):
                    yield frame
                position += 1
            if should_cancel():
                raise GenerationCancelled


def variant_for(width: int, height: int) -> str:
    """The transformer trained at this size: 768p for anything larger than 384p."""
    return "768p" if min(width, height) > 384 else "384p"


def video_guidance(guidance: float, width: int, height: int, image: bool) -> float:
    """The guidance of the frames after the first: the published value, scaled as the request's
    guidance is to the published first frame's (a request at the published settings gets them)."""
    first, later = PUBLISHED_GUIDANCE[variant_for(width, height), "i2v" if image else "t2v"]
    return later * guidance / first


def _quiet() -> None:
    import diffusers
    import transformers

    for library in (diffusers, transformers):
        library.utils.logging.disable_progress_bar()
        library.utils.logging.set_verbosity_error()
