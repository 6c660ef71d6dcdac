"""The ``controlnet`` composer: Stable Diffusion 2.x conditioned on the decoded latent ẑ_c through a ControlNet.

The paper's semantic composition: ẑ_c (faithful where task content arrived, predicted from the side
information elsewhere) conditions the reverse diffusion from noise; the diffusion prior fills in what was
not sent; by default the arrived positions of ẑ_c are put back before the VAE decodes the picture.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np

from discover_core.errors import PluginError
from discover_core.interfaces import Composer, Decoded

from .options import DECODER_OPTIONS, PURPOSE_STEPS, ControlNetOptions

PROMPT_CACHE = 64
"""Prompt embeddings kept per composer (the default empty prompt is computed once)."""


class ControlNetComposer(Composer):
    """Stable Diffusion 2.x + a latent-condition ControlNet on the decoded SD-VAE latent (diffusers)."""

    name = "controlnet"
    Options = ControlNetOptions
    accepts = frozenset({"latent"})
    latent_spaces = frozenset({"sd-vae"})
    requires = ("torch", "diffusers", "transformers", "safetensors")
    extra = "diffusion"
    decoder_options = DECODER_OPTIONS
    training_term = "diffusion"

    @classmethod
    def make_training_term(cls, options, context, device):
        """The paper's λ_diff term (:func:`.training.diffusion_term`): ControlNet trained with the codec."""
        from .training import diffusion_term

        return diffusion_term(options, context, device)

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        from .loading import load_models

        o = self.options
        self.device = o.device or self.context.device
        self.models = load_models(o.base, o.controlnet_folder(), o.condition_channels, self.device, o.dtype,
                                  self.context, attention_slicing=o.attention_slicing, cpu_offload=o.cpu_offload)
        self.steps = o.steps or PURPOSE_STEPS[o.purpose]
        self.seed = self.context.seed if o.seed is None else o.seed
        self._prompts: OrderedDict[str, tuple] = OrderedDict()
        self._lock = threading.Lock()

    # -- what is recorded -------------------------------------------------------
    def weights_fingerprint(self) -> str | None:
        return self.models.fingerprint(self.context)

    # -- prompts ----------------------------------------------------------------
    def prompt_for(self, decoded: Decoded) -> str:
        parts = [self.options.prompt.strip()]
        if self.options.prompt_labels:
            parts += [lab for lab in decoded.labels if str(lab).strip()]
        return ", ".join(p for p in parts if p)

    def embeddings(self, prompt: str):
        """``(prompt_embeds, negative_embeds or None)`` of ``prompt``, computed once per prompt."""
        guided = bool(prompt) and self.options.guidance_scale > 1
        with self._lock:
            hit = self._prompts.get(prompt)
            if hit is None:
                import torch

                with torch.no_grad():
                    cond, neg = self.models.pipe.encode_prompt(prompt, self.models.execution_device, 1, guided,
                                                               negative_prompt="" if guided else None)
                hit = (cond, neg if guided else None)
                self._prompts[prompt] = hit
                while len(self._prompts) > PROMPT_CACHE:
                    self._prompts.popitem(last=False)
            else:
                self._prompts.move_to_end(prompt)
        return hit

    # -- composing --------------------------------------------------------------
    def _item(self, decoded: Decoded):
        from .sampling import Item

        lat = decoded.latent
        if decoded.representation != "latent" or lat is None:
            raise PluginError(f"composer 'controlnet' composes latents; this decode holds {decoded.representation}",
                              "use an entropy model that decodes to the sd-vae latent (e.g. target sd-latent)")
        m = self.models
        channels, stride = int(m.unet.config.in_channels), m.vae_scale_factor
        w, h = decoded.size
        want = (channels, -(-h // stride), -(-w // stride))
        if lat.space not in self.latent_spaces or lat.stride != stride or tuple(lat.values.shape) != want:
            raise PluginError(
                f"composer 'controlnet' composes '{'/'.join(sorted(self.latent_spaces))}' latents of shape {want} "
                f"(stride {stride}) for a {w}x{h} image; got '{lat.space}' {tuple(lat.values.shape)} at stride "
                f"{lat.stride}", "the entropy model's latent does not fit this base model's VAE")
        cond, neg = self.embeddings(self.prompt_for(decoded))
        return Item(np.asarray(lat.values, np.float32), np.asarray(lat.arrived, bool), cond, neg)

    def _sample(self, items, on_step=None) -> list[np.ndarray]:
        from .sampling import sample

        o = self.options
        with self.models.lock:
            return sample(self.models, items, steps=self.steps, scheduler=o.scheduler,
                          guidance_scale=o.guidance_scale, conditioning_scale=o.conditioning_scale, blend=o.blend,
                          paste_pixels=o.paste_pixels,
                          seed=self.seed, on_step=on_step)

    def compose(self, decoded: Decoded) -> np.ndarray:
        return self.compose_batch([decoded])[0]

    def compose_batch(self, batch: Sequence[Decoded]) -> list[np.ndarray]:
        """Decodes of the same latent size (and guidance) are sampled together, ``batch_size`` at a time, on a
        GPU. On the CPU they are sampled one by one: oneDNN's convolutions round differently for different
        batch sizes, and a picture's bytes must not depend on the batch it came in (batching gains little on
        a CPU; see benchmarks/bench_composer.py)."""
        items = [self._item(d) for d in batch]
        groups: dict[tuple, list[int]] = {}
        for k, it in enumerate(items):
            groups.setdefault((it.latent.shape, it.negative_embeds is not None), []).append(k)
        out: list[np.ndarray | None] = [None] * len(items)
        size = 1 if self.models.execution_device.type == "cpu" else self.options.batch_size
        for members in groups.values():
            for start in range(0, len(members), size):
                part = members[start:start + size]
                for k, picture in zip(part, self._sample([items[k] for k in part])):
                    w, h = batch[k].size
                    out[k] = np.ascontiguousarray(picture[:h, :w])
        return out  # type: ignore[return-value]
