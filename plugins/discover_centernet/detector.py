"""The ``coco-detector`` task head: COCO-80 detections, COCO AP against annotations, and agreement AP.

A prediction (JSON) is ``{"size": [W, H], "boxes": [[x0, y0, x1, y1], ...], "scores": [...],
"category_ids": [...] (official COCO ids), "labels": [...] (COCO names)}``, best first.

Scores (:meth:`CocoDetector.score`, COCO box AP through faster-coco-eval or pycocotools):

- ``agreement`` (AP@[.5:.95]), ``agreement_ap50``, ``agreement_ap75``: the predictions on the
  reconstructions against the head's own detections on the originals (``references``) taken as ground
  truth: those scoring at least ``reference_threshold``. When no reference holds such a detection, AP is
  undefined; agreement is then 1.0 if no prediction reaches ``reference_threshold`` either, else 0.0.
- ``ap``, ``ap50``, ``ap75``: against ``targets``, per image the COCO annotations of that image (a list of
  ``{"bbox": [x, y, w, h], "category_id": <COCO id>}``, or ``{"box": [x0, y0, x1, y1], "label": name}``, or
  a dict with such a list under ``"annotations"``). Annotations of categories outside COCO-80 (ids not in
  :data:`discover_core.coco.COCO_IDS`, unknown names) are left out: this detector cannot find them.

The ``backend`` option names the network behind the head: ``centernet`` (the default, offline; the MobileNetV3
CenterNet of ``@vladmandic/human``) or ``faster-rcnn`` (torchvision Faster R-CNN R50-FPN, the paper's detector;
its network is :class:`discover_core.rcnn.RcnnNet`, which the ``coco-instance-segmenter`` head shares; torch and
torchvision load only when that backend is built). Both give the same predictions and scores; ``weights`` names
each one's files.
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

import numpy as np
from pydantic import Field

from discover_core.errors import InputError
from discover_core.interfaces import PATH_OPTION, Context, Options, TaskHead

from .backend import WEIGHTS_HELP, DetectorOptions, fingerprint_of, load_for
from .fetch import MODEL_FILES


class CocoDetector(TaskHead):
    """COCO-80 detection (CenterNet, or Faster R-CNN R50-FPN): boxes, labels, scores; COCO AP and agreement AP."""

    name = "coco-detector"
    task = "detection"
    requires = ("torch", "torchvision", "faster_coco_eval")
    extra = "detection"
    model_files = (MODEL_FILES,)

    class Options(DetectorOptions):
        weights: str | None = Field(None, min_length=1, description="centernet: " + WEIGHTS_HELP + "; faster-rcnn: "
                                    "a state_dict file (relative to the pipeline file), or 'hub' / a torchvision "
                                    "weights name read from torch's hub checkpoint folder (default: "
                                    "FasterRCNN_ResNet50_FPN_Weights.COCO_V1)", json_schema_extra=PATH_OPTION)
        backend: Literal["centernet", "faster-rcnn"] = Field(
            "centernet", description="the detector network: centernet (the MobileNetV3 CenterNet of "
            "@vladmandic/human, offline) or faster-rcnn (torchvision Faster R-CNN R50-FPN)")
        score_threshold: float = Field(0.05, ge=0.0, lt=1.0,
                                       description="detections scoring at most this are not predicted")
        iou_threshold: float = Field(0.5, gt=0.0, le=1.0,
                                     description="non-maximum suppression intersection-over-union (centernet)")
        max_detections: int = Field(100, ge=1, le=100, description="at most this many detections per image")
        class_agnostic_nms: bool = Field(False, description="suppress overlapping boxes across categories too "
                                         "(centernet)")
        min_size: int = Field(800, ge=32, le=4096, description="faster-rcnn: shorter side the network resizes to")
        max_size: int = Field(1333, ge=32, le=8192, description="faster-rcnn: longest side limit of that resize")
        reference_threshold: float = Field(0.3, gt=0.0, le=1.0,
                                           description="detections on the original scoring at least this are "
                                                       "the ground truth of the agreement AP")

    @classmethod
    def missing_requirements(cls) -> list[str]:
        from discover_core.coco_ap import BACKENDS

        missing = [m for m in super().missing_requirements() if m != "faster_coco_eval"]
        import importlib.util

        if not any(importlib.util.find_spec(b) for b in BACKENDS):
            missing.append("faster_coco_eval")
        return missing

    def __init__(self, options: Options | None = None, context: Context | None = None):
        super().__init__(options, context)
        self.check_requirements()
        if self.options.backend == "faster-rcnn":
            from discover_core.rcnn import RcnnNet

            # no weights: torchvision's COCO_V1, from torch's hub folder
            self.net = RcnnNet("fasterrcnn_resnet50_fpn", "FasterRCNN_ResNet50_FPN_Weights.COCO_V1", self.options,
                               self.context)
        else:
            self.model = load_for(self)
            self.net = self

    def weights_fingerprint(self) -> str:
        return fingerprint_of(self) if self.net is self else self.net.fingerprint()

    def predict(self, image: np.ndarray) -> dict[str, Any]:
        return self.net.detect(image) if self.net is not self else self._centernet(image)

    def _centernet(self, image: np.ndarray) -> dict[str, Any]:
        from discover_core.coco import COCO_IDS, coco_names

        o = self.options
        found = self.model.detect(image, o.score_threshold, o.iou_threshold, o.max_detections, o.class_agnostic_nms)
        names = coco_names()
        return {
            "size": [int(image.shape[1]), int(image.shape[0])],
            "boxes": [[round(v, 3) for v in d.box] for d in found],
            "scores": [round(d.score, 6) for d in found],
            "category_ids": [COCO_IDS[d.index] for d in found],
            "labels": [names[d.index] for d in found],
        }

    def score(self, predictions: Sequence[Any], references: Sequence[Any] | None = None,
              targets: Sequence[Any] | None = None) -> dict[str, float]:
        from discover_core.coco_ap import coco_ap

        preds = [_detections(p, i, "prediction") for i, p in enumerate(predictions)]
        sizes = [_size(p) for p in predictions]
        out: dict[str, float] = {}
        for what, given in (("references", references), ("targets", targets)):
            if given is not None and len(given) != len(preds):
                raise InputError(f"{len(preds)} predictions but {len(given)} {what}")
        if not preds:
            return out
        if references is not None:
            thr = self.options.reference_threshold
            truth = [[d for d in _detections(r, i, "reference") if d["score"] >= thr]
                     for i, r in enumerate(references)]
            ap = coco_ap(truth, preds, sizes)
            if ap is None:
                agree = 0.0 if any(d["score"] >= thr for p in preds for d in p) else 1.0
                ap = {"ap": agree, "ap50": agree, "ap75": agree}
            out.update(agreement=ap["ap"], agreement_ap50=ap["ap50"], agreement_ap75=ap["ap75"])
        if targets is not None:
            truth = [_targets(t, i) for i, t in enumerate(targets)]
            ap = coco_ap(truth, preds, sizes)
            if ap is not None:
                out.update(ap=ap["ap"], ap50=ap["ap50"], ap75=ap["ap75"])
        return out


def _size(prediction: Any) -> tuple[int, int]:
    size = prediction.get("size") if isinstance(prediction, dict) else None
    return (int(size[0]), int(size[1])) if isinstance(size, (list, tuple)) and len(size) == 2 else (1, 1)


def _box(value: Any, where: str) -> list[float]:
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise InputError(f"{where}: a box must be four numbers, got {value!r}")
    try:
        box = [float(v) for v in value]
    except (TypeError, ValueError):
        raise InputError(f"{where}: a box must be four numbers, got {value!r}") from None
    if not all(np.isfinite(box)):
        raise InputError(f"{where}: box {value!r} is not finite")
    return box


def _detections(p: Any, i: int, what: str) -> list[dict]:
    """A prediction of this head as ``[{"box", "category_id", "score"}]``."""
    where = f"{what} {i}"
    if not isinstance(p, dict) or not all(k in p for k in ("boxes", "scores", "category_ids")):
        raise InputError(f"{where} is not a coco-detector prediction (needs boxes, scores, category_ids)",
                         "score predictions made by the same head")
    boxes, scores, cats = p["boxes"], p["scores"], p["category_ids"]
    if not (len(boxes) == len(scores) == len(cats)):
        raise InputError(f"{where}: {len(boxes)} boxes, {len(scores)} scores and {len(cats)} category ids")
    return [{"box": _box(b, where), "score": float(s), "category_id": int(c)} for b, s, c in zip(boxes, scores, cats)]


def _targets(t: Any, i: int) -> list[dict]:
    """COCO-style annotations of one image -> ``[{"box", "category_id"}]`` (COCO-80 categories only)."""
    from discover_core.coco import category_id

    where = f"target {i}"
    if isinstance(t, dict) and "annotations" in t:
        t = t["annotations"]
    if not isinstance(t, (list, tuple)):
        raise InputError(f"{where}: expected a list of annotations, got {type(t).__name__}",
                         'give per image a list of {"bbox": [x, y, w, h], "category_id": id}')
    out = []
    for a in t:
        if not isinstance(a, dict):
            raise InputError(f"{where}: an annotation must be a dict, got {a!r}")
        if "bbox" in a:
            x, y, w, h = _box(a["bbox"], where)
            box = [x, y, x + w, y + h]
        elif "box" in a:
            box = _box(a["box"], where)
        else:
            raise InputError(f"{where}: annotation {a!r} has no bbox or box")
        cat = a.get("category_id", a.get("category", a.get("label")))
        if cat is None:
            raise InputError(f"{where}: annotation {a!r} has no category_id or label")
        cid = category_id(int(cat) if isinstance(cat, (int, np.integer)) and not isinstance(cat, bool) else cat)
        if cid is not None:
            out.append({"box": box, "category_id": cid, "iscrowd": int(a.get("iscrowd", 0) or 0)})
    return out
