"""Compare the PyTorch port with person masks of the original JavaScript runtime (``scripts/check_segment_port.py``).

A reference file (``tests/segment/data/reference.json``) holds, per model and photo, what the package's own
runtime computed, kept small:

- ``pooled``: the person probability at the model's resolution, averaged over a :data:`GRID` x
  :data:`GRID` grid of blocks;
- ``samples``: ``[y, x, p]`` for :data:`BOUNDARY_SAMPLES` pixels where the probability at the image's
  resolution is between 0.05 and 0.95 (the mask's edge, where a port error shows first) and
  :data:`OTHER_SAMPLES` other pixels;
- ``area``: the pixels whose probability is at least 0.5; ``mean``: the mean probability;
- ``pixels_sha256`` of the photo, so a changed photo is noticed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

GRID = 8
BOUNDARY_SAMPLES = 24
OTHER_SAMPLES = 8


def pixels_sha256(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image, dtype=np.uint8).tobytes()).hexdigest()


def pooled(prob: np.ndarray, grid: int = GRID) -> np.ndarray:
    """Block means of a (h, w) map over a ``grid`` x ``grid`` partition (block edges rounded down)."""
    h, w = prob.shape
    ys, xs = np.linspace(0, h, grid + 1).astype(int), np.linspace(0, w, grid + 1).astype(int)
    return np.array([[prob[ys[i]:ys[i + 1], xs[j]:xs[j + 1]].astype(np.float64).mean() for j in range(grid)]
                     for i in range(grid)])


def summary(model_prob: np.ndarray, image_prob: np.ndarray, seed: int = 0) -> dict:
    """The reference entry of one photo from the runtime's probabilities (model and image resolution)."""
    rng = np.random.default_rng(seed)
    edge = np.argwhere((image_prob > 0.05) & (image_prob < 0.95))
    picks = [edge[k] for k in rng.choice(len(edge), min(BOUNDARY_SAMPLES, len(edge)), replace=False)]
    h, w = image_prob.shape
    picks += [np.array([rng.integers(h), rng.integers(w)]) for _ in range(OTHER_SAMPLES)]
    return {
        "pooled": np.round(pooled(model_prob), 7).tolist(),
        "samples": [[int(y), int(x), round(float(image_prob[y, x]), 7)] for y, x in picks],
        "area": int((image_prob >= 0.5).sum()),
        "mean": round(float(image_prob.astype(np.float64).mean()), 7),
    }


@dataclass
class Diff:
    """Largest differences between the port and a reference entry on one photo (probabilities in [0, 1])."""

    pooled: float
    samples: float
    area_fraction: float
    """|area difference| / pixels of the image."""
    mean: float

    def ok(self, tolerance: float = 1e-4, area_fraction: float = 1e-3) -> bool:
        return max(self.pooled, self.samples, self.mean) <= tolerance and self.area_fraction <= area_fraction


def compare(ref: dict, model_prob: np.ndarray, image_prob: np.ndarray) -> Diff:
    """The port's probabilities (model and image resolution) against a reference entry."""
    samples = np.array(ref["samples"], dtype=np.float64).reshape(-1, 3)
    ys, xs = samples[:, 0].astype(int), samples[:, 1].astype(int)
    return Diff(
        pooled=float(np.abs(pooled(model_prob) - np.array(ref["pooled"])).max()),
        samples=float(np.abs(image_prob[ys, xs] - samples[:, 2]).max()) if len(samples) else 0.0,
        area_fraction=abs(int((image_prob >= 0.5).sum()) - ref["area"]) / image_prob.size,
        mean=abs(float(image_prob.astype(np.float64).mean()) - ref["mean"]),
    )
