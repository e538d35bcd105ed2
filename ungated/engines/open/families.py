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

def leading_frames_dropped(pipe) -> int:
    """Frames a pipeline decodes and then drops from the start of its clip. HunyuanVideo's
    image-to-video with a latent-concat transformer (33 input channels) drops the first latent
    frame's worth (4 frames: the image and what follows it) after its own `vae.decode`."""
    if type(pipe).__name__ == "HunyuanVideoImageToVideoPipeline" and \
            pipe.transformer.config.get("image_condition_type") == "latent_concat":
        return pipe.vae_scale_factor_temporal
    return 0
