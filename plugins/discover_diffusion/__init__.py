"""Generative composer ``controlnet``: Stable Diffusion 2.x + a latent-condition ControlNet on the decoded
SD-VAE latent (diffusers), with the ControlNet's training loss. torch, diffusers and transformers are
imported when the component is built."""

from discover_core.hookspecs import hookimpl

from .composer import ControlNetComposer


@hookimpl
def register_composers(register):
    register(ControlNetComposer)
