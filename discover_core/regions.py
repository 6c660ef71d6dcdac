"""Boxes to masks: the one implementation used by the metrics, the ``roi-image`` codec and the contract suites.

A box is ``(x0, y0, x1, y1)`` in pixels of the full image (``x1``/``y1``
exclusive); float boxes are rounded outwards to whole pixels. The work is
bounded by the mask's area whatever the number of boxes: identical boxes are
counted once, and many overlapping boxes are summed with a 2-D difference
array (one pass over the rectangle) instead of being filled one by one.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from .interfaces import Box, IntBox


def box_mask(boxes: Iterable[Box | IntBox], rect: IntBox) -> np.ndarray:
    """Boolean mask over ``rect`` (``(height, width)`` of the rectangle) of the union of ``boxes``.

    Boxes are in full-image coordinates, rounded outwards and clipped to ``rect``.
    """
    rx0, ry0, rx1, ry1 = rect
    h, w = max(0, ry1 - ry0), max(0, rx1 - rx0)
    clipped: dict[IntBox, None] = {}
    for x0, y0, x1, y1 in dict.fromkeys(boxes):
        b = (min(w, max(0, math.floor(x0) - rx0)), min(h, max(0, math.floor(y0) - ry0)),
             min(w, max(0, math.ceil(x1) - rx0)), min(h, max(0, math.ceil(y1) - ry0)))
        if b[2] > b[0] and b[3] > b[1]:
            clipped[b] = None
    m = np.zeros((h, w), dtype=bool)
    if not clipped:
        return m
    area = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in clipped)
    if len(clipped) <= 8 or area <= 2 * h * w:  # filling box by box costs no more than a pass over the rectangle
        for x0, y0, x1, y1 in clipped:
            m[y0:y1, x0:x1] = True
        return m
    b = np.asarray(list(clipped), dtype=np.int64)
    # Counts of overlapping boxes (and the partial sums on the way) stay within +-len(b).
    diff = np.zeros((h + 1, w + 1), dtype=np.int16 if len(b) < 1 << 15 else np.int32)
    np.add.at(diff, (b[:, 1], b[:, 0]), 1)
    np.add.at(diff, (b[:, 1], b[:, 2]), -1)
    np.add.at(diff, (b[:, 3], b[:, 0]), -1)
    np.add.at(diff, (b[:, 3], b[:, 2]), 1)
    np.cumsum(diff, axis=0, out=diff)
    np.cumsum(diff, axis=1, out=diff)
    return diff[:h, :w] > 0


def image_mask(width: int, height: int, boxes: Iterable[Box | IntBox]) -> np.ndarray:
    """Boolean ``(height, width)`` mask of the union of ``boxes`` over the whole image."""
    return box_mask(boxes, (0, 0, width, height))


def bounds(boxes: Sequence[IntBox]) -> IntBox:
    """The smallest rectangle holding all ``boxes`` (at least one)."""
    b = np.asarray(boxes)
    return (int(b[:, 0].min()), int(b[:, 1].min()), int(b[:, 2].max()), int(b[:, 3].max()))
