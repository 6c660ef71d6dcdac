"""Task head ``template-brightness``: which brightness bucket an image falls in."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from pydantic import Field

from discover_core import Options, TaskHead

LUMA = np.array([0.299, 0.587, 0.114])


def _bucket(value: Any) -> int:
    return int(value["bucket"] if isinstance(value, dict) else value)


class TemplateBrightness(TaskHead):
    """Mean-brightness bucket of an image (0 darkest); scores agreement with references and accuracy."""

    name = "template-brightness"
    task = "brightness"

    class Options(Options):
        buckets: int = Field(4, ge=2, le=256, description="how many equal brightness buckets to tell apart")

    def predict(self, image: np.ndarray) -> dict[str, Any]:
        mean = float(np.mean(image.reshape(-1, 3).astype(np.float64) @ LUMA))
        bucket = min(self.options.buckets - 1, int(mean * self.options.buckets / 256.0))
        return {"bucket": bucket, "mean": round(mean, 4)}

    def score(self, predictions: Sequence[Any], references: Sequence[Any] | None = None,
              targets: Sequence[Any] | None = None) -> dict[str, float]:
        """``agreement`` (same bucket as the reference) and ``mean_abs_error`` of the mean brightness;
        ``accuracy`` against ``targets`` (bucket numbers or predictions)."""
        if not predictions:
            raise ValueError("nothing to score: no predictions")
        metrics: dict[str, float] = {}
        if references is not None:
            if len(references) != len(predictions):
                raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
            metrics["agreement"] = float(np.mean([_bucket(p) == _bucket(r) for p, r in zip(predictions, references)]))
            metrics["mean_abs_error"] = float(np.mean([abs(p["mean"] - r["mean"])
                                                       for p, r in zip(predictions, references)]))
        if targets is not None:
            if len(targets) != len(predictions):
                raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets")
            metrics["accuracy"] = float(np.mean([_bucket(p) == _bucket(t) for p, t in zip(predictions, targets)]))
        if not metrics:
            raise ValueError("give references, targets or both")
        return metrics
