"""What every whole-image baseline shares: one side chunk named ``image``, decoded to the full picture.

There are no content chunks: the regions are not coded apart, so every task's part of the stream is the
whole stream (the paper's anchors code the whole picture for every task) and no label is listed on a chunk.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from discover_core.errors import PayloadError
from discover_core.interfaces import Chunk, Decoded, Encoded, EntropyModel, Region


class WholeImage(EntropyModel):
    """Base of the whole-image baselines: ``code`` / ``uncode`` one picture; regions are ignored."""

    produces = "pixels"
    decoder_options: tuple[str, ...] = ()

    def code(self, image: np.ndarray) -> bytes:
        raise NotImplementedError

    def uncode(self, data: bytes, size: tuple[int, int]) -> np.ndarray:
        raise NotImplementedError

    def encode(self, image: np.ndarray, regions: Sequence[Region]) -> Encoded:
        return Encoded([Chunk("side", "image", self.code(np.ascontiguousarray(image)))], params={})

    def decode(self, size: tuple[int, int], params: dict[str, Any], chunks: Sequence[Chunk],
               format_version: int) -> Decoded:
        if not self.reads(format_version):
            raise PayloadError(f"{self.name} format {format_version} is not one this decoder reads",
                               "upgrade discover-codec")
        sides = [c for c in chunks if c.kind == "side"]
        if [c.name for c in sides] != ["image"] or any(c.kind == "content" for c in chunks):
            raise PayloadError(f"a {self.name} stream holds exactly one side chunk 'image'",
                               "the stream is damaged or was not written by this baseline")
        pixels = self.uncode(sides[0].payload, tuple(size))
        if pixels.shape != (size[1], size[0], 3):
            raise PayloadError(f"the {self.name} payload decodes to {pixels.shape[1]}x{pixels.shape[0]}, the "
                               f"stream header says {size[0]}x{size[1]}", "the stream is damaged")
        return Decoded(size=tuple(size), representation="pixels", coarse=pixels, patches=[], missing=None)
