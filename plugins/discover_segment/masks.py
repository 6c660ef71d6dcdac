"""Person masks: instances as connected components, COCO RLE encoding, and IoU of RLE masks.

The mask is the pixels whose person probability is at least the threshold. Its instances are its
8-connected components (``scipy.ndimage.label`` with a 3 x 3 structuring element; scipy is a dependency
of discover-codec), each scored with the mean probability inside it; components smaller than
``min_area`` (a fraction of the image) are left out of the instances, not out of the mask.

Masks travel as COCO RLE (``{"size": [H, W], "counts": str}``, compressed, column-major), encoded and
decoded with faster-coco-eval's ``mask`` module or pycocotools' (the same C code).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from discover_core.coco_ap import mask_api
from discover_core.errors import InputError

MAX_INSTANCES = 100
"""At most this many instances per image (COCO's maxDets), the best scored first."""


@dataclass(frozen=True)
class Instance:
    box: tuple[int, int, int, int]
    """x0, y0, x1, y1 in pixels (x1, y1 exclusive)."""
    score: float
    """Mean person probability inside the component."""
    area: int
    mask: np.ndarray | None
    """(H, W) bool (``None`` when not asked for)."""
    component: int = 0
    """Its number in the labelled image."""


def instances(probability: np.ndarray, threshold: float, min_area: float, max_instances: int = MAX_INSTANCES,
              masks: bool = True) -> list[Instance]:
    """The mask's connected components of at least ``min_area`` x the image's pixels, best scored first
    (``masks``: with each one's (H, W) mask)."""
    from scipy import ndimage

    mask = probability >= threshold
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return []
    flat = labels.ravel()
    areas = np.bincount(flat, minlength=n + 1)[1:]
    sums = np.bincount(flat, weights=probability.ravel().astype(np.float64), minlength=n + 1)[1:]
    smallest = max(1.0, min_area * probability.size)
    found = []
    for k, where in enumerate(ndimage.find_objects(labels), start=1):
        if where is None or areas[k - 1] < smallest:
            continue
        ys, xs = where
        found.append(Instance((int(xs.start), int(ys.start), int(xs.stop), int(ys.stop)),
                              float(sums[k - 1] / areas[k - 1]), int(areas[k - 1]), None, k))
    found.sort(key=lambda i: (-i.score, -i.area, i.box))
    found = found[:max_instances]
    if masks:
        found = [replace(i, mask=labels == i.component) for i in found]
    return found


def encode(mask: np.ndarray) -> dict:
    """A boolean (H, W) mask as COCO RLE with a str ``counts`` (JSON-serialisable)."""
    from discover_core.coco_ap import encode_mask

    return encode_mask(mask)


def _plain(rle: dict) -> dict:
    """An RLE of the C code (``counts`` may be bytes) as JSON: ``size`` ints, ``counts`` str."""
    counts = rle["counts"]
    return {"size": [int(v) for v in rle["size"]], "counts": counts.decode() if isinstance(counts, bytes) else counts}


def check_rle(value: Any, size: tuple[int, int], where: str) -> dict:
    """``value`` as an RLE of an image of ``size`` (W, H); an :class:`InputError` if it is not one."""
    if not isinstance(value, dict) or not isinstance(value.get("counts"), str) \
            or not isinstance(value.get("size"), (list, tuple)) or len(value["size"]) != 2:
        raise InputError(f"{where}: a mask must be COCO RLE {{'size': [H, W], 'counts': str}}, got {str(value)[:80]}",
                         "score predictions made by the same head")
    if [int(v) for v in value["size"]] != [size[1], size[0]]:
        raise InputError(f"{where}: mask of size {value['size']} (H, W) in a {size[0]}x{size[1]} prediction")
    return {"size": [int(v) for v in value["size"]], "counts": value["counts"]}


def iou(a: dict, b: dict) -> float:
    """Intersection over union of two RLE masks of one size; two empty masks agree (1.0)."""
    api = mask_api()
    inter = int(api.area(api.merge([a, b], intersect=True)))
    union = int(api.area(a)) + int(api.area(b)) - inter
    return 1.0 if union == 0 else inter / union


def union(rles: list[dict], height: int, width: int) -> dict:
    """The union of RLE masks (an empty mask when there are none)."""
    if not rles:
        return encode(np.zeros((height, width), dtype=bool))
    return _plain(mask_api().merge(rles, intersect=False))


def from_annotation(segmentation: Any, height: int, width: int, where: str) -> dict:
    """A COCO annotation's ``segmentation`` (polygons, uncompressed or compressed RLE) as compressed RLE."""
    api = mask_api()
    try:
        if isinstance(segmentation, list):
            rle = api.merge(api.frPyObjects(segmentation, height, width))
        elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
            rle = api.frPyObjects(segmentation, height, width)
        elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), (str, bytes)):
            rle = dict(segmentation)
        else:
            raise TypeError(type(segmentation).__name__)
        rle_size = [int(v) for v in rle["size"]]
    except (TypeError, ValueError, IndexError, KeyError) as e:
        raise InputError(f"{where}: segmentation is neither COCO polygons nor RLE ({e})",
                         "give polygons [[x, y, ...], ...] or {'size': [H, W], 'counts': ...}") from None
    if rle_size != [height, width]:
        raise InputError(f"{where}: segmentation of size {rle_size} (H, W) on a {width}x{height} image")
    return _plain(rle)
