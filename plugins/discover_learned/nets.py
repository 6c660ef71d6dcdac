"""The networks of the learned codec (torch; imported only when a component is built).

Mean-scale hyperprior (Minnen et al. 2018) with the DISCOVER global-information network ``M``:

* ``g_a``: image -> latent ``y`` (stride 16), ``h_a``: ``y`` -> ``z`` (stride 64);
* ``h_s``: ``ẑ`` -> Gaussian ``(scales, means)`` of every ``y`` position;
* ``M``: ``ẑ`` -> coarse global features at the ``y`` grid (two transposed convolutions and one convolution);
* ``g_s(ŷ, M(ẑ))``: RGB pixels (target ``pixels``) or the 4-channel, stride-8 latent of a Stable Diffusion
  VAE (target ``sd-latent``: the synthesis stops after its first upsampling, the last two layers removed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from . import quiet_import  # noqa: F401 - before compressai
from compressai.layers import GDN


@dataclass(frozen=True)
class Arch:
    """Architecture options: everything a checkpoint's JSON records besides the weights."""

    kind: str = "hyperprior"
    target: str = "pixels"
    channels: int = 128
    """N: width of the transforms and of the hyperprior."""
    latent_channels: int = 192
    """M: channels of ``y``."""
    global_channels: int = 64
    """Channels of ``M(ẑ)``."""
    groups: tuple[int, ...] = ()
    """Channel groups (``elic``); empty for ``hyperprior``."""

    def to_json(self) -> dict:
        d = asdict(self)
        d["groups"] = list(self.groups)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Arch":
        d = dict(d)
        d["groups"] = tuple(d.get("groups", ()))
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def conv(cin: int, cout: int, k: int = 5, s: int = 2) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=s, padding=k // 2)


def deconv(cin: int, cout: int, k: int = 5, s: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, k, stride=s, padding=k // 2, output_padding=s - 1)


TARGET_CHANNELS = {"pixels": 3, "sd-latent": 4}
TARGET_STRIDE = {"pixels": 1, "sd-latent": 8}


def analysis(a: Arch) -> nn.Module:
    n, m = a.channels, a.latent_channels
    return nn.Sequential(conv(3, n), GDN(n), conv(n, n), GDN(n), conv(n, n), GDN(n), conv(n, m))


def synthesis(a: Arch) -> nn.Module:
    n, cin = a.channels, a.latent_channels + a.global_channels
    if a.target == "pixels":
        return nn.Sequential(deconv(cin, n), GDN(n, inverse=True), deconv(n, n), GDN(n, inverse=True),
                             deconv(n, n), GDN(n, inverse=True), deconv(n, 3))
    # sd-latent: stride 16 -> 8, then a 4-channel head (the last two upsampling layers removed)
    return nn.Sequential(deconv(cin, n), GDN(n, inverse=True), conv(n, n, 3, 1), nn.LeakyReLU(inplace=True),
                         conv(n, TARGET_CHANNELS["sd-latent"], 3, 1))


def hyper_analysis(a: Arch) -> nn.Module:
    n, m = a.channels, a.latent_channels
    return nn.Sequential(conv(m, n, 3, 1), nn.LeakyReLU(inplace=True), conv(n, n), nn.LeakyReLU(inplace=True),
                         conv(n, n))


def hyper_synthesis(a: Arch) -> nn.Module:
    n, m = a.channels, a.latent_channels
    return nn.Sequential(deconv(n, m), nn.LeakyReLU(inplace=True), deconv(m, m * 3 // 2),
                         nn.LeakyReLU(inplace=True), conv(m * 3 // 2, m * 2, 3, 1))


def global_information(a: Arch) -> nn.Module:
    """M: two transposed convolutions and one convolution, ẑ (stride 64) -> features at stride 16."""
    n = a.channels
    return nn.Sequential(deconv(n, n), nn.LeakyReLU(inplace=True), deconv(n, n), nn.LeakyReLU(inplace=True),
                         conv(n, a.global_channels, 3, 1))
