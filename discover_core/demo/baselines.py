"""Whole-image baselines: the AVIF / JPEG still closest to a size, or the smallest that meets a bar.

Every still a demo run codes is kept (:class:`StillCache`, keyed by the photo's pixels, codec and quality):
the searches of all quality points and of every pipeline on the same photo probe many of the same qualities,
and each is coded once -- across the demo's worker processes too, through a shared folder.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..stills import encode_still


class StillCache:
    """Coded whole-image stills by (pixels, codec, quality), at most ``max_bytes`` of them (oldest dropped).

    ``folder``: a folder that processes running at once share (the demo's workers): a still another process
    coded is read from it, and one it is coding right now (its ``.lock`` file exists) is waited for, up to
    ``wait_s`` seconds, instead of coded twice. The stills are the same bytes whoever codes them (the encoder
    is deterministic), so sharing changes no result.
    """

    def __init__(self, max_bytes: int = 256 << 20, folder: Path | None = None, wait_s: float = 120.0):
        self.max_bytes, self.size, self.folder, self.wait_s = max_bytes, 0, folder, wait_s
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
        data = self._shared(key, lambda: encode_still(image, codec, quality)) if self.folder else \
            encode_still(image, codec, quality)
        with self._lock:
            self._stills[key] = data
            self.size += len(data)
            while self.size > self.max_bytes and self._stills:
                self.size -= len(self._stills.pop(next(iter(self._stills))))
        return data

    def _shared(self, key: tuple, code: Callable[[], bytes]) -> bytes:
        """The still of ``key`` from the shared folder, or coded here and put there (atomically)."""
        path = Path(self.folder) / f"{key[0][:40]}-{key[1]}-{key[2]}"
        lock = path.with_name(path.name + ".lock")
        deadline = time.monotonic() + self.wait_s
        while True:
            if path.exists():
                return path.read_bytes()
            try:
                os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                break
            except FileExistsError:  # another process is coding it
                if time.monotonic() > deadline:
                    return code()
                time.sleep(0.02)
        try:
            data = code()
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            return data
        finally:
            lock.unlink(missing_ok=True)

    def coded(self, image: np.ndarray, codec: str) -> dict[int, bytes]:
        """The stills of ``image`` in ``codec`` kept so far, by quality."""
        with self._lock:
            key = self._image_key(image)
            return {k[2]: v for k, v in self._stills.items() if k[0] == key and k[1] == codec}

    def clear(self) -> None:
        with self._lock:
            self._stills.clear()
            self._keys.clear()
            self.size = 0


STILLS = StillCache()
"""The stills of this process's demo runs."""


def smallest_quality(measure: Callable[[int], float], target: float, strict: bool = False,
                     known: dict[int, float] | None = None, lo: int = 1, hi: int = 100) -> int:
    """Smallest quality in ``lo..hi`` whose ``measure`` passes ``target`` (``>`` if ``strict``, else ``>=``),
    assuming the measure does not decrease with quality; ``hi`` when none passes.

    ``known``: measures already taken (quality -> value; new probes are added to it): the search starts from
    the tightest bracket they give. Then an interpolation search between the passing and failing qualities
    known so far, in the measure's own units, with a bisection step whenever the same end moved twice in a
    row: on the smooth curves of a still codec (log size, PSNR against quality) it needs fewer probes than a
    plain bisection, and a photo's later searches start from its earlier ones' probes.
    """
    known = {} if known is None else known

    def at(q: int) -> float:
        if q not in known:
            known[q] = measure(q)
        return known[q]

    def ok(v: float) -> bool:
        return v > target if strict else v >= target

    passing = [q for q, v in known.items() if lo <= q <= hi and ok(v)]
    top = min(passing, default=hi)
    failing = [q for q, v in known.items() if lo <= q < top and not ok(v)]
    bottom = max(failing, default=lo)
    lo, hi = bottom, top
    if not failing and ok(at(lo)):
        return lo
    if not passing and not ok(at(hi)):
        return hi
    v_lo, v_hi = at(lo), at(hi)
    moves: list[str] = []
    while hi - lo > 1:
        if moves[-2:] in (["lo", "lo"], ["hi", "hi"]) or not v_hi > v_lo:
            q = (lo + hi) // 2
        else:
            q = lo + round((target - v_lo) / (v_hi - v_lo) * (hi - lo))
        q = min(max(q, lo + 1), hi - 1)
        v = at(q)
        if ok(v):
            hi, v_hi = q, v
            moves.append("hi")
        else:
            lo, v_lo = q, v
            moves.append("lo")
    return hi


def matched_quality(image: np.ndarray, codec: str, measure: Callable[[bytes], float], target: float,
                    strict: bool = False, known: dict[int, float] | None = None) -> tuple[int, bytes]:
    """The smallest quality (1-100) whose whole-image still's ``measure`` passes ``target`` (see
    :func:`smallest_quality`; ``known``: the same measure's values from earlier searches on this image), and
    that still."""
    q = smallest_quality(lambda q: measure(STILLS.encode(image, codec, q)), target, strict, known)
    return q, STILLS.encode(image, codec, q)


def closest_bpp(image: np.ndarray, codec: str, target_bytes: int) -> tuple[int, bytes]:
    """The whole-image still whose size is closest to ``target_bytes`` (the searches run on log sizes, on
    which a still codec's quality acts nearly linearly)."""
    known = {q: math.log(len(d)) for q, d in STILLS.coded(image, codec).items()}
    q, data = matched_quality(image, codec, lambda d: math.log(len(d)), math.log(max(1, target_bytes)),
                              strict=True, known=known)
    if q > 1:
        below = STILLS.encode(image, codec, q - 1)
        if abs(len(below) - target_bytes) <= abs(len(data) - target_bytes):
            return q - 1, below
    return q, data
