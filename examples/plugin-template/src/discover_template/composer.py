"""Composer ``template-nearest``: nearest-neighbour upsampling, then every patch pasted on top."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from discover_core import Composer, Decoded, Options

Channel = Annotated[int, Field(ge=0, le=255)]


def upsample_nearest(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nearest-neighbour resize of an ``(h, w, 3)`` array to ``(height, width, 3)``, sampling pixel centres."""
    h, w = pixels.shape[:2]
    rows = (2 * np.arange(height) + 1) * h // (2 * height)
    cols = (2 * np.arange(width) + 1) * w // (2 * width)
    return pixels[rows[:, None], cols[None, :]]


class TemplateNearest(Composer):
    """Nearest-neighbour upsampling of the coarse content, with every patch that arrived pasted on top."""

    name = "template-nearest"
    accepts = frozenset({"pixels"})

    class Options(Options):
        fill: tuple[Channel, Channel, Channel] = Field((0, 0, 0),
                                                       description="RGB colour where no content arrived at all")

    def compose(self, decoded: Decoded) -> np.ndarray:
        w, h = decoded.size
        if decoded.coarse is not None:
            canvas = upsample_nearest(np.asarray(decoded.coarse, dtype=np.uint8), w, h).copy()
        else:
            canvas = np.empty((h, w, 3), np.uint8)
            canvas[:] = self.options.fill
        for p in decoded.patches:
            p.paste_onto(canvas)  # masked pixels only; a patch that does not fit its box is a ValueError
        return canvas
