"""Closed-loop machine rate control: each image coded at the lowest quality its own task heads still agree at.

The entropy model's quality knob (``region_quality`` for ``roi-image``) is searched along a ladder: at each
point the image is encoded (grounded once), every task's part is extracted and decoded as a receiver would,
and each of the task's heads predicts on that picture; the point is accepted when every head's ``agreement``
with its own prediction on the original reaches ``min_agreement`` (classification: the same top-1 class;
detection: the image's agreement AP). The search is a bisection, so it assumes agreement grows with quality; a
ladder where it does not may give a point above the lowest agreeing one, never one that does not agree
(unless no point agrees: then the top of the ladder is used and the result says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from . import build as builder
from .bitstream import Stream
from .errors import ConfigError
from .interfaces import ImageMeta

LADDER = (10, 20, 30, 40, 50, 60, 70, 80, 90)
"""The default quality ladder (the benchmarks walk the same points)."""


@dataclass
class RateChoice:
    """What the search chose for one image."""

    stream: Stream
    quality: int
    agreed: bool
    """False when no point of the ladder agreed (the stream is then the ladder's top)."""
    tried: dict[int, dict[str, float]] = field(default_factory=dict)
    """Quality -> each task's lowest agreement at that point."""


def encode_at_agreement(pipeline, image: np.ndarray, meta: ImageMeta | None = None,
                        ladder: Sequence[int] = LADDER, min_agreement: float = 1.0,
                        knob: str = "region_quality") -> RateChoice:
    """Encode ``image`` at the lowest point of ``ladder`` (values of the entropy model option ``knob``) at which
    every task head of ``pipeline`` agrees with its answer on the original at least ``min_agreement``."""
    ladder = sorted(set(int(q) for q in ladder))
    if not ladder:
        raise ConfigError("rate control", [("ladder", "give at least one quality")])
    if knob not in type(pipeline.entropy_model).Options.model_fields:
        raise ConfigError("rate control", [("knob", f"the entropy model '{pipeline.entropy_model.name}' has no "
                                                    f"option '{knob}'")])
    heads = {task: hs for task, hs in pipeline.heads.items() if hs}
    if not heads:
        raise ConfigError("rate control", [("task_heads", "closed-loop rate control needs at least one task head "
                                                          "(the pipeline's tasks name none)")])
    meta = meta or ImageMeta(name="array")
    references = {task: [builder.call(h, f"predicting on {meta.name}", h.predict, image) for h in hs]
                  for task, hs in heads.items()}
    regions = pipeline.ground(image, meta)
    tried: dict[int, dict[str, float]] = {}
    streams: dict[int, Stream] = {}

    def agreement(q: int) -> bool:
        variant = pipeline.variant(entropy_model={knob: q})
        stream = streams[q] = variant.encode(image, meta, regions=regions)
        per_task = {}
        for task, hs in heads.items():
            picture = variant.decode(stream.extract(task=task))
            per_task[task] = min(_agreement(h, picture, ref, meta) for h, ref in zip(hs, references[task]))
        tried[q] = per_task
        return min(per_task.values()) >= min_agreement

    lo, hi, best = 0, len(ladder) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if agreement(ladder[mid]):
            best, hi = mid, mid - 1
        else:
            lo = mid + 1
    if best is None:
        top = ladder[-1]
        if top not in streams:
            agreement(top)
        return RateChoice(streams[top], top, False, tried)
    return RateChoice(streams[ladder[best]], ladder[best], True, tried)


def _agreement(head, picture: np.ndarray, reference: Any, meta: ImageMeta) -> float:
    prediction = builder.call(head, f"predicting on the decoded {meta.name}", head.predict, picture)
    scores = builder.call(head, "scoring agreement", head.score, [prediction], [reference])
    if "agreement" not in scores:
        raise ConfigError("rate control", [("task_heads", f"head '{head.name}' reports no 'agreement' score, so "
                                                          f"it cannot steer the rate")])
    return float(scores["agreement"])
