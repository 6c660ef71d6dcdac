"""The composer's part of training: λ_diff ‖ε − ε_θ(z_t, t, C(ẑ_c))‖²; SD base frozen, ControlNet trained.

For a trainer (``discover train`` of the learned codec, stage I and II alike)::

    models = load_training_models(base, controlnet=None, device="cpu")     # fresh copy, ControlNet trainable
    params = trainable_parameters(models)                                   # add to the optimizer
    loss = diffusion_loss(models, z_c, z_hat_c, weight=2.0)                 # z_c: VAE latent of the image,
    ...                                                                     # ẑ_c: the codec's (gradient flows)
    save_controlnet(models, "runs/x/controlnet")                            # diffusers save_pretrained

or, with the term interface of ``discover_learned.training.losses`` (``term(out, x)``, ``x`` in [0, 1]):
:func:`diffusion_term`, whose ``.parameters()`` and ``.save(folder)`` the trainer calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from discover_core.interfaces import Context

from .loading import Models, _load, resolve_base, resolve_controlnet, resolve_device

LAMBDA_DIFF = 2.0
"""The paper's λ_diff."""


def load_training_models(base: str, controlnet: str | None = None, channels: int = 64, device: str = "cpu",
                         context: Context | None = None) -> Models:
    """A fresh (not shared) float32 copy of the base and ControlNet: base frozen, ControlNet trainable."""
    ctx = context or Context()
    base_dir = resolve_base(base, ctx)
    cn_dir = resolve_controlnet(controlnet, ctx) if controlnet else None
    models = _load(base_dir, cn_dir, channels, resolve_device(device), torch.float32, False, False)
    trainable_parameters(models)
    return models


def trainable_parameters(models: Models) -> list[torch.nn.Parameter]:
    """The ControlNet's parameters (set trainable, in train mode); the UNet, VAE and text encoder stay frozen."""
    for frozen in (models.unet, models.vae, models.text_encoder):
        frozen.requires_grad_(False)
        frozen.eval()
    models.controlnet.requires_grad_(True)
    models.controlnet.train()
    return [p for p in models.controlnet.parameters() if p.requires_grad]


def noise_scheduler(models: Models):
    """The training noise schedule: a DDPM scheduler with the base model's betas and prediction type."""
    sched = getattr(models, "_noise_scheduler", None)
    if sched is None:
        from diffusers import DDPMScheduler

        sched = DDPMScheduler.from_config(models.pipe.scheduler.config)
        models._noise_scheduler = sched  # type: ignore[attr-defined]
    return sched


def empty_prompt_embeds(models: Models, batch: int) -> torch.Tensor:
    emb = getattr(models, "_empty_embeds", None)
    if emb is None:
        with torch.no_grad():
            emb = models.pipe.encode_prompt("", models.execution_device, 1, False)[0]
        models._empty_embeds = emb  # type: ignore[attr-defined]
    return emb.expand(batch, -1, -1)


def diffusion_loss(models: Models, z_c: torch.Tensor, z_hat_c: torch.Tensor, *, weight: float = LAMBDA_DIFF,
                   generator: torch.Generator | None = None, timesteps: torch.Tensor | None = None,
                   prompt_embeds: torch.Tensor | None = None) -> torch.Tensor:
    """``weight · ‖ε − ε_θ(z_t, t, C(ẑ_c))‖²`` (mean over elements).

    ``z_c``: the VAE latent of the image (``(B, 4, h, w)``, unscaled, no gradient needed); ``z_hat_c``: the
    codec's reconstruction of it (unscaled; the gradient flows into it and into the ControlNet). ``h`` and
    ``w`` are multiples of the UNet's factor (8 for SD: crops of 64 pixels). ``generator`` draws the noise and
    timesteps (on the CPU); ``prompt_embeds`` defaults to the empty prompt. The target is ε, or the velocity
    for a v-prediction base.
    """
    if z_c.shape != z_hat_c.shape or z_c.ndim != 4:
        raise ValueError(f"z_c {tuple(z_c.shape)} and ẑ_c {tuple(z_hat_c.shape)} must be the same (B, C, h, w)")
    f = models.unet_factor
    if z_c.shape[-2] % f or z_c.shape[-1] % f:
        raise ValueError(f"latent sizes must be multiples of {f} (image crops of {f * models.vae_scale_factor} "
                         f"pixels), got {tuple(z_c.shape[-2:])}")
    sched = noise_scheduler(models)
    device, dtype = models.execution_device, models.dtype
    sf = float(models.vae.config.scaling_factor)
    b = z_c.shape[0]
    latents = (z_c.detach() * sf).to(device, dtype)
    noise = torch.randn(latents.shape, generator=generator, dtype=torch.float32).to(device, dtype)
    if timesteps is None:
        timesteps = torch.randint(0, sched.config.num_train_timesteps, (b,), generator=generator)
    timesteps = timesteps.to(device).long()
    noisy = sched.add_noise(latents, noise, timesteps)
    embeds = (prompt_embeds if prompt_embeds is not None else empty_prompt_embeds(models, b)).to(device, dtype)
    cond = (z_hat_c * sf).to(device, dtype)
    down, mid = models.controlnet(noisy, timesteps, encoder_hidden_states=embeds, controlnet_cond=cond,
                                  return_dict=False)
    pred = models.unet(noisy, timesteps, encoder_hidden_states=embeds, down_block_additional_residuals=down,
                       mid_block_additional_residual=mid, return_dict=False)[0]
    kind = sched.config.prediction_type
    target = sched.get_velocity(latents, noise, timesteps) if kind == "v_prediction" else noise
    return weight * F.mse_loss(pred.float(), target.float())


def save_controlnet(models: Models, folder: str | Path) -> Path:
    """The ControlNet's checkpoint (config.json + diffusion_pytorch_model.safetensors), loadable as the
    composer's ``controlnet`` option."""
    models.controlnet.save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def diffusion_term(options: dict[str, Any], context: Context, device: str):
    """A distortion term ``term(out, x)`` in the shape of ``discover_learned.training.losses`` (``out`` = ẑ_c
    from the codec's sd-latent target, ``x`` = images in [0, 1]); options: ``base``, ``controlnet``,
    ``condition_channels``, ``weight`` (default 1: the trainer's own term weight is λ_diff = 2). The trainer
    adds ``term.parameters()`` to its optimizer, calls ``term.save(folder)`` with its checkpoints, keeps
    ``term.models.controlnet.state_dict()`` in its resumable state and, under torchrun, broadcasts
    ``term.state_dict()`` (the ControlNet's) from rank 0."""
    from .options import DEFAULT_BASE

    models = load_training_models(options.get("base", DEFAULT_BASE), options.get("controlnet"),
                                  int(options.get("condition_channels", 64)), device, context)
    weight = float(options.get("weight", 1.0))

    def term(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            z_c = models.vae.encode(x.to(models.execution_device) * 2 - 1).latent_dist.mean
        return diffusion_loss(models, z_c, out, weight=weight)

    term.models = models  # type: ignore[attr-defined]
    term.parameters = lambda: trainable_parameters(models)  # type: ignore[attr-defined]
    term.state_dict = models.controlnet.state_dict  # type: ignore[attr-defined]  # torchrun: rank 0's, to all
    term.save = lambda folder: save_controlnet(models, folder)  # type: ignore[attr-defined]
    return term
