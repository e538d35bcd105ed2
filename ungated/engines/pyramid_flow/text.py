"""Pyramid Flow's prompt encoding: CLIP-L's pooled output (which, with the timestep, drives every
block's modulation) and T5-XXL's token states with their padding mask (the text stream), both
through transformers from the published folders."""

from __future__ import annotations

from pathlib import Path

import torch

T5_TOKENS = 128
# The published pipeline adds this to every prompt (the model was trained with it).
PROMPT_SUFFIX = ", hyper quality, Ultra HD, 8K"
DEFAULT_NEGATIVE = ("cartoon style, worst quality, low quality, blurry, absolute black, absolute white, low res, "
                    "extra limbs, extra digits, misplaced objects, mutated anatomy, monochrome, horror")


class TextEncoders:
    def __init__(self, folder: Path, dtype: torch.dtype, t5_quantization=None):
        from transformers import AutoTokenizer, CLIPTextModel, T5EncoderModel

        self.clip_tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer")
        self.t5_tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer_2")
        self.clip = CLIPTextModel.from_pretrained(folder / "text_encoder", dtype=dtype).eval()
        self.t5 = T5EncoderModel.from_pretrained(folder / "text_encoder_2", dtype=dtype,
                                                 quantization_config=t5_quantization).eval()

    def modules(self) -> list[torch.nn.Module]:
        return [self.clip, self.t5]

    @torch.inference_mode()
    def encode(self, prompts: list[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(T5 states [B, 128, 4096], their mask [B, 128], CLIP pooled [B, 768]) for prompts, on device."""
        clip_ids = self.clip_tokenizer(prompts, padding="max_length", truncation=True,
                                       max_length=min(self.clip_tokenizer.model_max_length, 77),
                                       return_tensors="pt").input_ids
        # Inputs go to the device the encoders run on, wherever offloading keeps their weights meanwhile.
        pooled = self.clip(clip_ids.to(device)).pooler_output
        t5 = self.t5_tokenizer(prompts, padding="max_length", truncation=True, max_length=T5_TOKENS,
                               return_tensors="pt")
        states = self.t5(t5.input_ids.to(device), attention_mask=t5.attention_mask.to(device))
        return (states.last_hidden_state.to(device), t5.attention_mask.to(device), pooled.to(device))
