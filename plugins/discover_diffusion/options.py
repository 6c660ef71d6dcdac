"""Options of the ``controlnet`` composer (no heavy imports)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from discover_core.interfaces import PATH_OPTION, Options

DEFAULT_BASE = "stabilityai/stable-diffusion-2-1-base"
PURPOSE_STEPS = {"machine": 8, "human": 50}
"""Sampling steps per purpose (the paper: 8 for machine tasks, 50 for human viewing)."""
SCHEDULER_NAMES = Literal["ddim", "dpm-solver++", "unipc", "euler", "heun"]


class ControlNetOptions(Options):
    base: str = Field(DEFAULT_BASE, json_schema_extra=PATH_OPTION, description=(
        "The Stable Diffusion 2.x-compatible base model: a folder in the diffusers layout, or a hub id (a local "
        "copy in <cache>/hub/<org>/<name> is used first). Frozen."))
    controlnet: str | None = Field(None, json_schema_extra=PATH_OPTION, description=(
        "The latent-condition ControlNet (a folder written by ControlNetModel.save_pretrained, or a hub id); "
        "empty: an untrained one made from the base UNet (its zero convolutions make the condition have no "
        "effect until it is trained)."))
    quality: int | None = Field(None, ge=1, le=64, description=(
        "With `controlnet` the folder of a rate family (what `discover train` writes: quality-N.safetensors "
        "beside controlnet-quality-N/), the ControlNet of this quality (as the elic codec's `quality`); unset: "
        "`controlnet` is the ControlNet's own folder."))
    condition_channels: int = Field(64, ge=1, le=1024, description=(
        "Channels of the conditioning embedding of an untrained ControlNet (one entry: no downsampling); a "
        "loaded ControlNet keeps its own."))
    purpose: Literal["machine", "human"] = Field("machine", description=(
        "What the picture is for: picks the sampling steps (machine 8, human 50) unless `steps` is set."))
    steps: int | None = Field(None, ge=1, le=1000, description=(
        "Sampling steps (decode-time; default: by `purpose`)."))
    scheduler: SCHEDULER_NAMES = Field("ddim", description=(
        "Sampling scheduler (deterministic ones), with the base model's noise schedule."))
    guidance_scale: float = Field(1.0, ge=1.0, le=30.0, description=(
        "Classifier-free guidance scale; 1 (or an empty prompt) samples without guidance, at half the cost."))
    conditioning_scale: float = Field(1.0, ge=0.0, le=4.0, description=(
        "Weight of the ControlNet's residuals in the UNet."))
    prompt: str = Field("", max_length=2000, description="Text prompt (empty by default).")
    prompt_labels: bool = Field(False, description=(
        "Append the labels of the content that arrived to the prompt (comma-separated)."))
    blend: Literal["end", "steps", "none"] = Field("end", description=(
        "Put the decoded latent back where content arrived: after sampling (end), at every step with the "
        "matching noise as inpainting pipelines do (steps), or not at all (none)."))
    paste_pixels: bool = Field(False, description=(
        "Also paste the VAE's decode of the arrived latent itself into the arrived pixels (exact there; one "
        "more VAE decode; seams possible): the VAE decoder's norms and attention see the whole latent."))
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description=(
        "Seed of the initial noise (decode-time; default: the run's seed)."))
    device: str | None = Field(None, description="Torch device (decode-time; default: the run's device).")
    dtype: Literal["auto", "float32", "float16"] = Field("auto", description=(
        "Weights and activations: auto is float16 on a GPU and float32 on the CPU; float16 needs a GPU."))
    batch_size: int = Field(4, ge=1, le=256, description=(
        "Decodes sampled together by compose_batch on a GPU (decode-time); on the CPU they are sampled one by "
        "one, so that a picture's bytes never depend on its batch."))
    attention_slicing: bool = Field(False, description="diffusers' attention slicing (less memory, slower).")
    cpu_offload: bool = Field(False, description=(
        "diffusers' model CPU offload: each model moves to the GPU only while it runs (needs accelerate, a GPU)."))

    @model_validator(mode="after")
    def _quality_needs_a_family(self):
        if self.quality is not None and not self.controlnet:
            raise ValueError("`quality` picks a ControlNet of the rate family folder given as `controlnet`; "
                             "set `controlnet` too")
        return self

    def controlnet_folder(self) -> str | None:
        """The ControlNet these options name: ``controlnet``, or its ``controlnet-quality-N`` with ``quality``."""
        if self.quality is None or not self.controlnet:
            return self.controlnet
        return f"{self.controlnet.rstrip('/')}/controlnet-quality-{self.quality}"


DECODER_OPTIONS = ("condition_channels", "scheduler", "guidance_scale", "conditioning_scale", "prompt",
                   "prompt_labels", "blend", "paste_pixels")
"""Recorded in streams; steps, purpose, seed, device, dtype, batch size, memory options and paths are not."""
