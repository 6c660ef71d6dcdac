"""Synthetic sd-vae latent decodes for the controlnet composer's tests."""

from __future__ import annotations

import numpy as np

from discover_core.interfaces import Decoded, Latent


def latent_decode(width: int, height: int, arrived_frac: float = 0.5, seed: int = 0,
                  labels: tuple[str, ...] = ()) -> Decoded:
    """A synthetic sd-vae decode: unit-scale latent values (as an SD VAE gives, unscaled: ~±5), the left
    ``arrived_frac`` of the columns arrived."""
    rng = np.random.default_rng(seed)
    h, w = -(-height // 8), -(-width // 8)
    values = (rng.standard_normal((4, h, w)) * 4).astype(np.float32)
    arrived = np.zeros((h, w), bool)
    arrived[:, : int(round(w * arrived_frac))] = True
    missing = None if arrived.all() else ~np.repeat(np.repeat(arrived, 8, 0), 8, 1)[:height, :width]
    return Decoded(size=(width, height), representation="latent", latent=Latent(values, 8, arrived, "sd-vae"),
                   missing=missing, labels=labels)


def synthetic_latent_decodes() -> list[tuple[str, Decoded]]:
    return [("full 64x48", latent_decode(64, 48, 1.0)), ("half 64x48", latent_decode(64, 48, 0.5, 1)),
            ("none 70x33", latent_decode(70, 33, 0.0, 2)), ("half 41x90", latent_decode(41, 90, 0.5, 3))]
