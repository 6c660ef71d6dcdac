"""Built-in classical region-of-interest codec ``roi-image`` and its composer ``paste``."""

from discover_core.hookspecs import hookimpl

from .codec import RoiImage
from .paste import Paste


@hookimpl
def register_entropy_models(register):
    register(RoiImage)


@hookimpl
def register_composers(register):
    register(Paste)
