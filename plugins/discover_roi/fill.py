"""What roi-image's background holds where regions will be pasted over it: a smooth fill that costs few bits."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter

from discover_core.interfaces import IntBox

BLEND_REACH = 16
"""Image pixels inside a region's edge whose background is kept as it is: a composer's feathering there blends
the region with the background (``paste``'s ``feather``: a few pixels), and the upsampling filter reaches a
couple of background pixels further."""


def smooth_under(pixels: np.ndarray, boxes: Sequence[IntBox], size: tuple[int, int]) -> np.ndarray:
    """``pixels`` (the background of a ``size`` image) with what lies under ``boxes`` (image pixels), less
    :data:`BLEND_REACH` and two background pixels inside their edges, replaced by a smooth fill: the kept
    pixels around it, blurred over an eighth of the background's longer side (normalised convolution); where
    nothing is kept within reach, their mean. A codec spends almost nothing on it, so a region's pixels are
    not paid for twice, once in its chunk and once in the background."""
    (w, h), (bh, bw) = size, pixels.shape[:2]
    keep = np.ones((bh, bw), bool)
    mx, my = 2 + -(-BLEND_REACH * bw // w), 2 + -(-BLEND_REACH * bh // h)  # background pixels kept inside
    for x0, y0, x1, y1 in boxes:
        gx0, gy0 = -(-x0 * bw // w) + mx, -(-y0 * bh // h) + my
        gx1, gy1 = x1 * bw // w - mx, y1 * bh // h - my
        if gx1 > gx0 and gy1 > gy0:
            keep[gy0:gy1, gx0:gx1] = False
    if keep.all():
        return pixels
    sigma = max(bw, bh) / 8
    weight = gaussian_filter(keep.astype(np.float64), sigma)
    mean = pixels[keep].mean(axis=0) if keep.any() else pixels.reshape(-1, 3).mean(axis=0)
    out = pixels.astype(np.float64)
    for c in range(3):
        blurred = gaussian_filter(np.where(keep, out[..., c], 0.0), sigma)
        out[..., c] = np.where(keep, out[..., c], np.where(weight > 1e-6, blurred / np.maximum(weight, 1e-6),
                                                           mean[c]))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
