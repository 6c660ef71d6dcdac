"""Reverse diffusion from noise, conditioned on ẑ_c through the ControlNet, with the arrived regions blended back.

The loop is written here over the pipeline's own models (UNet, ControlNet, scheduler, VAE) rather than by
calling ``StableDiffusionControlNetPipeline.__call__``: that pipeline lets a 4-channel tensor through its
image preprocessing unchanged, but then takes the output size from the condition's shape (which here is the
latent's, 1/8 of the image) and draws latents 1/8 of that again; and blending the noised arrived latent at
every step needs the scheduler's noise at each timestep, as the inpainting pipelines do.

Only deterministic schedulers are offered, so the noise is the initial draw alone: one generator per item
seeded with the seed, on the CPU (the same noise on every device), and a batch gives each item the noise it
would get alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "dpm-solver++": "DPMSolverMultistepScheduler",
    "unipc": "UniPCMultistepScheduler",
    "euler": "EulerDiscreteScheduler",
    "heun": "HeunDiscreteScheduler",
}
"""Scheduler option -> diffusers class (deterministic ones: no noise after the first draw)."""


def make_scheduler(name: str, base_scheduler):
    """A fresh scheduler of kind ``name`` with the base model's noise schedule (schedulers hold state)."""
    import diffusers

    cls = getattr(diffusers, SCHEDULERS[name])
    extra = {"algorithm_type": "dpmsolver++"} if name == "dpm-solver++" else {}
    return cls.from_config(base_scheduler.config, **extra)


@dataclass
class Item:
    """One picture to sample: its condition and what arrived, at latent resolution."""

    latent: np.ndarray
    """ẑ_c, ``(C, h, w)`` float32, unscaled (as the VAE's encoder gives it)."""
    arrived: np.ndarray
    """``(h, w)`` bool: positions whose content arrived (blended back)."""
    prompt_embeds: torch.Tensor
    """``(1, tokens, dim)``."""
    negative_embeds: torch.Tensor | None = None
    """``(1, tokens, dim)`` for classifier-free guidance (``None``: no guidance)."""


def padded_shape(h: int, w: int, factor: int) -> tuple[int, int]:
    return -(-h // factor) * factor, -(-w // factor) * factor


def initial_noise(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """The starting noise of one item: float32 on the CPU from a generator seeded with ``seed``."""
    return torch.randn(shape, generator=torch.Generator("cpu").manual_seed(int(seed)), dtype=torch.float32)


@torch.no_grad()
def sample(models, items: Sequence[Item], *, steps: int, scheduler: str, guidance_scale: float,
           conditioning_scale: float, blend: str, seed: int, paste_pixels: bool = False,
           on_step: Callable[[int, float], None] | None = None) -> list[np.ndarray]:
    """Sample ``items`` (same latent size, all guided or none) in one batch; each ``(8h, 8w, 3)`` uint8.

    ``blend``: put ẑ_c back where it arrived after sampling (``end``), also at every step with the noise of
    the next timestep (``steps``), or not (``none``). The VAE decoder's group norms and attention see the
    whole latent, so the pixels of an arrived region still depend a little on what was generated around it;
    ``paste_pixels`` replaces them with the VAE's decode of ẑ_c alone (one more VAE decode).
    """
    if not items:
        return []
    unet, controlnet, vae = models.unet, models.controlnet, models.vae
    device, dtype = models.execution_device, models.dtype
    sf = float(vae.config.scaling_factor)
    c, h, w = items[0].latent.shape
    hp, wp = padded_shape(h, w, models.unet_factor)
    n = len(items)

    def pad(x: torch.Tensor, mode: str = "replicate") -> torch.Tensor:
        return F.pad(x, (0, wp - w, 0, hp - h), mode=mode) if (hp, wp) != (h, w) else x

    raw = pad(torch.from_numpy(np.stack([it.latent for it in items])).float()).to(device, dtype)
    z0 = raw * sf
    cond = z0
    keep = pad(torch.from_numpy(np.stack([it.arrived for it in items])).float()[:, None], "constant")
    keep = keep.to(device, dtype)
    noise = torch.cat([initial_noise((1, c, hp, wp), seed) for _ in items]).to(device, dtype)
    guided = items[0].negative_embeds is not None and guidance_scale > 1
    embeds = torch.cat([it.prompt_embeds for it in items])
    if guided:
        embeds = torch.cat([torch.cat([it.negative_embeds for it in items]), embeds])
        cond = torch.cat([cond, cond])
    embeds = embeds.to(device, dtype)

    sched = make_scheduler(scheduler, models.pipe.scheduler)
    sched.set_timesteps(int(steps), device=device)
    timesteps = sched.timesteps
    latents = noise * sched.init_noise_sigma
    for i, t in enumerate(timesteps):
        start = time.perf_counter()
        model_in = torch.cat([latents, latents]) if guided else latents
        model_in = sched.scale_model_input(model_in, t)
        down, mid = controlnet(model_in, t, encoder_hidden_states=embeds, controlnet_cond=cond,
                               conditioning_scale=float(conditioning_scale), return_dict=False)
        eps = unet(model_in, t, encoder_hidden_states=embeds, down_block_additional_residuals=down,
                   mid_block_additional_residual=mid, return_dict=False)[0]
        if guided:
            uncond, text = eps.chunk(2)
            eps = uncond + guidance_scale * (text - uncond)
        latents = sched.step(eps, t, latents, return_dict=False)[0]
        if blend == "steps" and i < len(timesteps) - 1:
            noised = sched.add_noise(z0, noise, timesteps[i + 1:i + 2])
            latents = keep * noised + (1 - keep) * latents
        if on_step is not None:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            on_step(i, time.perf_counter() - start)
    latents = latents / sf
    if blend != "none":
        latents = torch.where(keep.bool(), raw, latents)
    pixels = to_pixels(vae.decode(latents[:, :, :h, :w], return_dict=False)[0])
    if paste_pixels:
        s = models.vae_scale_factor
        plain = to_pixels(vae.decode(raw[:, :, :h, :w], return_dict=False)[0])
        inside = keep[:, :, :h, :w].repeat_interleave(s, 2).repeat_interleave(s, 3).bool()
        pixels = torch.where(inside, plain, pixels)
    out = pixels.permute(0, 2, 3, 1).cpu().numpy()
    return [np.ascontiguousarray(out[k]) for k in range(n)]


def to_pixels(images: torch.Tensor) -> torch.Tensor:
    """VAE output in [-1, 1] -> uint8 ``(B, 3, H, W)``, rounded as diffusers' image processor does."""
    return ((images.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)


@torch.no_grad()
def plain_decode(models, latent: np.ndarray) -> np.ndarray:
    """The VAE's decode of ẑ_c alone (no composition): the baseline of the benchmark and the blend measure."""
    vae = models.vae
    z = torch.from_numpy(latent[None]).to(models.execution_device, models.dtype)
    return to_pixels(vae.decode(z, return_dict=False)[0])[0].permute(1, 2, 0).cpu().numpy()
