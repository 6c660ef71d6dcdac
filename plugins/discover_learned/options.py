"""Options of the learned entropy models (pydantic only: importing this costs nothing)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from discover_core.interfaces import PATH_OPTION, Options

ARCH_FIELDS = ("target", "channels", "latent_channels", "global_channels")


class LearnedOptions(Options):
    checkpoint: str | None = Field(
        "builtin", json_schema_extra=PATH_OPTION,
        description="weights: 'builtin' (the small shipped pixels model), a .safetensors file with its .json, "
                    "a folder of quality-N.safetensors (a rate family), a hub id, or a compressai zoo "
                    ".pth.tar; null: initial weights from `seed` (tests, training from scratch)")
    quality: int | None = Field(None, ge=1, le=64,
                                description="which checkpoint of a rate family folder (quality-N.safetensors)")
    target: Literal["pixels", "sd-latent"] | None = Field(
        None, description="what g_s reconstructs: RGB pixels, or the 4-channel stride-8 latent of a Stable "
                          "Diffusion VAE (null: the checkpoint's; pixels without one)")
    channels: int | None = Field(None, ge=8, le=1024, description="N, width of the transforms and the "
                                                                  "hyperprior (null: the checkpoint's; 128)")
    latent_channels: int | None = Field(None, ge=8, le=1024,
                                        description="M, channels of the latent y (null: the checkpoint's; 192)")
    global_channels: int | None = Field(None, ge=0, le=1024,
                                        description="channels of M(ẑ), the global information from the "
                                                    "hyperprior fed to g_s; 0 disables it "
                                                    "(null: the checkpoint's; 64)")
    seed: int = Field(0, ge=0, lt=2 ** 63, description="seed of the initial weights when checkpoint is null")
    threads: int = Field(1, ge=1, le=64, description="torch threads of the transforms (the entropy "
                                                     "parameters always run on one, so streams decode alike)")


class ElicOptions(LearnedOptions):
    checkpoint: str | None = Field(
        None, json_schema_extra=PATH_OPTION,
        description="weights: a .safetensors file with its .json, a folder of quality-N.safetensors, or a hub "
                    "id; null: initial weights from `seed`")
    groups: tuple[Annotated[int, Field(ge=1, le=1024)], ...] | None = Field(
        None, min_length=1, max_length=64, description="channel groups of y, summing to latent_channels (null: the checkpoint's; "
                          "ELIC's 16, 16, 32, 64, rest)")
