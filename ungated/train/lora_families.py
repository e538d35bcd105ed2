"""What differs between the open-model families when training a LoRA on their transformer: how a
clip becomes the latents the transformer sees (VAE, normalisation), how a caption becomes its
conditioning, and how the transformer is called and what it is trained to predict.

CogVideoX is a v-prediction DDPM model; LTX-Video, Wan and HunyuanVideo are flow-matching models
(x_t = (1 - s) x_0 + s noise, predicting noise - x_0, timestep = 1000 s). Text conditioning is
kept under the pipeline's own argument names (prompt_embeds, prompt_attention_mask, ...), so a
cached caption can be handed back to the pipeline when it draws a sample.
"""

from __future__ import annotations

import numpy as np
import torch


def _pixels(frames: np.ndarray, device, dtype) -> torch.Tensor:
    """uint8 [F, H, W, 3] -> [1, 3, F, H, W] in [-1, 1]."""
    return (torch.from_numpy(frames).permute(3, 0, 1, 2)[None].to(device, dtype) / 127.5 - 1)


class TrainingFamily:
    """The defaults (flow matching, a scaled VAE latent, one text encoder); subclasses override
    what their family does differently and give the transformer call."""

    takes_negative = True  # the pipeline accepts negative_prompt_embeds (for samples)

    def encode_video(self, pipe, frames: np.ndarray) -> torch.Tensor:
        """Normalised latents [C, F', H', W'] of one clip (the posterior's mean); by default
        scaled by the VAE's scaling factor (CogVideoX, HunyuanVideo)."""
        vae = pipe.vae
        latents = vae.encode(_pixels(frames, vae.device, vae.dtype)).latent_dist.mode()[0]
        return latents.float().cpu() * vae.config.scaling_factor

    def encode_text(self, pipe, caption: str, max_length: int) -> dict[str, torch.Tensor]:
        """The caption's conditioning at the token length the model samples with; by default the
        one text encoder's embeddings (CogVideoX, Wan)."""
        embeds, _ = pipe.encode_prompt(caption, do_classifier_free_guidance=False, max_sequence_length=max_length,
                                       device=pipe.text_encoder.device)
        return {"prompt_embeds": embeds[0]}

    def predict(self, pipe, noisy: torch.Tensor, timestep: torch.Tensor, text: dict, fps: int) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, pipe, latents: torch.Tensor, text: dict, fps: int, gen: torch.Generator) -> torch.Tensor:
        """Denoising loss of a batch of latents [B, C, F', H', W'] at random noise levels."""
        sigma = torch.sigmoid(torch.randn(latents.shape[0], generator=gen)).to(latents.device)
        noise = torch.randn(latents.shape, generator=gen).to(latents.device, latents.dtype)
        s = sigma.view(-1, 1, 1, 1, 1).to(latents.dtype)
        noisy = (1 - s) * latents + s * noise
        prediction = self.predict(pipe, noisy, (sigma * 1000).to(latents.dtype), text, fps)
        return (prediction.float() - (noise - latents).float()).square().mean()


class Wan(TrainingFamily):
    def encode_video(self, pipe, frames):
        vae = pipe.vae
        latents = vae.encode(_pixels(frames, vae.device, vae.dtype)).latent_dist.mode()[0].float()
        mean = torch.tensor(vae.config.latents_mean).view(-1, 1, 1, 1)
        std = torch.tensor(vae.config.latents_std).view(-1, 1, 1, 1)
        return (latents.cpu() - mean) / std

    def predict(self, pipe, noisy, timestep, text, fps):
        return pipe.transformer(hidden_states=noisy, timestep=timestep, encoder_hidden_states=text["prompt_embeds"],
                                return_dict=False)[0]


class LTX(TrainingFamily):
    def encode_video(self, pipe, frames):
        vae = pipe.vae
        latents = vae.encode(_pixels(frames, vae.device, vae.dtype)).latent_dist.mode().float().cpu()
        return type(pipe)._normalize_latents(latents, vae.latents_mean.cpu().float(), vae.latents_std.cpu().float(),
                                             vae.config.scaling_factor)[0]

    def encode_text(self, pipe, caption, max_length):
        embeds, mask, _, _ = pipe.encode_prompt(caption, do_classifier_free_guidance=False,
                                                max_sequence_length=max_length,
                                                device=pipe.text_encoder.device)
        return {"prompt_embeds": embeds[0], "prompt_attention_mask": mask[0]}

    def predict(self, pipe, noisy, timestep, text, fps):
        frames, height, width = noisy.shape[2:]
        t = pipe.transformer.config
        packed = type(pipe)._pack_latents(noisy, t.patch_size, t.patch_size_t)
        out = pipe.transformer(
            hidden_states=packed, encoder_hidden_states=text["prompt_embeds"], timestep=timestep,
            encoder_attention_mask=text["prompt_attention_mask"], num_frames=frames, height=height, width=width,
            rope_interpolation_scale=(pipe.vae_temporal_compression_ratio / fps, pipe.vae_spatial_compression_ratio,
                                      pipe.vae_spatial_compression_ratio),
            return_dict=False)[0]
        return type(pipe)._unpack_latents(out, frames, height, width, t.patch_size, t.patch_size_t)


class Hunyuan(TrainingFamily):
    takes_negative = False  # guidance is distilled into the model: no negative pass
    GUIDANCE = 6.0  # the embedded guidance the catalog samples with

    def encode_text(self, pipe, caption, max_length):
        embeds, pooled, mask = pipe.encode_prompt(prompt=caption, prompt_2=caption, device=pipe.text_encoder.device,
                                                  max_sequence_length=max_length)
        return {"prompt_embeds": embeds[0], "pooled_prompt_embeds": pooled[0], "prompt_attention_mask": mask[0]}

    def predict(self, pipe, noisy, timestep, text, fps):
        guidance = torch.full((noisy.shape[0],), self.GUIDANCE * 1000, device=noisy.device, dtype=noisy.dtype)
        return pipe.transformer(hidden_states=noisy, timestep=timestep, encoder_hidden_states=text["prompt_embeds"],
                                encoder_attention_mask=text["prompt_attention_mask"],
                                pooled_projections=text["pooled_prompt_embeds"], guidance=guidance,
                                return_dict=False)[0]


class CogVideoX(TrainingFamily):
    def loss(self, pipe, latents, text, fps, gen):
        scheduler = pipe.scheduler
        steps = scheduler.config.num_train_timesteps
        timesteps = torch.randint(0, steps, (latents.shape[0],), generator=gen).to(latents.device)
        noise = torch.randn(latents.shape, generator=gen).to(latents.device, latents.dtype)
        video = latents.transpose(1, 2)  # the transformer takes [B, F, C, H, W]
        noise = noise.transpose(1, 2)
        noisy = scheduler.add_noise(video, noise, timesteps)
        target = scheduler.get_velocity(video, noise, timesteps)
        rotary = None
        if pipe.transformer.config.use_rotary_positional_embeddings:
            rotary = pipe._prepare_rotary_positional_embeddings(
                video.shape[3] * pipe.vae_scale_factor_spatial, video.shape[4] * pipe.vae_scale_factor_spatial,
                video.shape[1], latents.device)
        prediction = pipe.transformer(hidden_states=noisy, encoder_hidden_states=text["prompt_embeds"],
                                      timestep=timesteps, image_rotary_emb=rotary, return_dict=False)[0]
        return (prediction.float() - target.float()).square().mean()


TRAINING_FAMILIES: dict[str, TrainingFamily] = {
    "Wan": Wan(), "LTX-Video": LTX(), "HunyuanVideo": Hunyuan(), "CogVideoX": CogVideoX(),
}
