"""Learned entropy models ``hyperprior`` and ``elic`` (compressai) with region-chunked latents, the ``plain``
composer, checkpoints and two-stage training. torch and compressai are imported when a component is built."""

from discover_core.hookspecs import hookimpl

from .component import Elic, Hyperprior
from .plain import Plain


@hookimpl
def register_entropy_models(register):
    register(Hyperprior)
    register(Elic)


@hookimpl
def register_composers(register):
    register(Plain)
