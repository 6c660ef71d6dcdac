"""The ``plain`` composer: the paper's "w/o composition" path, without a generative model.

``pixels`` are used as they are (the coarse image at full resolution, patches pasted on top); an ``sd-vae``
latent is decoded by a diffusers ``AutoencoderKL``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from pydantic import Field

from discover_core.interfaces import PATH_OPTION, Composer, Decoded, Options


class Plain(Composer):
    """Pixels as they are, or an SD-VAE latent decoded by the VAE (no diffusion)."""

    name = "plain"
    accepts = frozenset({"pixels", "latent"})
    latent_spaces = frozenset({"sd-vae"})
    decoder_options = ()

    class Options(Options):
        vae: str = Field("stabilityai/sd-vae-ft-mse", json_schema_extra=PATH_OPTION,
                         description="the AutoencoderKL that decodes sd-vae latents: a hub id or a local folder")
        vae_subfolder: str | None = Field(None, description="subfolder of the VAE in the repository or folder "
                                                            "('vae' for a whole Stable Diffusion pipeline)")

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self._vae = None

    def vae(self):
        if self._vae is None:
            from .vae import load_vae

            self._vae = load_vae(self.options.vae, self.context, self.context.device, self.options.vae_subfolder)
        return self._vae

    def compose(self, decoded: Decoded) -> np.ndarray:
        w, h = decoded.size
        if decoded.representation == "latent":
            return self._decode_latent(decoded, w, h)
        if decoded.coarse is None:
            out = np.zeros((h, w, 3), np.uint8)
        elif decoded.coarse.shape[:2] == (h, w):
            out = decoded.coarse.copy()
        else:
            out = np.asarray(Image.fromarray(decoded.coarse).resize((w, h), Image.Resampling.BICUBIC))
            out = out.copy()
        for p in decoded.patches:
            p.paste_onto(out)
        return out

    def _decode_latent(self, decoded: Decoded, w: int, h: int) -> np.ndarray:
        import torch

        latent = decoded.latent
        vae = self.vae()
        z = torch.from_numpy(np.ascontiguousarray(latent.values))[None].to(self.context.device, vae.dtype)
        with torch.no_grad():
            x = vae.decode(z).sample[0].float().cpu()
        x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
        if x.shape[0] < h or x.shape[1] < w:  # a VAE with another stride: stretch to the image
            x = np.asarray(Image.fromarray(x).resize((max(w, x.shape[1]), max(h, x.shape[0])),
                                                     Image.Resampling.BICUBIC))
        return np.ascontiguousarray(x[:h, :w])
