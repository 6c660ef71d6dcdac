"""Whole-image baselines: the AVIF / JPEG still closest to a size, or the smallest that meets a bar."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..stills import encode_still


def matched_quality(image: np.ndarray, codec: str, accept: Callable[[bytes], bool]) -> tuple[int, bytes]:
    """Smallest quality (1-100) whose whole-image still satisfies ``accept`` (assumed monotone), by bisection."""
    lo, hi = 1, 100
    best = (100, encode_still(image, codec, 100))
    while lo <= hi:
        mid = (lo + hi) // 2
        data = encode_still(image, codec, mid)
        if accept(data):
            best, hi = (mid, data), mid - 1
        else:
            lo = mid + 1
    return best


def closest_bpp(image: np.ndarray, codec: str, target_bytes: int) -> tuple[int, bytes]:
    """The whole-image still whose size is closest to ``target_bytes``."""
    q, data = matched_quality(image, codec, lambda d: len(d) > target_bytes)
    if q > 1:
        below = encode_still(image, codec, q - 1)
        if abs(len(below) - target_bytes) <= abs(len(data) - target_bytes):
            return q - 1, below
    return q, data
