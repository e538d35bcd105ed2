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
from .families import (COGVIDEOX, HELIOS, HELIOS_PYRAMID, HUNYUAN, HUNYUAN15, LTX, MOCHI, PYRAMID_FLOW,
                       SKYREELS_V2, WAN, WAN_VACE, Family)
from .families import KANDINSKY5, SANA_VIDEO

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
class LoraSource:
    """A LoRA file on the hub that a catalog row fuses into its weights at load, such as a
    step-distillation LoRA that makes a base model a few-step one. `models pull` fetches it."""
    repo: str
    filename: str
    revision: str = "main"


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
    lora: LoraSource | None = None  # fused into the weights at load (see hub.load_pipeline)

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
# HunyuanVideo 1.5: its model card disallows the EU, as the Tencent Hunyuan Community License's territory
# excludes the EU, UK and South Korea; the licence's user threshold for commercial use was not verified
# for 1.5 (HunyuanVideo's is 100M monthly users).
HUNYUAN15_LICENCE = Licence(
    "Tencent Hunyuan Community License",
    "not licensed in the EU, UK or South Korea; large commercial services need a licence from Tencent",
)
# Its native sizes are the size buckets it was trained on (16:9, 9:16, 1:1): 720p portrait is 720x1264,
# not 720x1280. Image-to-video draws the bucket nearest the image's aspect, and a portrait image at
# exactly 480x848 or 720x1264 rounds to the next bucket down, so its portrait sizes are those.
_HUNYUAN15 = dict(family=HUNYUAN15, licence=HUNYUAN15_LICENCE, fps=24, frames=(5, 4, 241), default_frames=121,
                  loras=False, lora_training=False)  # no LoRA loader for its pipelines in diffusers 0.42
_HY15_480P, _HY15_480P_I2V = ((848, 480), (480, 848), (640, 640)), ((848, 480), (480, 832), (640, 640))
_HY15_720P, _HY15_720P_I2V = ((1280, 720), (720, 1264), (960, 960)), ((1280, 720), (720, 1248), (960, 960))
# Qwen2.5-VL-7B's language model and Glyph-byT5 (byT5-small's encoder) read the prompt; the
# image-to-video models add SigLIP so400m's vision tower for the image.
_HY15_T2V = {"transformer": 8.33, "text_encoder": 7.07, "text_encoder_2": 0.22, "vae": 1.26}
_HY15_I2V = _HY15_T2V | {"image_encoder": 0.43}
_HELIOS = dict(licence=APACHE, tasks=("t2v", "i2v"), sizes=((640, 384),), fps=24,
               frames=(33, 32, 33 + (int(MAX_SECONDS * 24) - 33) // 32 * 32),
               params={"transformer": 14.3, "text_encoder": UMT5_XXL, "vae": 0.13}, working_gb=6)

# Kandinsky 5.0 Video Lite: the weights are MIT, but its VAE is HunyuanVideo's, released under the
# Tencent Hunyuan Community License; its text encoders are Qwen2.5-VL 7B (Apache-2.0) and CLIP-L.
KANDINSKY5_LICENCE = Licence(
    "MIT (Kandinsky 5.0); VAE from HunyuanVideo",
    "its VAE is HunyuanVideo's, whose Tencent Hunyuan Community License excludes the EU, UK and South Korea",
)
# Sana-Video: NVIDIA's licence allows commercial use; its Gemma 2 text encoder comes under Google's terms.
SANA_VIDEO_LICENCE = Licence(
    "NVIDIA Open Model License; Gemma Terms of Use (text encoder)",
    "the licence ends if its safety guardrails are bypassed; Gemma 2's prohibited-use policy applies",
)
# 5-second checkpoints: 768x512, 512x768 or 512x512, 4k+1 frames up to 121 at 24 fps (the 10-second
# ones need FlexAttention and compilation for their sparse attention, and are not offered).
_KANDINSKY5 = dict(family=KANDINSKY5, licence=KANDINSKY5_LICENCE, tasks=("t2v",),
                   sizes=((768, 512), (512, 768), (512, 512)), fps=24, frames=(5, 4, 121), default_frames=121,
                   params={"transformer": 2.01, "text_encoder": 8.29, "text_encoder_2": 0.12, "vae": 0.25},
                   working_gb=6, lora_training=False)

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
              steps=40, guidance=3.0, params={"transformer": 1.93, "text_encoder": T5_XXL, "vae": 1.25},
              working_gb=4, **_LTX),
    OpenModel("ltx-video-13b", "LTX-Video 0.9.7 13B", repo="Lightricks/LTX-Video-0.9.7-dev",
              tasks=("extend", "t2v", "i2v"), steps=30, guidance=3.0,
              params={"transformer": 13.0, "text_encoder": T5_XXL, "vae": 1.25}, working_gb=8, **_LTX),
    OpenModel("ltx-video-13b-distilled", "LTX-Video 0.9.7 13B distilled (8 steps)",
              repo="Lightricks/LTX-Video-0.9.7-distilled", tasks=("extend", "t2v", "i2v"), steps=8, guidance=1.0,
              params={"transformer": 13.0, "text_encoder": T5_XXL, "vae": 1.25}, working_gb=8, **_LTX),
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
    # --- Kandinsky 5 Lite and Sana-Video ---
    # Kandinsky 5.0 Video Lite 2B, 5-second checkpoints: the supervised fine-tune (50 steps, guidance 5),
    # its guidance-distilled twin (50 steps, one transformer call a step) and the 16-step distilled one.
    OpenModel("kandinsky5-lite", "Kandinsky 5.0 Video Lite 2B",
              repo="kandinskylab/Kandinsky-5.0-T2V-Lite-sft-5s-Diffusers", steps=50, guidance=5.0, **_KANDINSKY5),
    OpenModel("kandinsky5-lite-nocfg", "Kandinsky 5.0 Video Lite 2B, guidance-distilled",
              repo="kandinskylab/Kandinsky-5.0-T2V-Lite-nocfg-5s-Diffusers", steps=50, guidance=1.0, **_KANDINSKY5),
    OpenModel("kandinsky5-lite-distilled", "Kandinsky 5.0 Video Lite 2B distilled (16 steps)",
              repo="kandinskylab/Kandinsky-5.0-T2V-Lite-distilled16steps-5s-Diffusers", steps=16, guidance=1.0,
              **_KANDINSKY5),
    # Sana-Video 2B: linear attention, Gemma 2 2B text encoder, Wan 2.1's VAE; 832x480, 81 frames at 16 fps.
    OpenModel("sana-video-2b-480p", "Sana-Video 2B 480p", family=SANA_VIDEO,
              repo="Efficient-Large-Model/SANA-Video_2B_480p_diffusers", licence=SANA_VIDEO_LICENCE, tasks=("t2v",),
              sizes=both_ways((832, 480)), fps=16, frames=(5, 4, 81), default_frames=81, steps=50, guidance=6.0,
              params={"transformer": 2.06, "text_encoder": 2.61, "vae": 0.13}, working_gb=4, lora_training=False),
    # --- Few-step Wan and Wan relatives ---
    # Wan 2.1 1.3B made a 4-step model without guidance by Kijai's LoRA extraction of CausVid's
    # distilled 1.3B ("bidirect2", rank 32, about 0.09 GB more to pull), fused into the weights at load.
    # CausVid's weights are CC BY-NC-SA 4.0, so the row is non-commercial, unlike the base model.
    OpenModel("wan2.1-t2v-1.3b-causvid", "Wan 2.1 1.3B + CausVid LoRA (4 steps)", family=WAN,
              repo="Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
              licence=Licence("Apache-2.0 (Wan 2.1) with the CausVid LoRA (CC BY-NC-SA 4.0)",
                              "non-commercial use only (CausVid's weights are CC BY-NC-SA 4.0)"),
              tasks=("t2v", "v2v"), sizes=both_ways((832, 480)), fps=16, frames=(5, 4, 81), default_frames=81,
              steps=4, guidance=1.0, params={"transformer": 1.42, "text_encoder": UMT5_XXL, "vae": 0.13},
              working_gb=4, lora=LoraSource("Kijai/WanVideo_comfy",
                                            "Wan21_CausVid_bidirect2_T2V_1_3B_lora_rank32.safetensors")),
    # VACE 1.3B: Wan 2.1 1.3B with 15 VACE blocks (0.73B more) that read a video, a mask and reference
    # images; ungated runs its text-to-video path (no video, no mask, no references).
    OpenModel("wan2.1-vace-1.3b", "Wan 2.1 VACE 1.3B", family=WAN_VACE, repo="Wan-AI/Wan2.1-VACE-1.3B-diffusers",
              licence=APACHE, tasks=("t2v",), sizes=both_ways((832, 480)), fps=16, frames=(5, 4, 81),
              default_frames=81, steps=50, guidance=5.0,
              params={"transformer": 2.15, "text_encoder": UMT5_XXL, "vae": 0.13}, working_gb=4),
    # Diffusion forcing: one pass is 97 frames (4 s at 24 fps); the pipeline makes longer clips itself,
    # pass after pass, each conditioned on the last 17 frames of the one before, up to ungated's longest.
    OpenModel("skyreels-v2-df-1.3b-540p", "SkyReels V2 diffusion forcing 1.3B 540p (long clips)",
              family=SKYREELS_V2, repo="Skywork/SkyReels-V2-DF-1.3B-540P-Diffusers",
              licence=Licence("Skywork Community License",
                              "use restrictions; its text was not checked by ungated: read it before use"),
              tasks=("t2v",), sizes=both_ways((960, 544)), fps=24,
              frames=(5, 4, 5 + (int(MAX_SECONDS * 24) - 5) // 4 * 4), default_frames=97, steps=30, guidance=6.0,
              call_arguments={"base_num_frames": 97},
              params={"transformer": 1.42, "text_encoder": UMT5_XXL, "vae": 0.13}, working_gb=6),
    # --- HunyuanVideo 1.5 ---
    # One 8.3B transformer per resolution and task, at its published settings (50 steps, guidance 6,
    # 121 frames at 24 fps; 5 to 10 s). The step-distilled one runs 8 steps without guidance (12 also
    # recommended by its authors).
    OpenModel("hunyuanvideo1.5-480p", "HunyuanVideo 1.5 480p",
              repo="hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_t2v", tasks=("t2v",), sizes=_HY15_480P,
              steps=50, guidance=6.0, params=_HY15_T2V, working_gb=8, **_HUNYUAN15),
    OpenModel("hunyuanvideo1.5-480p-i2v", "HunyuanVideo 1.5 480p image-to-video",
              repo="hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_i2v", tasks=("i2v",),
              sizes=_HY15_480P_I2V, steps=50, guidance=6.0, params=_HY15_I2V, working_gb=8, **_HUNYUAN15),
    OpenModel("hunyuanvideo1.5-480p-i2v-step-distilled", "HunyuanVideo 1.5 480p image-to-video (8 steps)",
              repo="hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_i2v_step_distilled", tasks=("i2v",),
              sizes=_HY15_480P_I2V, steps=8, guidance=1.0, params=_HY15_I2V, working_gb=8, **_HUNYUAN15),
    OpenModel("hunyuanvideo1.5-720p", "HunyuanVideo 1.5 720p",
              repo="hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-720p_t2v", tasks=("t2v",), sizes=_HY15_720P,
              steps=50, guidance=6.0, params=_HY15_T2V, working_gb=14, **_HUNYUAN15),
    OpenModel("hunyuanvideo1.5-720p-i2v", "HunyuanVideo 1.5 720p image-to-video",
              repo="hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-720p_i2v", tasks=("i2v",),
              sizes=_HY15_720P_I2V, steps=50, guidance=6.0, params=_HY15_I2V, working_gb=14, **_HUNYUAN15),
    # --- Helios: real-time streaming ---
    # A 14B autoregressive fine-tune of Wan 2.1 T2V 14B (Apache-2.0, as its model cards say) at 640x384,
    # 24 fps. It samples 33 frames at a time and decodes each chunk as it goes; ungated streams each
    # chunk's frames out as soon as they are decoded (streaming.py). A clip is whole chunks: 33, 65, 97
    # or 129 frames exactly as the pipeline makes them, then 32 more at a time (5 chunks make 165
    # frames, of which 161 are kept). Distilled is the real-time one (19.5 fps on an H100, its authors
    # say): 2 steps in each of 3 pyramid stages, the first chunk twice that, no guidance. Its steps are
    # per stage (streaming.py); the base model's are per chunk, with guidance 5.
    OpenModel("helios-distilled", "Helios 14B distilled (real-time, streaming)", family=HELIOS_PYRAMID,
              repo="BestWishYsh/Helios-Distilled", steps=2, guidance=1.0, default_frames=257,
              call_arguments={"is_amplify_first_chunk": True}, **_HELIOS),
    OpenModel("helios-base", "Helios 14B base (streaming)", family=HELIOS, repo="BestWishYsh/Helios-Base",
              steps=50, guidance=5.0, default_frames=97, **_HELIOS),
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
LAPTOP_SIZES = {"cogvideox-2b": (480, 320), "ltx-video": (512, 320), "wan2.1-t2v-1.3b": (544, 320),
                "wan2.1-t2v-1.3b-causvid": (544, 320)}
MODELS = tuple(replace(m, laptop=LAPTOP_SIZES[m.id]) if m.id in LAPTOP_SIZES else m for m in MODELS)

OPEN_MODELS = {m.id: m for m in (*MODELS, *OWN_ENGINE_MODELS)}
