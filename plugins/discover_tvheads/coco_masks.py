"""COCO mask AP (AP@[.5:.95], AP50, AP75) with faster-coco-eval; masks as COCO RLE or polygons."""

from __future__ import annotations

import contextlib
import io
from typing import Sequence

import numpy as np


def encode_mask(mask: np.ndarray) -> dict:
    """A boolean ``(H, W)`` mask as COCO RLE with a str ``counts`` (JSON-serialisable)."""
    from faster_coco_eval.core import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask[:, :, None].astype(np.uint8)))[0]
    counts = rle["counts"]
    return {"size": [int(v) for v in rle["size"]], "counts": counts.decode() if isinstance(counts, bytes) else counts}


def mask_ap(ground_truth: Sequence[Sequence[dict]], detections: Sequence[Sequence[dict]],
            sizes: Sequence[tuple[int, int]]) -> dict[str, float] | None:
    """``ground_truth[i]``: ``{"segmentation", "category_id"[, "iscrowd"]}``; ``detections[i]``: plus ``"score"``.

    ``None`` when there is no ground truth (AP undefined); no detections is AP 0.
    """
    from faster_coco_eval import COCO, COCOeval_faster
    from faster_coco_eval.core import mask as mask_utils

    if not any(len(g) for g in ground_truth):
        return None
    images, gts, dts, cats = [], [], [], set()
    for i, (gt, dt) in enumerate(zip(ground_truth, detections), start=1):
        w, h = sizes[i - 1]
        images.append({"id": i, "width": int(w), "height": int(h)})
        for g in gt:
            seg = g["segmentation"]
            rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w)) if isinstance(seg, list) else seg
            if isinstance(rle.get("counts"), list):
                rle = mask_utils.frPyObjects(rle, h, w)
            bbox = [float(v) for v in mask_utils.toBbox(rle)]
            gts.append({"id": len(gts) + 1, "image_id": i, "category_id": int(g["category_id"]), "segmentation": rle,
                        "area": float(mask_utils.area(rle)), "bbox": bbox, "iscrowd": int(g.get("iscrowd", 0))})
            cats.add(int(g["category_id"]))
        for d in dt:
            dts.append({"id": len(dts) + 1, "image_id": i, "category_id": int(d["category_id"]),
                        "segmentation": d["segmentation"], "score": float(d["score"])})
            cats.add(int(d["category_id"]))
    if not dts:
        return {"ap": 0.0, "ap50": 0.0, "ap75": 0.0}
    for g in gts:
        if isinstance(g["segmentation"].get("counts"), bytes):
            g["segmentation"] = {**g["segmentation"], "counts": g["segmentation"]["counts"].decode()}
    with contextlib.redirect_stdout(io.StringIO()):
        gt_api = COCO()
        gt_api.dataset = {"images": images, "annotations": gts,
                          "categories": [{"id": c, "name": str(c)} for c in sorted(cats)]}
        gt_api.createIndex()
        ev = COCOeval_faster(gt_api, gt_api.loadRes(dts), "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [max(0.0, float(s)) for s in ev.stats[:3]]
    return {"ap": stats[0], "ap50": stats[1], "ap75": stats[2]}
