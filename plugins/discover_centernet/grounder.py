"""The ``centernet`` grounder: boxes of the requested COCO-80 categories from the CenterNet detector."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from pydantic import Field

from discover_core.interfaces import Context, Grounder, ImageMeta, Options, Region

from .backend import DetectorOptions, fingerprint_of, load_for
from .fetch import MODEL_FILES


class CenternetGrounder(Grounder):
    """Boxes of COCO-80 objects (CenterNet, MobileNetV3) for the candidate labels that name a COCO category."""

    name = "centernet"
    requires = ("torch", "torchvision")
    extra = "vision"
    model_files = (MODEL_FILES,)

    class Options(DetectorOptions):
        score_threshold: float = Field(0.2, ge=0.0, lt=1.0,
                                       description="detections scoring at most this give no region (the "
                                                   "original's minConfidence)")
        iou_threshold: float = Field(0.4, gt=0.0, le=1.0,
                                     description="non-maximum suppression: a box overlapping a better one by more "
                                                 "than this intersection-over-union is dropped")
        max_detections: int = Field(100, ge=1, le=100, description="at most this many regions per image (as many "
                                                                    "as the coco-detector head reports)")
        class_agnostic_nms: bool = Field(True, description="suppress overlapping boxes across categories (as the "
                                                           "original does), not only within one")

    @classmethod
    def vocabulary(cls, options: Options, context: Context) -> frozenset[str]:
        from discover_core.coco import vocabulary

        return vocabulary()

    def __init__(self, options: Options | None = None, context: Context | None = None):
        super().__init__(options, context)
        self.check_requirements()
        self.model = load_for(self)

    def weights_fingerprint(self) -> str:
        return fingerprint_of(self)

    def ground(self, image: np.ndarray, labels: Sequence[str], meta: ImageMeta | None = None) -> list[Region]:
        """Regions of the requested categories only (other categories are dropped before the suppression)."""
        from discover_core.coco import match
        from .model import check_image

        check_image(image)
        wanted = match(list(labels))
        if not wanted:
            return []
        o = self.options
        found = self.model.detect(image, o.score_threshold, o.iou_threshold, o.max_detections,
                                  o.class_agnostic_nms, classes=wanted.keys())
        return [Region(d.box, wanted[d.index], d.score) for d in found]
