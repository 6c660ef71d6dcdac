"""The ``coco-instance-segmenter`` head: torchvision Mask R-CNN R50-FPN (its network: :mod:`discover_core.rcnn`,
which the ``faster-rcnn`` backend of ``coco-detector`` shares).

A prediction is ``coco-detector``'s format: ``{"size": [W, H], "boxes": [[x0, y0, x1, y1]], "scores",
"category_ids" (official COCO ids), "labels" (COCO names)}``, plus, for the segmenter, ``"masks"`` (COCO RLE
per detection, ``counts`` as str). Scores: ``agreement`` / ``agreement_ap50`` / ``agreement_ap75`` (the
detections on the originals scoring at least ``reference_threshold`` taken as ground truth) and ``ap`` /
``ap50`` / ``ap75`` against COCO annotations; the segmenter adds ``mask_ap`` ..., ``agreement_mask_ap``.
Targets are per image lists of ``{"bbox": [x, y, w, h], "category_id": id or COCO name[, "segmentation"]}``;
categories outside COCO-80 are left out.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from pydantic import Field

from discover_core.errors import InputError
from discover_core.interfaces import PATH_OPTION, Context, Options, TaskHead


class _RcnnOptions(Options):
    weights: str = Field("hub", min_length=1, description="state_dict file (relative to the pipeline file), or "
                         "'hub' / a torchvision weights name, read from torch's hub checkpoint folder",
                         json_schema_extra=PATH_OPTION)
    score_threshold: float = Field(0.05, ge=0.0, lt=1.0, description="detections scoring below this are dropped")
    max_detections: int = Field(100, ge=1, le=300, description="at most this many detections per image")
    reference_threshold: float = Field(0.3, gt=0.0, le=1.0, description="detections on the original scoring at "
                                       "least this are the ground truth of the agreement AP")
    min_size: int = Field(800, ge=32, le=4096, description="shorter side the network resizes to (torchvision: 800)")
    max_size: int = Field(1333, ge=32, le=8192, description="longest side limit of that resize (torchvision: 1333)")
    device: str | None = Field(None, description="torch device; default: the pipeline's device")


def box_scores(predictions: Sequence[Any], references: Sequence[Any] | None, targets: Sequence[Any] | None,
               reference_threshold: float) -> dict[str, float]:
    """Box ``agreement*`` (against the confident detections on the originals) and ``ap*`` (against targets)."""
    from discover_core.coco_ap import coco_ap

    preds = [detections(p, i, "prediction") for i, p in enumerate(predictions)]
    sizes = [size_of(p) for p in predictions]
    for what, given in (("references", references), ("targets", targets)):
        if given is not None and len(given) != len(preds):
            raise InputError(f"{len(preds)} predictions but {len(given)} {what}")
    out: dict[str, float] = {}
    if not preds:
        return out
    if references is not None:
        thr = reference_threshold
        truth = [[d for d in detections(r, i, "reference") if d["score"] >= thr] for i, r in enumerate(references)]
        out.update(_prefixed("agreement", coco_ap(truth, preds, sizes), preds, thr))
    if targets is not None:
        truth = [coco_targets(t, i) for i, t in enumerate(targets)]
        ap = coco_ap(truth, preds, sizes)
        if ap is not None:
            out.update(ap=ap["ap"], ap50=ap["ap50"], ap75=ap["ap75"])
    return out


def _prefixed(prefix: str, ap: dict | None, preds: list, thr: float) -> dict[str, float]:
    if ap is None:  # nothing on the originals: agreement is whether nothing is found here either
        agree = 0.0 if any(d["score"] >= thr for p in preds for d in p) else 1.0
        ap = {"ap": agree, "ap50": agree, "ap75": agree}
    return {prefix: ap["ap"], f"{prefix}_ap50": ap["ap50"], f"{prefix}_ap75": ap["ap75"]}


class MaskRcnnSegmenter(TaskHead):
    """COCO-80 instance segmentation with torchvision Mask R-CNN R50-FPN; mask AP, box AP, agreement."""

    name = "coco-instance-segmenter"
    task = "segmentation"
    requires = ("torch", "torchvision", "faster_coco_eval")
    extra = "eval"

    class Options(_RcnnOptions):
        mask_threshold: float = Field(0.5, gt=0.0, lt=1.0, description="mask probability that counts as inside")

    def __init__(self, options: Options | None = None, context: Context | None = None):
        super().__init__(options, context)
        self.check_requirements()
        from discover_core.rcnn import RcnnNet

        self.net = RcnnNet("maskrcnn_resnet50_fpn", "MaskRCNN_ResNet50_FPN_Weights.COCO_V1", self.options, self.context)

    def weights_fingerprint(self) -> str:
        return self.net.fingerprint()

    def predict(self, image: np.ndarray) -> dict[str, Any]:
        from discover_core.coco_ap import encode_mask

        out = self.net.run(image)
        pred = self.net.detect(image, out)
        keep, _ = self.net.keep(out)
        masks = (out["masks"][:, 0] >= self.options.mask_threshold).cpu().numpy()
        return {**pred, "masks": [encode_mask(masks[i]) for i in keep]}

    def score(self, predictions: Sequence[Any], references: Sequence[Any] | None = None,
              targets: Sequence[Any] | None = None) -> dict[str, float]:
        from discover_core.coco_ap import coco_ap

        out = box_scores(predictions, references, targets, self.options.reference_threshold)
        if not predictions:
            return out
        preds = [segments(p, i, "prediction") for i, p in enumerate(predictions)]
        sizes = [size_of(p) for p in predictions]
        if references is not None:
            thr = self.options.reference_threshold
            truth = [[d for d in segments(r, i, "reference") if d["score"] >= thr] for i, r in enumerate(references)]
            out.update(_prefixed("agreement_mask", coco_ap(truth, preds, sizes, "segm"), preds, thr))
            out["agreement_mask_ap"] = out.pop("agreement_mask")
        if targets is not None:
            truth = [[a for a in coco_targets(t, i) if "segmentation" in a] for i, t in enumerate(targets)]
            ap = coco_ap(truth, preds, sizes, "segm")
            if ap is not None:
                out.update(mask_ap=ap["ap"], mask_ap50=ap["ap50"], mask_ap75=ap["ap75"])
        return out


def size_of(p: Any) -> tuple[int, int]:
    s = p.get("size") if isinstance(p, dict) else None
    return (int(s[0]), int(s[1])) if isinstance(s, (list, tuple)) and len(s) == 2 else (1, 1)


def detections(p: Any, i: int, what: str) -> list[dict]:
    if not isinstance(p, dict) or not all(k in p for k in ("boxes", "scores", "category_ids")):
        raise InputError(f"{what} {i} is not a detector prediction (needs boxes, scores, category_ids)",
                         "score predictions made by the same head")
    if not len(p["boxes"]) == len(p["scores"]) == len(p["category_ids"]):
        raise InputError(f"{what} {i}: boxes, scores and category ids differ in number")
    return [{"box": [float(v) for v in b], "score": float(s), "category_id": int(c)}
            for b, s, c in zip(p["boxes"], p["scores"], p["category_ids"])]


def segments(p: Any, i: int, what: str) -> list[dict]:
    dets = detections(p, i, what)
    masks = p.get("masks") if isinstance(p, dict) else None
    if not isinstance(masks, list) or len(masks) != len(dets):
        raise InputError(f"{what} {i} has no mask per detection", "score predictions made by the same head")
    return [{**d, "segmentation": m} for d, m in zip(dets, masks)]


def coco_targets(t: Any, i: int) -> list[dict]:
    """COCO annotations of one image (ids or COCO names) -> ``{"box", "category_id"[, "segmentation"]}``."""
    from discover_core.coco import category_id

    if isinstance(t, dict) and "annotations" in t:
        t = t["annotations"]
    if not isinstance(t, (list, tuple)):
        raise InputError(f"target {i}: expected a list of COCO annotations, got {type(t).__name__}")
    out = []
    for a in t:
        if not isinstance(a, dict) or "bbox" not in a:
            raise InputError(f"target {i}: annotation {a!r} has no bbox")
        x, y, w, h = (float(v) for v in a["bbox"])
        cat = a.get("category_id", a.get("label"))
        cid = category_id(int(cat) if isinstance(cat, (int, np.integer)) and not isinstance(cat, bool) else cat)
        if cid is None:
            continue
        ann = {"box": [x, y, x + w, y + h], "category_id": cid, "iscrowd": int(a.get("iscrowd", 0) or 0)}
        if a.get("segmentation"):
            ann["segmentation"] = a["segmentation"]
        out.append(ann)
    return out
