"""Whole-image baselines: the AVIF / JPEG still closest to a size, or the smallest that meets a bar.

Every still a demo run codes is kept (:class:`StillCache`, keyed by the photo's pixels, codec and quality):
the searches of all quality points and of every pipeline on the same photo probe many of the same qualities,
and each is coded once.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Callable

import numpy as np

from ..stills import encode_still


class StillCache:
    """Coded whole-image stills by (pixels, codec, quality), at most ``max_bytes`` of them (oldest dropped)."""

    def __init__(self, max_bytes: int = 256 << 20):
        self.max_bytes, self.size = max_bytes, 0
        self._stills: dict[tuple, bytes] = {}
        self._keys: dict[int, tuple[np.ndarray, str]] = {}
        self._lock = threading.Lock()

    def _image_key(self, image: np.ndarray) -> str:
        found = self._keys.get(id(image))
        if found is not None and found[0] is image:
            return found[1]
        key = hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest() + str(image.shape)
        self._keys[id(image)] = (image, key)  # holds the array, so its id is not reused while cached
        return key

    def encode(self, image: np.ndarray, codec: str, quality: int) -> bytes:
        with self._lock:
            key = (self._image_key(image), codec, quality)
            found = self._stills.get(key)
        if found is not None:
            return found
        data = encode_still(image, codec, quality)
        with self._lock:
            self._stills[key] = data
            self.size += len(data)
            while self.size > self.max_bytes and self._stills:
                self.size -= len(self._stills.pop(next(iter(self._stills))))
        return data

    def clear(self) -> None:
        with self._lock:
            self._stills.clear()
            self._keys.clear()
            self.size = 0


STILLS = StillCache()
"""The stills of this process's demo runs."""


def matched_quality(image: np.ndarray, codec: str, accept: Callable[[bytes], bool]) -> tuple[int, bytes]:
    """Smallest quality (1-100) whose whole-image still satisfies ``accept`` (assumed monotone), by bisection."""
    lo, hi = 1, 100
    best = (100, STILLS.encode(image, codec, 100))
    while lo <= hi:
        mid = (lo + hi) // 2
        data = STILLS.encode(image, codec, mid)
        if accept(data):
            best, hi = (mid, data), mid - 1
        else:
            lo = mid + 1
    return best


def closest_bpp(image: np.ndarray, codec: str, target_bytes: int) -> tuple[int, bytes]:
    """The whole-image still whose size is closest to ``target_bytes``."""
    q, data = matched_quality(image, codec, lambda d: len(d) > target_bytes)
    if q > 1:
        below = STILLS.encode(image, codec, q - 1)
        if abs(len(below) - target_bytes) <= abs(len(data) - target_bytes):
            return q - 1, below
    return q, data
