"""The open-model catalog: one row per model id.

Each row says where the weights live on the Hugging Face hub, under which licence, what the model
makes natively (sizes, frame rule, fps), its recommended sampling settings, and its parameter
counts, from which download size and memory needs are estimated. Adding a model is adding a row.

`revision` is the hub revision `ungated models pull` fetches; the commit it resolved to is recorded
in UNGATED_HOME/models.lock.json and every later load reads exactly that commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ...request import MAX_SECONDS
from ..base import Capabilities
from .families import COGVIDEOX, HUNYUAN, LTX, MOCHI, PYRAMID_FLOW, WAN, Family

BYTES_PER_PARAM = 2  # weights are published in 16-bit precision


@dataclass(frozen=True)
class Licence:
    name: str
    restrictions: str = ""  # in a few words; empty when the licence adds none beyond attribution


APACHE = Licence("Apache-2.0")
COGVIDEOX_LICENCE = Licence("CogVideoX License", "commercial use needs registration with the authors")
LTXV_LICENCE = Licence("LTXV Open Weights License", "use restrictions; read before commercial use")
HUNYUAN_LICENCE = Licence(
    "Tencent Hunyuan Community License",
    "not licensed in the EU, UK or South Korea; over 100M monthly users needs a licence from Tencent",
)


@dataclass(frozen=True)
class OpenModel:
    id: str
    title: str
    family: Family
    repo: str
    licence: Licence
    tasks: tuple[str, ...]  # the first is what the folder's own pipeline does
    sizes: tuple[tuple[int, int], ...]  # native (width, height), the default first
    fps: int
    frames: tuple[int, int, int]  # (fewest, step, most): allowed counts are fewest + k * step
    default_frames: int
    steps: int
    guidance: float
    params: dict[str, float]  # billions of parameters per component
    # Activations and VAE decode at the default size, in GB: a rough allowance that memory
    # planning adds to the weights (see docs/open-models.md).
    working_gb: float
    dtype: str = "bfloat16"
    revision: str = "main"
    # Models with the "extend" task continue a clip from this many of its last frames, and make
    # clips longer than one pass, each further segment conditioned on as many of the one before.
    extend_overlap: int = 9
    call_arguments: dict[str, object] = field(default_factory=dict)
    # `ungated train lora` can train it (its family's trainer handles it; see train/lora_families.py).
    # Off for models whose shape that trainer does not handle yet: two transformer experts
    # (Wan 2.2 A14B), and CogVideoX 1.5's temporal patches (latent frames padded to even).
    lora_training: bool = True
    loras: bool = True  # applies LoRAs at generation (diffusers' adapters)
    published_gb: float | None = None  # what `models pull` fetches, where it is not the parameters in 16 bits
    # Laptop mode (no GPU): the size drawn by default, a small one at a native aspect the model
    # accepts; None: its default native size (see laptop.py).
    laptop: tuple[int, int] | None = None

    @property
    def download_gb(self) -> float:
        return self.published_gb or sum(self.params.values()) * BYTES_PER_PARAM

    @property
    def capabilities(self) -> Capabilities:
        width, height = self.sizes[0]
        fewest, step, most = self.frames
        if "extend" in self.tasks:  # segment by segment, up to the longest clip ungated makes
            most = fewest + (int(MAX_SECONDS * self.fps) - fewest) // step * step
        return Capabilities(
            sizes=self.sizes, fps=(self.fps,), default_fps=self.fps,
            frames_min=fewest, frames_step=step, frames_max=most,
            default_seconds=self.default_frames / self.fps,
            default_aspect="16:9" if width > height else "9:16" if height > width else "1:1",
            default_resolution=f"{min(width, height)}p" if min(width, height) in (360, 480, 720, 1080) else "480p",
            default_steps=self.steps, default_guidance=self.guidance, max_steps=200,
            image_input="i2v" in self.tasks, video_input="v2v" in self.tasks,
            image_required="i2v" in self.tasks and "t2v" not in self.tasks, loras=self.loras,
            **directing_verbs(self.tasks),
        )


def directing_verbs(tasks: tuple[str, ...]) -> dict[str, bool]:
    """Which directing verbs a model's tasks give it (engine.py makes each). Continuing a clip
    (extend, re-cut, a storyboard's next shot): LTX-Video's condition pipeline ("extend", from the
    clip's last frames) or any image-to-video pipeline (from its last frame alone). Loops and
    blends pin the end frame too: the condition pipeline (at any frame index) or Wan's
    first-last-frame model ("flf2v", which makes nothing else: it needs both frames); both loop
    from an image, ending on it."""
    pins_both_ends = "extend" in tasks or "flf2v" in tasks
    return {"extend_input": "extend" in tasks or "i2v" in tasks, "blend": pins_both_ends, "loop": pins_both_ends,
            "loop_needs_image": pins_both_ends, "ends_only": tasks == ("flf2v",)}


def both_ways(*sizes: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """Landscape sizes and their portrait twins, landscape first."""
    return tuple(sizes) + tuple((h, w) for w, h in sizes if w != h)


T5_XXL = 4.76  # T5 v1.1 XXL encoder, shared by CogVideoX, Mochi and LTX-Video
UMT5_XXL = 5.68  # Wan's text encoder

_COG_2B = dict(family=COGVIDEOX, sizes=((720, 480),), fps=8, frames=(49, 4, 49), default_frames=49, steps=50,
               guidance=6.0)
_COG_15 = dict(family=COGVIDEOX, sizes=((1360, 768),), fps=16, frames=(81, 80, 161), default_frames=81, steps=50,
               guidance=6.0, licence=COGVIDEOX_LICENCE, call_arguments={"use_dynamic_cfg": True}, lora_training=False)
_LTX = dict(family=LTX, licence=LTXV_LICENCE, sizes=both_ways((768, 512), (1216, 704)), fps=24, frames=(9, 8, 257),
            default_frames=121, call_arguments={"decode_timestep": 0.05, "decode_noise_scale": 0.025})
_WAN21 = dict(family=WAN, licence=APACHE, fps=16, frames=(5, 4, 81), default_frames=81, steps=50, guidance=5.0)
_WAN22_A14B = dict(family=WAN, licence=APACHE, fps=16, frames=(5, 4, 81), default_frames=81, steps=40,
                   sizes=both_ways((1280, 720), (832, 480)), lora_training=False)
_HUNYUAN = dict(family=HUNYUAN, licence=HUNYUAN_LICENCE, sizes=both_ways((1280, 720), (960, 544)), fps=24,
                frames=(5, 4, 129), default_frames=129, steps=50, guidance=6.0)

MODELS: tuple[OpenModel, ...] = (
    OpenModel("cogvideox-2b", "CogVideoX 2B", repo="THUDM/CogVideoX-2b", licence=APACHE, tasks=("t2v", "v2v"),
              params={"transformer": 1.69, "text_encoder": T5_XXL, "vae": 0.22}, working_gb=4, dtype="float16",
              **_COG_2B),
    OpenModel("cogvideox-5b", "CogVideoX 5B", repo="THUDM/CogVideoX-5b", licence=COGVIDEOX_LICENCE,
              tasks=("t2v", "v2v"), params={"transformer": 5.57, "text_encoder": T5_XXL, "vae": 0.22}, working_gb=6,
              call_arguments={"use_dynamic_cfg": True}, **_COG_2B),
    OpenModel("cogvideox-5b-i2v", "CogVideoX 5B image-to-video", repo="THUDM/CogVideoX-5b-I2V",
              licence=COGVIDEOX_LICENCE, tasks=("i2v",), params={"transformer": 5.57, "text_encoder": T5_XXL,
                                                                 "vae": 0.22},
              working_gb=6, call_arguments={"use_dynamic_cfg": True}, **_COG_2B),
    # No video-to-video: its pipeline needs an even latent count, and 81 or 161 frames give an odd one.
    OpenModel("cogvideox1.5-5b", "CogVideoX 1.5 5B", repo="THUDM/CogVideoX1.5-5B", tasks=("t2v",),
              params={"transformer": 5.57, "text_encoder": T5_XXL, "vae": 0.22}, working_gb=10, **_COG_15),
    OpenModel("cogvideox1.5-5b-i2v", "CogVideoX 1.5 5B image-to-video", repo="THUDM/CogVideoX1.5-5B-I2V",
              tasks=("i2v",), params={"transformer": 5.57, "text_encoder": T5_XXL, "vae": 0.22}, working_gb=10,
              **_COG_15),
    OpenModel("mochi-1", "Mochi 1 preview", family=MOCHI, repo="genmo/mochi-1-preview", licence=APACHE,
              tasks=("t2v",), sizes=((848, 480),), fps=30, frames=(7, 6, 163), default_frames=85, steps=64,
              guidance=4.5, params={"transformer": 10.0, "text_encoder": T5_XXL, "vae": 0.36}, working_gb=10),
    OpenModel("ltx-video", "LTX-Video 0.9.5 2B", repo="Lightricks/LTX-Video-0.9.5", tasks=("t2v", "i2v", "extend"),
              steps=40, guidance=3.0, params={"transformer": 1.93, "text_encoder": T5_XXL, "vae": 0.55},
              working_gb=4, **_LTX),
    OpenModel("ltx-video-13b", "LTX-Video 0.9.7 13B", repo="Lightricks/LTX-Video-0.9.7-dev",
              tasks=("extend", "t2v", "i2v"), steps=30, guidance=3.0,
              params={"transformer": 13.0, "text_encoder": T5_XXL, "vae": 0.55}, working_gb=8, **_LTX),
    OpenModel("ltx-video-13b-distilled", "LTX-Video 0.9.7 13B distilled (8 steps)",
              repo="Lightricks/LTX-Video-0.9.7-distilled", tasks=("extend", "t2v", "i2v"), steps=8, guidance=1.0,
              params={"transformer": 13.0, "text_encoder": T5_XXL, "vae": 0.55}, working_gb=8, **_LTX),
    OpenModel("wan2.1-t2v-1.3b", "Wan 2.1 1.3B", repo="Wan-AI/Wan2.1-T2V-1.3B-Diffusers", tasks=("t2v", "v2v"),
              sizes=both_ways((832, 480)), params={"transformer": 1.42, "text_encoder": UMT5_XXL, "vae": 0.13},
              working_gb=4, **_WAN21),
    OpenModel("wan2.1-t2v-14b", "Wan 2.1 14B", repo="Wan-AI/Wan2.1-T2V-14B-Diffusers", tasks=("t2v", "v2v"),
              sizes=both_ways((1280, 720), (832, 480)),
              params={"transformer": 14.3, "text_encoder": UMT5_XXL, "vae": 0.13}, working_gb=10, **_WAN21),
    OpenModel("wan2.1-i2v-14b-480p", "Wan 2.1 14B image-to-video 480p", repo="Wan-AI/Wan2.1-I2V-14B-480P-Diffusers",
              tasks=("i2v",), sizes=both_ways((832, 480)),
              params={"transformer": 16.4, "text_encoder": UMT5_XXL, "image_encoder": 0.63, "vae": 0.13},
              working_gb=6, **_WAN21),
    OpenModel("wan2.1-i2v-14b-720p", "Wan 2.1 14B image-to-video 720p", repo="Wan-AI/Wan2.1-I2V-14B-720P-Diffusers",
              tasks=("i2v",), sizes=both_ways((1280, 720)),
              params={"transformer": 16.4, "text_encoder": UMT5_XXL, "image_encoder": 0.63, "vae": 0.13},
              working_gb=10, **_WAN21),
    OpenModel("wan2.1-flf2v-14b-720p", "Wan 2.1 14B first-last-frame 720p",
              repo="Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers", tasks=("flf2v",), sizes=both_ways((1280, 720)),
              params={"transformer": 16.4, "text_encoder": UMT5_XXL, "image_encoder": 0.63, "vae": 0.13},
              working_gb=10, **_WAN21),
    OpenModel("wan2.2-ti2v-5b", "Wan 2.2 TI2V 5B", family=WAN, repo="Wan-AI/Wan2.2-TI2V-5B-Diffusers",
              licence=APACHE, tasks=("t2v", "i2v"), sizes=both_ways((1280, 704)), fps=24, frames=(5, 4, 121),
              default_frames=121, steps=50, guidance=5.0,
              params={"transformer": 5.0, "text_encoder": UMT5_XXL, "vae": 0.7}, working_gb=10),
    OpenModel("wan2.2-t2v-a14b", "Wan 2.2 A14B (two 14B experts)", repo="Wan-AI/Wan2.2-T2V-A14B-Diffusers",
              tasks=("t2v",), guidance=4.0, call_arguments={"guidance_scale_2": 3.0},
              params={"transformer": 14.3, "transformer_2": 14.3, "text_encoder": UMT5_XXL, "vae": 0.13},
              working_gb=10, **_WAN22_A14B),
    OpenModel("wan2.2-i2v-a14b", "Wan 2.2 A14B image-to-video", repo="Wan-AI/Wan2.2-I2V-A14B-Diffusers",
              tasks=("i2v",), guidance=3.5,
              params={"transformer": 14.3, "transformer_2": 14.3, "text_encoder": UMT5_XXL, "vae": 0.13},
              working_gb=10, **_WAN22_A14B),
    OpenModel("hunyuanvideo", "HunyuanVideo 13B", repo="hunyuanvideo-community/HunyuanVideo", tasks=("t2v",),
              params={"transformer": 12.8, "text_encoder": 7.5, "text_encoder_2": 0.12, "vae": 0.25},
              working_gb=14, **_HUNYUAN),
    OpenModel("hunyuanvideo-i2v", "HunyuanVideo 13B image-to-video", repo="hunyuanvideo-community/HunyuanVideo-I2V",
              tasks=("i2v",), params={"transformer": 12.8, "text_encoder": 8.35, "text_encoder_2": 0.12, "vae": 0.25},
              working_gb=14, **_HUNYUAN),
)

# Models with their own engine (not diffusers pipelines), listed and pulled like the others.
OWN_ENGINE_MODELS: tuple[OpenModel, ...] = (
    # Two transformers (384p, 768p) of 1.97B parameters each, published in 32 bits (7.9 GB each), the
    # causal VAE (0.34B, 1.3 GB), CLIP-L (0.12B) and T5-XXL (4.76B, 9.5 GB): 27 GB in all. 384p is
    # trained to 5 s (121 frames), 768p to 10 s.
    OpenModel("pyramid-flow-miniflux", "Pyramid Flow miniFLUX", family=PYRAMID_FLOW,
              repo="rain1011/pyramid-flow-miniflux", licence=APACHE, tasks=("t2v", "i2v"),
              sizes=((1280, 768), (640, 384)), fps=24, frames=(9, 8, 241), default_frames=121, steps=20,
              guidance=7.0, params={"transformer": 1.97, "text_encoder": 0.12, "text_encoder_2": T5_XXL, "vae": 0.34},
              working_gb=8, lora_training=False, loras=False, published_gb=27.5),
)

# Laptop default sizes of the models that fit a 16 GB laptop (laptop.py), about 512x320; Wan's
# sides are multiples of 16, kept just off 16:9 so a request for 480p still finds the native 832x480.
LAPTOP_SIZES = {"cogvideox-2b": (480, 320), "ltx-video": (512, 320), "wan2.1-t2v-1.3b": (544, 320)}
MODELS = tuple(replace(m, laptop=LAPTOP_SIZES[m.id]) if m.id in LAPTOP_SIZES else m for m in MODELS)

OPEN_MODELS = {m.id: m for m in (*MODELS, *OWN_ENGINE_MODELS)}
