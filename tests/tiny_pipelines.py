"""Tiny, randomly initialised diffusers pipelines for every open-model family, built in code.

Each builder makes the real component classes (transformer, VAE, scheduler, text encoder and a
tokenizer made from a word list) at toy sizes and saves them with `save_pretrained`, so the
folder has exactly the layout of a downloaded model and loads through the same code path.
Nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

WORDS = (
    "a an the of on in and with at to red orange yellow green blue purple white black cat dog fox bird "
    "car boat tree sea beach city street rain snow sun moon night running walking flying moving right "
    "left up down slowly quickly small large circle square star triangle camera shot video"
).split()


def t5_tokenizer():
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [(f"\u2581{w}", -1.0) for w in WORDS]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def llama_tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>"]
    words = Tokenizer(models.WordLevel({t: i for i, t in enumerate(specials + WORDS)}, unk_token="<unk>"))
    words.normalizer = normalizers.Lowercase()
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=words, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   pad_token="<unk>")


def clip_tokenizer():
    from transformers import CLIPTokenizer

    specials = ["<|startoftext|>", "<|endoftext|>"]
    vocab = {t: i for i, t in enumerate(specials + [f"{w}</w>" for w in WORDS])}
    return CLIPTokenizer(vocab=vocab, merges=[])


def t5_encoder(width: int = 32, umt5: bool = False):
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    config_cls, model_cls = (UMT5Config, UMT5EncoderModel) if umt5 else (T5Config, T5EncoderModel)
    config = config_cls(vocab_size=len(WORDS) + 8, d_model=width, d_kv=8, d_ff=37, num_layers=1, num_heads=4,
                        relative_attention_num_buckets=8)
    return model_cls(config).eval()


def cogvideox(image_to_video: bool = False):
    from diffusers import (AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXImageToVideoPipeline,
                           CogVideoXPipeline, CogVideoXTransformer3DModel)

    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=8 if image_to_video else 4, out_channels=4,
        time_embed_dim=2, text_embed_dim=32, num_layers=1, sample_width=4, sample_height=4, sample_frames=9,
        patch_size=2, temporal_compression_ratio=4, max_text_seq_length=16,
        use_rotary_positional_embeddings=image_to_video, use_learned_positional_embeddings=image_to_video,
    )
    vae = AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), latent_channels=4,
        layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4,
    )
    pipeline_cls = CogVideoXImageToVideoPipeline if image_to_video else CogVideoXPipeline
    return pipeline_cls(tokenizer=t5_tokenizer(), text_encoder=t5_encoder(), vae=vae, transformer=transformer,
                        scheduler=CogVideoXDDIMScheduler())


def mochi():
    from diffusers import AutoencoderKLMochi, FlowMatchEulerDiscreteScheduler, MochiPipeline, MochiTransformer3DModel

    transformer = MochiTransformer3DModel(
        patch_size=2, num_attention_heads=2, attention_head_dim=8, num_layers=2, pooled_projection_dim=16,
        in_channels=12, out_channels=None, qk_norm="rms_norm", text_embed_dim=32, time_embed_dim=4,
        activation_fn="swiglu", max_sequence_length=16,
    )
    vae = AutoencoderKLMochi(
        latent_channels=12, out_channels=3, encoder_block_out_channels=(32, 32, 32, 32),
        decoder_block_out_channels=(32, 32, 32, 32), layers_per_block=(1, 1, 1, 1, 1),
    )
    return MochiPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=t5_encoder(),
                         tokenizer=t5_tokenizer(), transformer=transformer)


def ltx():
    from diffusers import (AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXPipeline,
                           LTXVideoTransformer3DModel)

    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4, attention_head_dim=8,
        cross_attention_dim=32, num_layers=1, caption_channels=32,
    )
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1), spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False), decoder_inject_noise=(False,) * 5,
        upsample_residual=(False,) * 4, upsample_factor=(1,) * 4, timestep_conditioning=False,
        patch_size=1, patch_size_t=1, encoder_causal=True, decoder_causal=False,
    )
    return LTXPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=t5_encoder(),
                       tokenizer=t5_tokenizer(), transformer=transformer)


def wan(image_to_video: bool = False, first_last_frame: bool = False):
    from diffusers import (AutoencoderKLWan, UniPCMultistepScheduler, WanImageToVideoPipeline, WanPipeline,
                           WanTransformer3DModel)

    extra = {}
    image_to_video = image_to_video or first_last_frame
    if image_to_video:
        from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

        vision = CLIPVisionConfig(hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2,
                                  image_size=32, intermediate_size=16, patch_size=4)
        extra = {"image_encoder": CLIPVisionModel(vision).eval(),
                 "image_processor": CLIPImageProcessor(crop_size=32, size=32)}
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
        in_channels=36 if image_to_video else 16, out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32,
        num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=1024,
        image_dim=4 if image_to_video else None,
        # First-last-frame: both images' CLIP tokens (64 patches + 1 each), told apart by a learned position.
        pos_embed_seq_len=2 * 65 if first_last_frame else None,
    )
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    pipeline_cls = WanImageToVideoPipeline if image_to_video else WanPipeline
    return pipeline_cls(tokenizer=t5_tokenizer(), text_encoder=t5_encoder(umt5=True), vae=vae, scheduler=scheduler,
                        transformer=transformer, **extra)


def hunyuan():
    from diffusers import (AutoencoderKLHunyuanVideo, FlowMatchEulerDiscreteScheduler, HunyuanVideoPipeline,
                           HunyuanVideoTransformer3DModel)
    from transformers import CLIPTextConfig, CLIPTextModel, LlamaConfig, LlamaModel

    transformer = HunyuanVideoTransformer3DModel(
        in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=10, num_layers=1,
        num_single_layers=1, num_refiner_layers=1, patch_size=1, patch_size_t=1, guidance_embeds=True,
        text_embed_dim=16, pooled_projection_dim=8, rope_axes_dim=(2, 4, 4),
    )
    vae = AutoencoderKLHunyuanVideo(
        in_channels=3, out_channels=3, latent_channels=4, down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
        act_fn="silu", norm_num_groups=4, scaling_factor=0.476986, spatial_compression_ratio=8,
        temporal_compression_ratio=4, mid_block_add_attention=True,
    )
    llama = LlamaModel(LlamaConfig(hidden_size=16, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, vocab_size=len(WORDS) + 8, max_position_embeddings=512,
                                   head_dim=4)).eval()
    clip = CLIPTextModel(CLIPTextConfig(hidden_size=8, intermediate_size=37, num_hidden_layers=2,
                                        num_attention_heads=4, vocab_size=len(WORDS) + 8, projection_dim=8,
                                        max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                                        pad_token_id=1)).eval()
    return HunyuanVideoPipeline(text_encoder=llama, tokenizer=llama_tokenizer(), transformer=transformer, vae=vae,
                                scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder_2=clip,
                                tokenizer_2=clip_tokenizer())


BUILDERS: dict[str, Callable] = {
    "cogvideox": cogvideox,
    "cogvideox-i2v": lambda: cogvideox(image_to_video=True),
    "mochi": mochi,
    "ltx": ltx,
    "wan": wan,
    "wan-i2v": lambda: wan(image_to_video=True),
    "wan-flf2v": lambda: wan(first_last_frame=True),
    "hunyuan": hunyuan,
}


def save_tiny(kind: str, folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    BUILDERS[kind]().save_pretrained(folder)
    return folder


# Wan relatives with pipelines of their own (issue 30): Wan VACE and SkyReels V2 diffusion forcing.


def wan_vace():
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanVACEPipeline, WanVACETransformer3DModel

    # The VACE block reads 96 channels: 16 latent channels of the video's inactive part, 16 of its
    # reactive part and 64 of the mask (8x8 pixels folded into channels).
    transformer = WanVACETransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=1024, vace_layers=[0], vace_in_channels=96,
    )
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    return WanVACEPipeline(tokenizer=t5_tokenizer(), text_encoder=t5_encoder(umt5=True), vae=vae,
                           scheduler=scheduler, transformer=transformer)


def skyreels_v2_df():
    from diffusers import (AutoencoderKLWan, SkyReelsV2DiffusionForcingPipeline, SkyReelsV2Transformer3DModel,
                           UniPCMultistepScheduler)

    transformer = SkyReelsV2Transformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=1024, inject_sample_info=True,  # the frame-rate embedding the DF checkpoints have
    )
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=8.0)
    return SkyReelsV2DiffusionForcingPipeline(tokenizer=t5_tokenizer(), text_encoder=t5_encoder(umt5=True),
                                              transformer=transformer, vae=vae, scheduler=scheduler)


BUILDERS["wan-vace"] = wan_vace
BUILDERS["skyreels-v2-df"] = skyreels_v2_df


# HunyuanVideo 1.5 (issue 30): Qwen2.5-VL's language model and byT5 read the prompt; image-to-video
# adds a SigLIP vision tower. Its Qwen2 tokenizer is byte-level BPE with no merges (one token per
# byte) and a chat template of Qwen's shape, which the pipeline applies to every prompt.
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def qwen2_tokenizer():
    from tokenizers import pre_tokenizers
    from transformers import Qwen2Tokenizer

    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    for special in ("<|endoftext|>", "<|im_start|>", "<|im_end|>"):
        vocab[special] = len(vocab)
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], padding_side="right")
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    return tokenizer


def hunyuan15(image_to_video: bool = False):
    from diffusers import (AutoencoderKLHunyuanVideo15, ClassifierFreeGuidance, FlowMatchEulerDiscreteScheduler,
                           HunyuanVideo15ImageToVideoPipeline, HunyuanVideo15Pipeline,
                           HunyuanVideo15Transformer3DModel)
    from transformers import (ByT5Tokenizer, Qwen2_5_VLTextConfig, Qwen2_5_VLTextModel, T5Config,
                              T5EncoderModel)

    # target_size 32: the image-to-video pipeline draws 32x32 from a square image, as tests ask.
    transformer = HunyuanVideo15Transformer3DModel(
        in_channels=9, out_channels=4, num_attention_heads=2, attention_head_dim=8, num_layers=2,
        num_refiner_layers=1, mlp_ratio=2.0, text_embed_dim=16, text_embed_2_dim=8, image_embed_dim=12,
        rope_axes_dim=(2, 2, 4), target_size=32, task_type="i2v" if image_to_video else "t2v",
    )
    vae = AutoencoderKLHunyuanVideo15(latent_channels=4, block_out_channels=(8, 8, 8), layers_per_block=1,
                                      spatial_compression_ratio=8, temporal_compression_ratio=4,
                                      downsample_match_channel=False, upsample_match_channel=False)
    tokenizer = qwen2_tokenizer()
    qwen = Qwen2_5_VLTextModel(Qwen2_5_VLTextConfig(
        hidden_size=16, intermediate_size=16, num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=2,
        vocab_size=len(tokenizer), bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
        rope_scaling={"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
    )).eval()
    byt5 = T5EncoderModel(T5Config(vocab_size=384, d_model=8, d_kv=4, d_ff=16, num_layers=1, num_heads=2,
                                   relative_attention_num_buckets=8)).eval()
    components = dict(transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0),
                      text_encoder=qwen, tokenizer=tokenizer, text_encoder_2=byt5, tokenizer_2=ByT5Tokenizer(),
                      guider=ClassifierFreeGuidance(guidance_scale=6.0))
    if not image_to_video:
        return HunyuanVideo15Pipeline(**components)
    from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    vision = SiglipVisionConfig(hidden_size=12, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                                image_size=32, patch_size=8)
    pipe = HunyuanVideo15ImageToVideoPipeline(image_encoder=SiglipVisionModel(vision).eval(),
                                              feature_extractor=SiglipImageProcessor(size={"height": 32, "width": 32}),
                                              **components)
    # Without torchvision, transformers makes SiglipImageProcessor's PIL twin; the published folders
    # name SiglipImageProcessor, and loading that name falls back the same way.
    pipe.register_to_config(feature_extractor=("transformers", "SiglipImageProcessor"))
    return pipe


BUILDERS["hunyuan15"] = hunyuan15
BUILDERS["hunyuan15-i2v"] = lambda: hunyuan15(image_to_video=True)


# Helios (issue 30): Wan's VAE and UMT5 with Helios's transformer, which also reads a compressed
# history of the chunks before. Its pyramid pipeline (Helios-Distilled) samples at a quarter of the
# size first, so its tests draw 64x64; the tiny DMD scheduler's gamma is 0.3 because with the
# published 1/3 the covariance of its block noise is singular in float32 and Cholesky fails on a CPU.
def helios(pyramid: bool = False):
    from diffusers import (AutoencoderKLWan, HeliosDMDScheduler, HeliosPipeline, HeliosPyramidPipeline,
                           HeliosScheduler, HeliosTransformer3DModel)

    transformer = HeliosTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=1, rope_dim=(4, 4, 4),
    )
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    components = dict(tokenizer=t5_tokenizer(), text_encoder=t5_encoder(umt5=True), vae=vae, transformer=transformer)
    if pyramid:
        return HeliosPyramidPipeline(scheduler=HeliosDMDScheduler(gamma=0.3), is_distilled=True, **components)
    return HeliosPipeline(scheduler=HeliosScheduler(stage_range=[0, 1], stages=1, use_dynamic_shifting=True),
                          **components)


BUILDERS["helios"] = helios
BUILDERS["helios-distilled"] = lambda: helios(pyramid=True)


# Kandinsky 5 Lite and Sana-Video (issue 30).
def kandinsky5_tokenizer():
    """Qwen2's byte-level BPE with merges learnt here from Kandinsky 5's prompt template and the word
    list: the pipeline embeds only the tokens after the template's first 128 and keeps 512 of them, so
    the template must be about as many tokens as with Qwen's own tokenizer (one byte a token is 700)."""
    import json

    from diffusers import Kandinsky5T2VPipeline
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    template = Kandinsky5T2VPipeline(*[None] * 7).prompt_template
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator([template, " ".join(WORDS)], trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    learnt = json.loads(bpe.to_str())["model"]
    vocab = learnt["vocab"] | {"<|endoftext|>": 400, "<|im_start|>": 401, "<|im_end|>": 402}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[tuple(pair) for pair in learnt["merges"]], unk_token=None,
                               eos_token="<|im_end|>", pad_token="<|endoftext|>", padding_side="right")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    return tokenizer


class PublishedWithProcessor:
    """A tiny Kandinsky 5 pipeline saved as its published folders are: their model_index.json names the
    tokenizer a Qwen2VLProcessor (its folder holds the processor's image config beside the tokenizer),
    which transformers loads only with torchvision installed (see ungated/engines/open/processors.py)."""

    def __init__(self, pipe):
        self.pipe = pipe

    def save_pretrained(self, folder: Path) -> None:
        import json

        self.pipe.save_pretrained(folder)
        index = json.loads((Path(folder) / "model_index.json").read_text())
        index["tokenizer"] = ["transformers", "Qwen2VLProcessor"]
        (Path(folder) / "model_index.json").write_text(json.dumps(index, indent=2))
        (Path(folder) / "tokenizer" / "preprocessor_config.json").write_text(json.dumps({
            "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2VLProcessor",
            "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2}, indent=2))


def kandinsky5():
    from diffusers import (AutoencoderKLHunyuanVideo, FlowMatchEulerDiscreteScheduler, Kandinsky5T2VPipeline,
                           Kandinsky5Transformer3DModel)
    from transformers import CLIPTextConfig, CLIPTextModel, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tokenizer = kandinsky5_tokenizer()
    vocab = len(tokenizer) + 4  # the vision placeholders after the tokenizer's own
    text = {"hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
            "num_key_value_heads": 2, "vocab_size": vocab, "bos_token_id": None,
            "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id,
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"}}
    qwen = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(
        text_config=text, vocab_size=vocab, image_token_id=vocab - 4, video_token_id=vocab - 3,
        vision_start_token_id=vocab - 2, vision_end_token_id=vocab - 1,
        vision_config={"depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 16},
    )).eval()
    clip = CLIPTextModel(CLIPTextConfig(hidden_size=8, intermediate_size=37, num_hidden_layers=2,
                                        num_attention_heads=4, vocab_size=len(WORDS) + 8, projection_dim=8,
                                        max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                                        pad_token_id=1)).eval()
    # visual_cond as in the published Lite checkpoints: the latents carry (zero) conditioning channels.
    transformer = Kandinsky5Transformer3DModel(
        in_visual_dim=4, out_visual_dim=4, in_text_dim=16, in_text_dim2=8, time_dim=16, patch_size=(1, 2, 2),
        model_dim=24, ff_dim=32, num_text_blocks=1, num_visual_blocks=1, axes_dims=(4, 4, 4), visual_cond=True,
    )
    # Its modulations start at zero (the blocks then pass their input through, whatever the prompt):
    # drawn at random here, so that the prompt changes the clip.
    for name, parameter in transformer.named_parameters():
        if "modulation" in name:
            torch.nn.init.normal_(parameter, std=0.2)
    vae = AutoencoderKLHunyuanVideo(
        in_channels=3, out_channels=3, latent_channels=4, down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
        act_fn="silu", norm_num_groups=4, scaling_factor=0.476986, spatial_compression_ratio=8,
        temporal_compression_ratio=4, mid_block_add_attention=True,
    )
    return PublishedWithProcessor(Kandinsky5T2VPipeline(
        transformer=transformer, vae=vae, text_encoder=qwen, tokenizer=tokenizer, text_encoder_2=clip,
        tokenizer_2=clip_tokenizer(), scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0)))


def sana_video():
    from diffusers import (AutoencoderKLWan, DPMSolverMultistepScheduler, SanaVideoPipeline,
                           SanaVideoTransformer3DModel)
    from transformers import Gemma2Config, Gemma2Model, GemmaTokenizer

    # Gemma's tokenizer with no pieces but the space: every other character falls back to its bytes.
    pieces = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "\u2581"] + [f"<0x{b:02X}>" for b in range(256)]
    tokenizer = GemmaTokenizer(vocab={piece: i for i, piece in enumerate(pieces)}, merges=[], add_bos_token=True)
    gemma = Gemma2Model(Gemma2Config(head_dim=8, hidden_size=8, intermediate_size=16, num_attention_heads=2,
                                     num_hidden_layers=1, num_key_value_heads=2, vocab_size=len(pieces),
                                     max_position_embeddings=2048, attn_implementation="eager")).eval()
    # sample_size 30 is the 480p model's (its aspect-ratio bins); the scheduler is the published one.
    transformer = SanaVideoTransformer3DModel(
        in_channels=16, out_channels=16, num_attention_heads=2, attention_head_dim=12, num_layers=2,
        num_cross_attention_heads=2, cross_attention_head_dim=12, cross_attention_dim=24, caption_channels=8,
        mlp_ratio=2.5, attention_bias=False, sample_size=30, patch_size=(1, 2, 2), norm_elementwise_affine=False,
        norm_eps=1e-6, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
    )
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    scheduler = DPMSolverMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=8.0)
    return SanaVideoPipeline(tokenizer=tokenizer, text_encoder=gemma, vae=vae, transformer=transformer,
                             scheduler=scheduler)


BUILDERS["kandinsky5"] = kandinsky5
BUILDERS["sana_video"] = sana_video
