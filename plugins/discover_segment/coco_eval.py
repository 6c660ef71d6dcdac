"""COCO instance AP (AP@[.5:.95], AP50, AP75) of person instances, box or mask, with faster-coco-eval or pycocotools.

Both give the official COCO numbers (101-point interpolated precision, greedy matching by score, at most
100 detections per image, crowd annotations matched without penalty). One category: person.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from typing import Literal, Sequence

from discover_core.errors import ExtraMissingError

BACKENDS = ("faster_coco_eval", "pycocotools")
PERSON = 1


def available_backend() -> str:
    for name in BACKENDS:
        if importlib.util.find_spec(name) is not None:
            return name
    raise ExtraMissingError("COCO AP needs faster-coco-eval (or pycocotools), which is not installed",
                            "pip install 'discover-codec[detection]' (or pip install faster-coco-eval)")


def instance_ap(ground_truth: Sequence[Sequence[dict]], detections: Sequence[Sequence[dict]],
                sizes: Sequence[tuple[int, int]], kind: Literal["bbox", "segm"]) -> dict[str, float] | None:
    """AP over images. ``ground_truth[i]``: ``{"box": [x0, y0, x1, y1]}`` or ``{"segmentation": rle}``, optional
    ``"iscrowd"``; ``detections[i]``: the same plus ``"score"``; ``sizes[i]``: (W, H).

    Returns ``{"ap", "ap50", "ap75"}``; ``None`` when there is no ground truth (AP undefined); no detections
    is AP 0.
    """
    if not len(ground_truth) == len(detections) == len(sizes):
        raise ValueError(f"{len(ground_truth)} ground-truth lists, {len(detections)} detection lists, "
                         f"{len(sizes)} sizes")
    if not any(len(g) for g in ground_truth):
        return None
    if not any(len(d) for d in detections):
        return {"ap": 0.0, "ap50": 0.0, "ap75": 0.0}
    backend = available_backend()
    if backend == "faster_coco_eval":
        from faster_coco_eval import COCO, COCOeval_faster as Eval
        from faster_coco_eval.core import mask as api
    else:
        from pycocotools import mask as api
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval as Eval

    def shape(item: dict) -> dict:
        if kind == "segm":
            rle = item["segmentation"]
            x, y, w, h = (float(v) for v in api.toBbox(rle))
            return {"segmentation": rle, "bbox": [x, y, w, h], "area": float(api.area(rle))}
        x0, y0, x1, y1 = (float(v) for v in item["box"])
        w, h = max(0.0, x1 - x0), max(0.0, y1 - y0)
        return {"bbox": [x0, y0, w, h], "area": w * h}

    images, gts, dts = [], [], []
    for i, (gt, dt) in enumerate(zip(ground_truth, detections), start=1):
        images.append({"id": i, "width": int(sizes[i - 1][0]), "height": int(sizes[i - 1][1])})
        for g in gt:
            gts.append({"id": len(gts) + 1, "image_id": i, "category_id": PERSON,
                        "iscrowd": int(g.get("iscrowd", 0) or 0), **shape(g)})
        for d in dt:
            dts.append({"id": len(dts) + 1, "image_id": i, "category_id": PERSON, "score": float(d["score"]),
                        **shape(d)})
    with contextlib.redirect_stdout(io.StringIO()):
        gt_api = COCO()
        gt_api.dataset = {"images": images, "annotations": gts, "categories": [{"id": PERSON, "name": "person"}]}
        gt_api.createIndex()
        ev = Eval(gt_api, gt_api.loadRes(dts), kind)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [max(0.0, float(s)) for s in ev.stats[:3]]
    return {"ap": stats[0], "ap50": stats[1], "ap75": stats[2]}
