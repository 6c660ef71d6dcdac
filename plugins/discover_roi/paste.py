"""The ``paste`` composer: upsample the coarse content, paste every region that arrived."""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image, ImageFilter
from pydantic import Field

from discover_core.interfaces import Composer, Decoded, Options

from .codec import resize


def _alpha(mask: np.ndarray, feather: int, open_sides: tuple[bool, bool, bool, bool]) -> np.ndarray:
    """Blend weights: 1 inside the mask, falling to 0 over ``feather`` pixels at edges that face the image."""
    if feather <= 0:
        return mask.astype(np.float32)
    left, top, right, bottom = (feather if s else 0 for s in open_sides)
    padded = np.pad(mask, ((top, bottom), (left, right)), mode="edge")
    # Pad with zeros on sides inside the image, so the weights fall off there only.
    if top:
        padded[:top] = False
    if bottom:
        padded[-bottom:] = False
    if left:
        padded[:, :left] = False
    if right:
        padded[:, -right:] = False
    img = Image.fromarray(padded.astype(np.uint8) * 255, "L")
    img = img.filter(ImageFilter.MinFilter(2 * (feather // 2) + 1)).filter(ImageFilter.GaussianBlur(feather / 2))
    a = np.asarray(img, dtype=np.float32) / 255.0
    a = a[top:a.shape[0] - bottom, left:a.shape[1] - right]
    return np.where(mask, a, 0.0)


class Paste(Composer):
    """Upsample the coarse global content and paste every region that arrived on top."""

    name = "paste"
    accepts = frozenset({"pixels"})

    class Options(Options):
        upsample: Literal["nearest", "bilinear", "bicubic", "lanczos"] = Field(
            "bicubic", description="filter that brings the coarse content to full size")
        feather: int = Field(0, ge=0, le=64, description="pixels over which region edges blend into the "
                                                         "background (0: hard edges)")
        fill: tuple[int, int, int] = Field((128, 128, 128), description="colour where no content arrived at all")

    def compose(self, decoded: Decoded) -> np.ndarray:
        w, h = decoded.size
        if decoded.coarse is not None:
            canvas = resize(decoded.coarse, (w, h), self.options.upsample).copy()
        else:
            canvas = np.empty((h, w, 3), np.uint8)
            canvas[:] = self.options.fill
        feather = self.options.feather
        for p in decoded.patches:
            x0, y0, x1, y1 = p.box
            region = canvas[y0:y1, x0:x1]
            if feather == 0:  # hard edges: copy the pixels, no arithmetic
                if p.mask is None:
                    region[...] = p.pixels
                else:
                    np.copyto(region, p.pixels, where=p.mask[:, :, None])
                continue
            mask = p.mask if p.mask is not None else np.ones(p.pixels.shape[:2], bool)
            a = _alpha(mask, feather, (x0 > 0, y0 > 0, x1 < w, y1 < h))[:, :, None]
            blended = a * p.pixels.astype(np.float32) + (1.0 - a) * region.astype(np.float32)
            region[...] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
        return canvas
