"""The ``person-segmenter`` task head: a person mask per image; mask IoU agreement, instance box / mask AP.

A prediction (JSON) is ``{"size": [W, H], "model": "selfie", "threshold": 0.5, "mask": RLE, "boxes":
[[x0, y0, x1, y1], ...], "scores": [...], "masks": [RLE, ...]}``: ``mask`` is the whole person mask (the
pixels whose probability, resized to the image, is at least ``threshold``), ``boxes`` / ``scores`` /
``masks`` its instances (8-connected components of at least ``min_area``, scored by their mean
probability, best first). RLE is COCO's compressed run-length encoding (:mod:`.masks`). The probability
map itself is :meth:`PersonSegmenter.probability`.

Scores (:meth:`PersonSegmenter.score`):

- ``agreement``: the mask on the reconstruction against the mask on the original (``references``):
  intersection over union, the mean over images (two empty masks agree: 1.0). A reference of another
  size is resized to the prediction's (nearest neighbour).
- against ``targets`` (per image its COCO annotations: a list of ``{"bbox": [x, y, w, h] | "box": [x0, y0,
  x1, y1], "category_id": 1 | "label": "person", ["segmentation": polygons | RLE], ["iscrowd"]}``, or a
  dict with such a list under ``"annotations"``; annotations of other categories are left out):
  ``box_ap`` / ``box_ap50`` / ``box_ap75``: COCO box AP of the instances against the person boxes;
  ``mask_iou`` (the mask against the union of the person annotations' masks, mean over images) and
  ``mask_ap`` / ``mask_ap50`` / ``mask_ap75`` (COCO mask AP of the instances), when the targets carry
  masks (some annotation has a ``segmentation``) and every person annotation has one; an image without
  person annotations then has an empty ground-truth mask. AP is left out when the targets hold no person.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from discover_core.errors import InputError
from discover_core.interfaces import Context, TaskHead

from .backend import SegmenterOptions, fingerprint_of, load_for
from .fetch import MODEL_FILES
from .labels import COCO_PERSON_ID as PERSON


class PersonSegmenter(TaskHead):
    """Person masks (MediaPipe selfie or Google Meet segmenter): mask IoU agreement; instance box / mask AP."""

    name = "person-segmenter"
    task = "segmentation"
    requires = ("torch", "scipy", "faster_coco_eval")
    extra = "detection"
    model_files = (MODEL_FILES["selfie"], MODEL_FILES["meet"])

    class Options(SegmenterOptions):
        pass

    @classmethod
    def missing_requirements(cls) -> list[str]:
        from discover_core.coco_ap import BACKENDS

        missing = [m for m in super().missing_requirements() if m != "faster_coco_eval"]
        if not any(importlib.util.find_spec(b) for b in BACKENDS):
            missing.append("faster_coco_eval")
        return missing

    def __init__(self, options: Options | None = None, context: Context | None = None):
        super().__init__(options, context)
        self.check_requirements()
        self.model = load_for(self)

    def weights_fingerprint(self) -> str:
        return fingerprint_of(self)

    def probability(self, image: np.ndarray) -> np.ndarray:
        """The person probability of every pixel of ``image``: (H, W) float32 in [0, 1]."""
        return self.model.probability(image)

    def predict(self, image: np.ndarray) -> dict[str, Any]:
        from .masks import encode, instances

        o = self.options
        prob = self.model.probability(image)
        found = instances(prob, o.threshold, o.min_area)
        return {
            "size": [int(image.shape[1]), int(image.shape[0])],
            "model": o.model,
            "threshold": o.threshold,
            "mask": encode(prob >= o.threshold),
            "boxes": [list(i.box) for i in found],
            "scores": [round(i.score, 6) for i in found],
            "masks": [encode(i.mask) for i in found],
        }

    def score(self, predictions: Sequence[Any], references: Sequence[Any] | None = None,
              targets: Sequence[Any] | None = None) -> dict[str, float]:
        from .masks import iou, union

        preds = [_parse(p, i, "prediction") for i, p in enumerate(predictions)]
        for what, given in (("references", references), ("targets", targets)):
            if given is not None and len(given) != len(preds):
                raise InputError(f"{len(preds)} predictions but {len(given)} {what}")
        out: dict[str, float] = {}
        if not preds:
            return out
        if references is not None:
            refs = [_parse(r, i, "reference") for i, r in enumerate(references)]
            out["agreement"] = float(np.mean([iou(p.mask, _resized(r.mask, p.size)) for p, r in zip(preds, refs)]))
        if targets is not None:
            parsed = [_targets(t, i, p.size) for i, (t, p) in enumerate(zip(targets, preds))]
            truth = [persons for persons, _ in parsed]
            sizes = [p.size for p in preds]
            boxes = _person_ap(truth, [p.instances(with_masks=False) for p in preds], sizes, "bbox")
            if boxes is not None:
                out.update(box_ap=boxes["ap"], box_ap50=boxes["ap50"], box_ap75=boxes["ap75"])
            if any(has_masks for _, has_masks in parsed) and all("segmentation" in g for gt in truth for g in gt):
                out["mask_iou"] = float(np.mean([iou(p.mask, union([g["segmentation"] for g in gt], p.size[1],
                                                                   p.size[0])) for p, gt in zip(preds, truth)]))
                masks = _person_ap(truth, [p.instances(with_masks=True) for p in preds], sizes, "segm")
                if masks is not None:
                    out.update(mask_ap=masks["ap"], mask_ap50=masks["ap50"], mask_ap75=masks["ap75"])
        return out


def _person_ap(truth, found, sizes, kind):
    """COCO AP (:func:`discover_core.coco_ap.coco_ap`) of person instances: one category, COCO's person."""
    from discover_core.coco_ap import coco_ap

    person = lambda images: [[{**x, "category_id": PERSON} for x in image] for image in images]  # noqa: E731
    return coco_ap(person(truth), person(found), sizes, kind)


@dataclass
class _Parsed:
    size: tuple[int, int]
    mask: dict
    boxes: list[list[float]]
    scores: list[float]
    masks: list[dict]

    def instances(self, with_masks: bool) -> list[dict]:
        if with_masks:
            return [{"segmentation": m, "score": s} for m, s in zip(self.masks, self.scores)]
        return [{"box": b, "score": s} for b, s in zip(self.boxes, self.scores)]


def _number_list(value: Any, n: int | None, where: str) -> list[float]:
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected numbers, got {str(value)[:80]}") from None
    if (n is not None and len(numbers) != n) or not all(np.isfinite(numbers)):
        raise InputError(f"{where}: expected {n or 'finite'} finite numbers, got {str(value)[:80]}")
    return numbers


def _parse(p: Any, i: int, what: str) -> _Parsed:
    from .masks import check_rle

    where = f"{what} {i}"
    keys = ("size", "mask", "boxes", "scores", "masks")
    if not isinstance(p, dict) or not all(k in p for k in keys):
        raise InputError(f"{where} is not a person-segmenter prediction (needs {', '.join(keys)})",
                         "score predictions made by the same head")
    w, h = (int(v) for v in _number_list(p["size"], 2, f"{where} size"))
    if w < 1 or h < 1:
        raise InputError(f"{where}: size {p['size']} is empty")
    boxes = [_number_list(b, 4, f"{where} box") for b in p["boxes"]]
    scores = _number_list(p["scores"], len(boxes), f"{where} scores")
    if len(p["masks"]) != len(boxes):
        raise InputError(f"{where}: {len(boxes)} boxes but {len(p['masks'])} masks")
    masks = [check_rle(m, (w, h), f"{where} mask {k}") for k, m in enumerate(p["masks"])]
    return _Parsed((w, h), check_rle(p["mask"], (w, h), f"{where} mask"), boxes, scores, masks)


def _resized(rle: dict, size: tuple[int, int]) -> dict:
    """``rle`` at ``size`` (W, H), nearest neighbour (unchanged when it already has that size)."""
    from .masks import encode, mask_api

    h, w = rle["size"]
    if (w, h) == tuple(size):
        return rle
    mask = mask_api().decode(rle).astype(bool)
    rows = np.minimum((np.arange(size[1]) + 0.5) * h / size[1], h - 1).astype(int)
    cols = np.minimum((np.arange(size[0]) + 0.5) * w / size[0], w - 1).astype(int)
    return encode(mask[rows][:, cols])


def _targets(t: Any, i: int, size: tuple[int, int]) -> tuple[list[dict], bool]:
    """The person annotations of one image as ``[{"box", "iscrowd"[, "segmentation"]}]``, and whether any
    annotation of the image (of any category) has a segmentation."""
    from .labels import is_person_annotation
    from .masks import from_annotation, mask_api

    where = f"target {i}"
    if isinstance(t, dict) and "annotations" in t:
        t = t["annotations"]
    if not isinstance(t, (list, tuple)):
        raise InputError(f"{where}: expected a list of annotations, got {type(t).__name__}",
                         'give per image a list of {"bbox": [x, y, w, h], "category_id": 1[, "segmentation": ...]}')
    out, has_masks = [], False
    for a in t:
        if not isinstance(a, dict):
            raise InputError(f"{where}: an annotation must be a dict, got {str(a)[:80]}")
        has_masks |= a.get("segmentation") is not None
        if not is_person_annotation(a):
            continue
        g: dict = {"iscrowd": int(a.get("iscrowd", 0) or 0)}
        if a.get("segmentation") is not None:
            g["segmentation"] = from_annotation(a["segmentation"], size[1], size[0], where)
        if "bbox" in a:
            x, y, bw, bh = _number_list(a["bbox"], 4, f"{where} bbox")
            g["box"] = [x, y, x + bw, y + bh]
        elif "box" in a:
            g["box"] = _number_list(a["box"], 4, f"{where} box")
        elif "segmentation" in g:
            x, y, bw, bh = (float(v) for v in mask_api().toBbox(g["segmentation"]))
            g["box"] = [x, y, x + bw, y + bh]
        else:
            raise InputError(f"{where}: annotation {str(a)[:80]} has no bbox, box or segmentation")
        out.append(g)
    return out, has_masks
