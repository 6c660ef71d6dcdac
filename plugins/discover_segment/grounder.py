"""The ``person-mask`` grounder: boxes of the person mask's instances, for the candidate labels that mean a person.

One region per instance (an 8-connected component of the mask of at least ``min_area``; see
:mod:`.masks`), best scored first, its score the mean person probability inside it. The region's label is
the candidate ``person`` when it is one, else the first candidate that means a person (:mod:`.labels`):
with ``[person, face]`` a segmentation task and a faces task each keep their own grounder's regions.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from pydantic import Field

from discover_core.interfaces import Context, Grounder, ImageMeta, Region

from .backend import SegmenterOptions, fingerprint_of, load_for
from .fetch import MODEL_FILES


class PersonMaskGrounder(Grounder):
    """Boxes of the people in an image: instances of a person mask (MediaPipe selfie or Google Meet segmenter)."""

    name = "person-mask"
    requires = ("torch", "scipy")
    extra = "vision"
    model_files = (MODEL_FILES["selfie"], MODEL_FILES["meet"])

    class Options(SegmenterOptions):
        max_regions: int = Field(20, ge=1, le=100, description="at most this many regions per image, the best "
                                 "scored first")

    @classmethod
    def vocabulary(cls, options: Options, context: Context) -> frozenset[str]:
        from .labels import VOCABULARY

        return VOCABULARY

    def __init__(self, options: Options | None = None, context: Context | None = None):
        super().__init__(options, context)
        self.check_requirements()
        self.model = load_for(self)

    def weights_fingerprint(self) -> str:
        return fingerprint_of(self)

    def ground(self, image: np.ndarray, labels: Sequence[str], meta: ImageMeta | None = None) -> list[Region]:
        from .labels import match
        from .masks import instances
        from .model import check_image

        check_image(image)
        label = match(list(labels))
        if label is None:
            return []
        o = self.options
        found = instances(self.model.probability(image), o.threshold, o.min_area, o.max_regions, masks=False)
        return [Region(tuple(float(v) for v in i.box), label, min(1.0, max(0.0, i.score))) for i in found]
