"""Built-in plugin ``baselines``: whole-image codecs as entropy models, so anchors run through the same
evaluate / sweep / report path as discover's own codecs.

``jpeg``, ``webp``, ``avif`` (Pillow), ``hevc-intra`` (pillow-heif's x265, else ``ffmpeg`` with libx265 on
PATH), ``vtm`` (VTM's ``EncoderApp`` / ``DecoderApp`` on PATH) and ``compressai`` (compressai's zoo
architectures with the user's own weights file). Each codes the whole picture as one side chunk, so every
task's part of the stream is the whole stream; the ``paste`` composer shows the decoded picture as it is.
"""

from discover_core.hookspecs import hookimpl

from .compressai_zoo import CompressaiZoo
from .stills import Avif, HevcIntra, Jpeg, Webp
from .vtm import Vtm

__all__ = ["Avif", "CompressaiZoo", "HevcIntra", "Jpeg", "Vtm", "Webp"]


@hookimpl
def register_entropy_models(register):
    for cls in (Jpeg, Webp, Avif, HevcIntra, Vtm, CompressaiZoo):
        register(cls)
