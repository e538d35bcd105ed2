"""What differs between the open-model families, as data: which diffusers pipeline does each task,
and the few call arguments that are named or set differently.

Tasks: "t2v" text to video, "i2v" image (+ text) to video, "v2v" restyle an input video
(strength), "extend" condition on frames at chosen indices (continue a clip from its last frames,
end on a given frame), "flf2v" from a first frame to a last one.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Family:
    name: str
    pipelines: dict[str, str]  # task -> diffusers pipeline class name
    # The transformer config key holding how many prompt tokens it was trained with, if the
    # pipeline must be told (CogVideoX's positional embeddings cover exactly that many).
    text_length_key: str | None = None
    fps_argument: str | None = None  # pipelines that condition on the frame rate
    call_arguments: dict[str, object] = field(default_factory=dict)
    strength: float = 0.8  # v2v: how much of the input video is re-noised
    # guidance_scale is the guidance a distilled model was trained to embed, and a negative prompt acts
    # only through true classifier-free guidance (true_cfg_scale > 1), at twice the transformer work.
    embedded_guidance: bool = False
    latent_layout: str = "bcfhw"  # how the pipeline holds its latents while sampling (see engines.preview)
    # How the weights folder is laid out: "diffusers" (model_index.json and one folder per
    # component), or a family's own published layout that its own engine reads.
    layout: str = "diffusers"
    # The pipeline's own names for ungated's call arguments (Sana-Video: "frames" for "num_frames"),
    # and what it takes for an argument ungated leaves unset (None) where it does not accept None.
    argument_names: dict[str, str] = field(default_factory=dict)
    unset_arguments: dict[str, object] = field(default_factory=dict)
    # Components published as a multimodal processor that the pipeline only ever calls with text:
    # loaded as the processor's tokenizer alone (see processors.py).
    text_only_processors: tuple[str, ...] = ()
    # Guidance is the pipeline's `guider` component, and the pipeline takes no step callback and no
    # guidance_scale: hunyuan15.run makes the call (HunyuanVideo 1.5).
    guider: bool = False
    # The pipeline samples the clip chunk by chunk and decodes each chunk before sampling the next
    # (Helios): its decodes are let happen and each chunk's frames streamed out (streaming.py).
    decodes_while_sampling: bool = False

    def pipeline_arguments(self, arguments: dict) -> dict:
        """ungated's call arguments as this family's pipeline takes them."""
        filled = {name: self.unset_arguments[name] if value is None and name in self.unset_arguments else value
                  for name, value in arguments.items()}
        return {self.argument_names.get(name, name): value for name, value in filled.items()}


COGVIDEOX = Family(
    name="CogVideoX",
    pipelines={"t2v": "CogVideoXPipeline", "i2v": "CogVideoXImageToVideoPipeline",
               "v2v": "CogVideoXVideoToVideoPipeline"},
    text_length_key="max_text_seq_length",
    latent_layout="bfchw",
)
MOCHI = Family(name="Mochi", pipelines={"t2v": "MochiPipeline"})
LTX = Family(
    name="LTX-Video",
    pipelines={"t2v": "LTXPipeline", "i2v": "LTXImageToVideoPipeline", "extend": "LTXConditionPipeline"},
    fps_argument="frame_rate",
    latent_layout="packed",
)
WAN = Family(
    name="Wan",
    pipelines={"t2v": "WanPipeline", "i2v": "WanImageToVideoPipeline", "v2v": "WanVideoToVideoPipeline",
               "flf2v": "WanImageToVideoPipeline"},  # with last_image
)
HUNYUAN = Family(
    name="HunyuanVideo",
    pipelines={"t2v": "HunyuanVideoPipeline", "i2v": "HunyuanVideoImageToVideoPipeline"},
    embedded_guidance=True,
)

# Not on diffusers: ungated's own implementation (engines/pyramid_flow) reads the published folders.
PYRAMID_FLOW = Family(name="Pyramid Flow", pipelines={}, layout="pyramid-flow")

FAMILIES = {f.name: f for f in (COGVIDEOX, MOCHI, LTX, WAN, HUNYUAN, PYRAMID_FLOW)}

# Wan relatives with pipelines of their own. VACE: its video, mask and reference-image inputs are
# left for editing tools; ungated runs its text-to-video path. SkyReels V2's diffusion forcing makes
# a clip longer than one pass (base_num_frames) itself, each later pass conditioned on the last
# `overlap_history` frames of the one before, slightly re-noised (addnoise_condition), as its authors
# recommend for long clips (see forcing.py).
WAN_VACE = Family(name="Wan VACE", pipelines={"t2v": "WanVACEPipeline"})
SKYREELS_V2 = Family(name="SkyReels V2", pipelines={"t2v": "SkyReelsV2DiffusionForcingPipeline"}, fps_argument="fps",
                     call_arguments={"overlap_history": 17, "addnoise_condition": 20})
FAMILIES.update({f.name: f for f in (WAN_VACE, SKYREELS_V2)})

# Kandinsky 5: a Qwen2.5-VL text encoder whose published tokenizer folder is a Qwen2-VL processor;
# its latents are [batch, frames, height, width, channels] while sampling.
KANDINSKY5 = Family(name="Kandinsky 5", pipelines={"t2v": "Kandinsky5T2VPipeline"}, latent_layout="bfhwc",
                    text_only_processors=("tokenizer",))
# Sana-Video: its pipeline calls the frame count `frames`, takes "" (not None) for no negative prompt,
# and by default snaps the size to its nearest trained aspect bin; ungated asks for the exact size.
SANA_VIDEO = Family(name="Sana-Video", pipelines={"t2v": "SanaVideoPipeline"},
                    argument_names={"num_frames": "frames"}, unset_arguments={"negative_prompt": ""},
                    call_arguments={"use_resolution_binning": False})
FAMILIES.update({f.name: f for f in (KANDINSKY5, SANA_VIDEO)})

# HunyuanVideo 1.5: a new transformer, VAE and text encoders (Qwen2.5-VL, byT5), not HunyuanVideo's.
HUNYUAN15 = Family(
    name="HunyuanVideo 1.5",
    pipelines={"t2v": "HunyuanVideo15Pipeline", "i2v": "HunyuanVideo15ImageToVideoPipeline"},
    guider=True,
)
FAMILIES[HUNYUAN15.name] = HUNYUAN15

# Helios: autoregressive, 33 frames (9 latent frames) a chunk, each sampled on a compressed history of
# all the chunks before and decoded before the next: its frames stream out chunk by chunk
# (streaming.py). Image-to-video is the same pipeline given an image. Its "video-to-video" continues a
# video rather than restyling it, so it is not offered as ungated's v2v. The pyramid pipeline
# (Helios-Distilled, Helios-Mid) samples each chunk in three stages, from a quarter of the size up.
HELIOS = Family(name="Helios", pipelines={"t2v": "HeliosPipeline", "i2v": "HeliosPipeline"},
                decodes_while_sampling=True)
HELIOS_PYRAMID = Family(name="Helios pyramid", decodes_while_sampling=True,
                        pipelines={"t2v": "HeliosPyramidPipeline", "i2v": "HeliosPyramidPipeline"})
FAMILIES.update({f.name: f for f in (HELIOS, HELIOS_PYRAMID)})


def leading_frames_dropped(pipe) -> int:
    """Frames a pipeline decodes and then drops from the start of its clip. HunyuanVideo's
    image-to-video with a latent-concat transformer (33 input channels) drops the first latent
    frame's worth (4 frames: the image and what follows it) after its own `vae.decode`."""
    if type(pipe).__name__ == "HunyuanVideoImageToVideoPipeline" and \
            pipe.transformer.config.get("image_condition_type") == "latent_concat":
        return pipe.vae_scale_factor_temporal
    return 0
