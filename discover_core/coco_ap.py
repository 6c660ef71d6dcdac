"""COCO AP (AP@[.5:.95], AP50, AP75) of boxes or masks, with faster-coco-eval, or pycocotools when that is
what is installed.

Both give the official COCO numbers (101-point interpolated precision, greedy matching by score, at most
100 detections per image, categories without ground truth left out of the mean, crowd annotations matched
without penalty). Inputs are plain lists per image: boxes are ``[x0, y0, x1, y1]`` in pixels, masks COCO RLE
(``counts`` as str or bytes; :func:`encode_mask` makes one) or, for the ground truth, polygons.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from typing import Literal, Sequence

import numpy as np

from .errors import ExtraMissingError

BACKENDS = ("faster_coco_eval", "pycocotools")


def available_backend() -> str:
    for name in BACKENDS:
        if importlib.util.find_spec(name) is not None:
            return name
    raise ExtraMissingError("COCO AP needs faster-coco-eval (or pycocotools), which is not installed",
                            "pip install 'discover-codec[detection]' (or pip install faster-coco-eval)")


def mask_api():
    """faster-coco-eval's (or pycocotools') RLE functions: encode, decode, merge, area, toBbox, frPyObjects."""
    if available_backend() == "faster_coco_eval":
        from faster_coco_eval.core import mask
    else:
        from pycocotools import mask
    return mask


def encode_mask(mask: np.ndarray) -> dict:
    """A boolean ``(H, W)`` mask as COCO RLE with a str ``counts`` (JSON-serialisable)."""
    rle = mask_api().encode(np.asfortranarray(mask[:, :, None].astype(np.uint8)))[0]
    counts = rle["counts"]
    return {"size": [int(v) for v in rle["size"]], "counts": counts.decode() if isinstance(counts, bytes) else counts}


def coco_ap(ground_truth: Sequence[Sequence[dict]], detections: Sequence[Sequence[dict]],
            sizes: Sequence[tuple[int, int]] | None = None,
            kind: Literal["bbox", "segm"] = "bbox") -> dict[str, float] | None:
    """AP over images (one ranking over the whole set, not a mean of per-image APs).

    ``ground_truth[i]``: ``{"category_id"[, "iscrowd"]}`` with ``"box"`` (``kind="bbox"``) or ``"segmentation"``
    (``kind="segm"``: RLE or polygons); ``detections[i]``: the same plus ``"score"`` (a mask as RLE);
    ``sizes[i]``: the image's (W, H), needed for masks.

    Returns ``{"ap", "ap50", "ap75"}``; ``None`` when there is no ground truth at all (AP undefined); no
    detections is AP 0.
    """
    if kind not in ("bbox", "segm"):
        raise ValueError(f"kind must be 'bbox' or 'segm', not {kind!r}")
    if len(ground_truth) != len(detections):
        raise ValueError(f"{len(ground_truth)} ground-truth lists but {len(detections)} detection lists")
    if sizes is not None and len(sizes) != len(ground_truth):
        raise ValueError(f"{len(ground_truth)} ground-truth lists but {len(sizes)} sizes")
    if sizes is None and kind == "segm":
        raise ValueError("mask AP needs the image sizes")
    if not any(len(g) for g in ground_truth):
        return None
    backend = available_backend()
    with contextlib.redirect_stdout(io.StringIO()):
        if backend == "faster_coco_eval":
            from faster_coco_eval import COCO, COCOeval_faster as Eval
        else:
            from pycocotools.coco import COCO
            from pycocotools.cocoeval import COCOeval as Eval
        images, gts, dts, cats = [], [], [], set()
        for i, (gt, dt) in enumerate(zip(ground_truth, detections), start=1):
            w, h = sizes[i - 1] if sizes else (1, 1)
            images.append({"id": i, "width": int(w), "height": int(h)})
            for g in gt:
                if kind == "segm":
                    shape = _true_mask(g["segmentation"], int(h), int(w))
                else:
                    bbox = _xywh(g["box"])
                    shape = {"bbox": bbox, "area": bbox[2] * bbox[3]}
                gts.append({"id": len(gts) + 1, "image_id": i, "category_id": int(g["category_id"]),
                            "iscrowd": int(g.get("iscrowd", 0)), **shape})
                cats.add(int(g["category_id"]))
            for d in dt:
                shape = {"segmentation": d["segmentation"]} if kind == "segm" else {"bbox": _xywh(d["box"])}
                dts.append({"id": len(dts) + 1, "image_id": i, "category_id": int(d["category_id"]),
                            "score": float(d["score"]), **shape})
                cats.add(int(d["category_id"]))
        if not dts:  # loadRes refuses an empty list: no detections is AP 0
            return {"ap": 0.0, "ap50": 0.0, "ap75": 0.0}
        gt_api = COCO()
        gt_api.dataset = {"images": images, "annotations": gts,
                          "categories": [{"id": c, "name": str(c)} for c in sorted(cats)]}
        gt_api.createIndex()
        ev = Eval(gt_api, gt_api.loadRes(dts), kind)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [max(0.0, float(s)) for s in ev.stats[:3]]
    return {"ap": stats[0], "ap50": stats[1], "ap75": stats[2]}


def _xywh(box: Sequence[float]) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return [x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0)]


def _true_mask(seg, h: int, w: int) -> dict:
    """A ground-truth mask (polygons, RLE with list or str counts) as compressed RLE with its box and area."""
    api = mask_api()
    rle = api.merge(api.frPyObjects(seg, h, w)) if isinstance(seg, list) else seg
    if isinstance(rle.get("counts"), list):
        rle = api.frPyObjects(rle, h, w)
    bbox = [float(v) for v in api.toBbox(rle)]
    area = float(api.area(rle))
    if isinstance(rle.get("counts"), bytes):
        rle = {**rle, "counts": rle["counts"].decode()}
    return {"segmentation": rle, "bbox": bbox, "area": area}
