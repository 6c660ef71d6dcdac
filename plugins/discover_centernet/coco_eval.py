"""COCO box AP (AP@[.5:.95], AP50, AP75) with faster-coco-eval, or pycocotools when that is what is installed.

Both give the official COCO numbers (101-point interpolated precision, greedy matching by score, at most
100 detections per image, categories without ground truth left out of the mean). Inputs here are plain
lists per image; boxes are ``[x0, y0, x1, y1]`` in pixels.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from typing import Sequence

from discover_core.errors import ExtraMissingError

BACKENDS = ("faster_coco_eval", "pycocotools")


def available_backend() -> str:
    for name in BACKENDS:
        if importlib.util.find_spec(name) is not None:
            return name
    raise ExtraMissingError("COCO AP needs faster-coco-eval (or pycocotools), which is not installed",
                            "pip install 'discover-codec[detection]' (or pip install faster-coco-eval)")


def coco_ap(ground_truth: Sequence[Sequence[dict]], detections: Sequence[Sequence[dict]],
            sizes: Sequence[tuple[int, int]] | None = None) -> dict[str, float] | None:
    """AP over images; ``ground_truth[i]``: ``{"box", "category_id"}``; ``detections[i]``: plus ``"score"``.

    Returns ``{"ap", "ap50", "ap75"}``, or ``None`` when there is no ground truth at all (AP undefined).
    """
    if len(ground_truth) != len(detections):
        raise ValueError(f"{len(ground_truth)} ground-truth lists but {len(detections)} detection lists")
    if not any(len(g) for g in ground_truth):
        return None
    images, gts, dts = [], [], []
    cats = set()
    for i, (gt, dt) in enumerate(zip(ground_truth, detections), start=1):
        w, h = sizes[i - 1] if sizes else (1, 1)
        images.append({"id": i, "width": int(w), "height": int(h)})
        for g in gt:
            x0, y0, x1, y1 = (float(v) for v in g["box"])
            gw, gh = max(0.0, x1 - x0), max(0.0, y1 - y0)
            gts.append({"id": len(gts) + 1, "image_id": i, "category_id": int(g["category_id"]),
                        "bbox": [x0, y0, gw, gh], "area": gw * gh, "iscrowd": int(g.get("iscrowd", 0))})
            cats.add(int(g["category_id"]))
        for d in dt:
            x0, y0, x1, y1 = (float(v) for v in d["box"])
            dts.append({"id": len(dts) + 1, "image_id": i, "category_id": int(d["category_id"]),
                        "bbox": [x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0)], "score": float(d["score"])})
            cats.add(int(d["category_id"]))
    dataset = {"images": images, "annotations": gts, "categories": [{"id": c, "name": str(c)} for c in sorted(cats)]}
    backend = available_backend()
    with contextlib.redirect_stdout(io.StringIO()):
        if backend == "faster_coco_eval":
            from faster_coco_eval import COCO, COCOeval_faster as Eval
        else:
            from pycocotools.coco import COCO
            from pycocotools.cocoeval import COCOeval as Eval
        gt_api = COCO()
        gt_api.dataset = dataset
        gt_api.createIndex()
        if dts:
            dt_api = gt_api.loadRes(dts)
        else:  # loadRes refuses an empty list: no detections is AP 0
            return {"ap": 0.0, "ap50": 0.0, "ap75": 0.0}
        ev = Eval(gt_api, dt_api, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [max(0.0, float(s)) for s in ev.stats[:3]]
    return {"ap": stats[0], "ap50": stats[1], "ap75": stats[2]}
