"""Distortion terms of the training loss, by name (pluggable: a composer's diffusion loss joins later).

A term factory takes ``(options, context, device)`` and returns ``term(out, x) -> tensor``: ``out`` is the
network's output (``x_hat``), ``x`` the batch of images in [0, 1].
"""

from __future__ import annotations

from typing import Any, Callable

import torch

TERMS: dict[str, Callable[..., Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]] = {}


def register_term(name: str):
    def deco(factory):
        TERMS[name] = factory
        return factory
    return deco


@register_term("mse")
def mse(options: dict[str, Any], context, device):
    """Mean squared error to the pixels (in [0, 1])."""
    def term(out, x):
        return torch.mean((out - x) ** 2)
    return term


@register_term("sd-latent-mse")
def sd_latent_mse(options: dict[str, Any], context, device):
    """‖z_c − ẑ_c‖²: mean squared error to the (unscaled) latent of a diffusers AutoencoderKL (options: ``vae``, a
    hub id or folder, and ``vae_subfolder``, e.g. ``vae`` for the VAE of a whole Stable Diffusion base)."""
    from ..vae import load_vae

    vae = load_vae(options.get("vae", "stabilityai/sd-vae-ft-mse"), context, device, options.get("vae_subfolder"))
    vae.requires_grad_(False)

    def term(out, x):
        with torch.no_grad():
            z = vae.encode(x * 2 - 1).latent_dist.mean
        return torch.mean((out - z) ** 2)
    return term


@register_term("diffusion")
def diffusion(options: dict[str, Any], context, device):
    """λ_diff ‖ε − ε_θ(z_t, t, C(ẑ_c))‖²: the loss of the composer named by ``composer`` (default ``controlnet``)
    on the decoded SD latent ẑ_c (the sd-latent target), found through the registry (the composer's
    ``make_training_term``); for ``controlnet`` the SD base stays frozen, its ControlNet is trained with the
    codec and saved beside each checkpoint (``controlnet-quality-N/``). Options: ``composer``, ``base``,
    ``controlnet``, ``condition_channels``."""
    from discover_core.errors import ConfigError
    from discover_core.plugins import get_registry

    name = str(options.get("composer", "controlnet"))
    reg = get_registry().get("composer", name)
    if getattr(reg.cls, "training_term", None) != "diffusion":
        raise ConfigError("training term 'diffusion'", [("composer", f"'{name}' gives no diffusion training term; "
                                                                     "use controlnet")])
    reg.check_requirements()
    return reg.cls.make_training_term({k: v for k, v in options.items() if k != "composer"}, context, str(device))


def bits(likelihoods: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
    """Σ −log2 likelihood, over the kept positions only when ``keep`` ((B, 1, h, w)) is given."""
    b = -torch.log2(likelihoods)
    if keep is not None:
        b = b * keep
    return b.sum()
