"""The CenterNet detector: the TensorFlow.js graph run in PyTorch, with the original pre- and post-processing.

As ``src/object/centernet.ts`` of ``@vladmandic/human`` does it:

1. the RGB image (0..255 floats, no normalisation) is resized to 512 x 512 with
   ``tf.image.resizeBilinear`` (no letterbox: the aspect ratio is not kept; TensorFlow's legacy
   coordinates, neither aligned corners nor half-pixel centres);
2. the graph's output ``tower_0/detections`` holds the 100 highest heat-map peaks (3x3 max-pool
   suppression inside the graph) as ``x1, y1, x2, y2`` in input pixels, score, class;
3. non-maximum suppression over all classes at once (``iou_threshold``, scores strictly above
   ``score_threshold``, at most ``max_detections``) with torchvision; boxes are scaled back to the image
   (separately in x and y) and clipped to it.

Loaded graphs are cached per process by (file, version, device).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Collection

import numpy as np
import torch

from discover_core.images import check_rgb as check_image
from discover_core.tfjs.graph import TFJSGraph
from discover_core.tfjs.ops import resize_bilinear
from discover_core.tfjs.reader import read_graph_model

INPUT_SIZE = 512
OUTPUT = "tower_0/detections"


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]
    """x0, y0, x1, y1 in image pixels (clipped to the image)."""
    score: float
    index: int
    """Class channel 0..79 (COCO-80 order)."""


class CenterNet:
    """A loaded CenterNet graph on a device."""

    def __init__(self, path: Path, device: torch.device):
        self.path = path
        self.device = device
        self.graph = TFJSGraph(read_graph_model(path, fetch="centernet"), [OUTPUT]).eval().to(device)

    @torch.no_grad()
    def raw(self, image: np.ndarray) -> np.ndarray:
        """The graph's ``tower_0/detections`` (100, 6) for an image: x1, y1, x2, y2 (512-pixel input), score, class."""
        check_image(image)
        x = torch.from_numpy(image.astype(np.float32)).to(self.device).permute(2, 0, 1)[None].contiguous()
        x = resize_bilinear(x, INPUT_SIZE, INPUT_SIZE)
        return self.graph(x, nchw=True)[OUTPUT][0].float().cpu().numpy()

    def detect(self, image: np.ndarray, score_threshold: float = 0.2, iou_threshold: float = 0.4,
               max_detections: int = 10, class_agnostic: bool = True,
               classes: Collection[int] | None = None) -> list[Detection]:
        """Detections, best first (the original's defaults: 0.2, 0.4, 10, NMS over all classes).

        ``classes``: keep only these class channels, before NMS (so other classes suppress nothing)."""
        return postprocess(self.raw(image), image.shape[1], image.shape[0], score_threshold, iou_threshold,
                           max_detections, class_agnostic, classes)


def postprocess(raw: np.ndarray, width: int, height: int, score_threshold: float, iou_threshold: float,
                max_detections: int, class_agnostic: bool = True,
                classes: Collection[int] | None = None) -> list[Detection]:
    """NMS on the raw rows (in input pixels, as the original), then boxes in image pixels, clipped."""
    import torchvision

    rows = torch.from_numpy(np.asarray(raw, dtype=np.float32))
    rows = rows[torch.isfinite(rows).all(dim=1) & (rows[:, 4] > score_threshold)]
    if classes is not None:
        rows = rows[torch.isin(rows[:, 5].long(), torch.tensor(sorted(classes), dtype=torch.long))]
    if rows.numel() == 0 or max_detections <= 0:
        return []
    boxes, scores, classes = rows[:, :4], rows[:, 4], rows[:, 5].long()
    if class_agnostic:
        keep = torchvision.ops.nms(boxes, scores, iou_threshold)
    else:
        keep = torchvision.ops.batched_nms(boxes, scores, classes, iou_threshold)
    keep = keep[:max_detections]
    sx, sy = width / INPUT_SIZE, height / INPUT_SIZE
    out = []
    for i in keep.tolist():
        x0, y0, x1, y1 = (float(v) for v in boxes[i])
        box = (min(max(x0 * sx, 0.0), width), min(max(y0 * sy, 0.0), height),
               min(max(x1 * sx, 0.0), width), min(max(y1 * sy, 0.0), height))
        if box[2] > box[0] and box[3] > box[1]:
            out.append(Detection(box, min(1.0, max(0.0, float(scores[i]))), int(classes[i])))
    return out


_CACHE: dict[tuple, CenterNet] = {}
_LOCK = threading.Lock()


def load(path: Path, device: torch.device) -> CenterNet:
    """The model at ``path`` on ``device`` (cached; reloaded when the file changes)."""
    path = Path(path).resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, str(device))
    with _LOCK:
        model = _CACHE.get(key)
        if model is None:
            model = _CACHE[key] = CenterNet(path, device)
        return model
