"""Grounder ``template-centre``: one centred box, labelled with the first candidate label.

A stand-in for a real detector that is still useful: "the subject is in the
middle" is how many photos are framed, and it makes pipelines testable
without a model.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from pydantic import Field

from discover_core import Grounder, ImageMeta, Options, Region


class TemplateCentre(Grounder):
    """A centred box covering a fraction of the image, labelled with the first candidate label."""

    name = "template-centre"

    class Options(Options):
        fraction: float = Field(0.5, gt=0.0, le=1.0,
                                description="width and height of the box relative to the image's")
        score: float = Field(1.0, ge=0.0, le=1.0, description="confidence given to the box")

    def ground(self, image: np.ndarray, labels: Sequence[str], meta: ImageMeta) -> list[Region]:
        candidates = [label for label in labels if label.strip()]
        if not candidates:
            return []
        h, w = image.shape[:2]
        f = self.options.fraction
        box = ((w - w * f) / 2, (h - h * f) / 2, (w + w * f) / 2, (h + h * f) / 2)
        return [Region(box, candidates[0], self.options.score)]
