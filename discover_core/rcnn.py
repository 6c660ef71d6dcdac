"""torchvision R-CNN R50-FPN networks (Faster, Mask) on COCO weights, giving COCO-80 detections.

The network behind the ``faster-rcnn`` backend of the ``coco-detector`` head and behind the
``coco-instance-segmenter`` head: two plugins, so it lives in the core. torch and torchvision are imported when
a network is built, never at import time.

Weights come from a state-dict file or a torchvision weights name (``FasterRCNN_ResNet50_FPN_Weights.COCO_V1``),
read from torch's hub checkpoint folder, never downloaded here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import WeightsError
from .interfaces import Context


def weights_file(spec: str, default_enum: str, context: Context) -> Path:
    """The state-dict file ``spec`` names: a path (relative to the pipeline file), or ``hub`` / a torchvision
    weights name (``FasterRCNN_ResNet50_FPN_Weights.COCO_V1``), looked up in torch's hub checkpoint folder."""
    looks_named = spec == "hub" or (spec.count(".") == 1 and "_Weights." in spec and "/" not in spec)
    if not looks_named:
        path = context.resolve(spec)
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}", "give a state_dict file (torch.save(model."
                               "state_dict(), path)) or a torchvision weights name")
        return path
    import torch
    from torchvision.models import get_weight

    name = default_enum if spec == "hub" else spec
    try:
        enum = get_weight(name)
    except (ValueError, KeyError, AttributeError) as exc:
        raise WeightsError(f"no torchvision weights named {name!r} ({exc})",
                           f"e.g. {default_enum}") from None
    file = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
    if not file.is_file():
        raise WeightsError(f"the weights {name} are not in torch's hub folder: {file} is missing (no download "
                           f"here)", f"copy {enum.url} to {file}, or give a state_dict file path")
    return file


def load_state(path: Path) -> dict:
    """The state dict in a torch file (a checkpoint's ``"model"`` entry when it holds one)."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - not a state_dict file: the user's to fix
        raise WeightsError(f"{path} is not a torch state_dict ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise WeightsError(f"{path} holds a {type(state).__name__}, not a state_dict")
    return state


class RcnnNet:
    """A torchvision R-CNN R50-FPN (``builder``) on the weights ``options.weights`` names; ``detect`` gives the
    ``coco-detector`` prediction format.

    ``options`` has ``weights`` (``None``: ``hub``), ``score_threshold``, ``max_detections``, ``min_size``,
    ``max_size`` and ``device`` (``None``: the context's).
    """

    def __init__(self, builder: str, default_weights: str, options: Any, context: Context):
        import torch
        import torchvision.models.detection as tvd

        o = options
        self.context = context
        self.path = weights_file(o.weights or "hub", default_weights, context)
        model = getattr(tvd, builder)(weights=None, weights_backbone=None, num_classes=91,
                                      box_score_thresh=o.score_threshold, box_detections_per_img=o.max_detections,
                                      min_size=o.min_size, max_size=o.max_size)
        try:
            model.load_state_dict(load_state(self.path))
        except RuntimeError as exc:
            raise WeightsError(f"{self.path} does not fit torchvision {builder}: {str(exc).splitlines()[0]}",
                               f"give the weights of {builder} (91 COCO classes)") from None
        self.device = torch.device(o.device or context.device)
        self.model = model.eval().to(self.device)

    def fingerprint(self) -> str:
        from .weights import fingerprint

        return fingerprint(self.path, context=self.context)

    def run(self, image: np.ndarray) -> dict:
        """The network's raw output on an ``(H, W, 3)`` uint8 RGB image."""
        import torch

        x = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div(255).to(self.device)
        with torch.no_grad():
            return self.model([x])[0]

    def keep(self, out: dict) -> tuple[list[int], list[int]]:
        """The indices of the detections of COCO-80 categories, and the category id of every detection."""
        from .coco import COCO_IDS

        ids = set(COCO_IDS)
        labels = [int(v) for v in out["labels"].cpu()]
        return [i for i, c in enumerate(labels) if c in ids], labels

    def detect(self, image: np.ndarray, out: dict | None = None) -> dict[str, Any]:
        """The COCO-80 detections on ``image`` (of ``out``, its :meth:`run` output, when given)."""
        from .coco import names_of

        out = self.run(image) if out is None else out
        keep, labels = self.keep(out)
        boxes, scores = out["boxes"].cpu().numpy(), out["scores"].cpu().numpy()
        cats = [labels[i] for i in keep]
        return {"size": [int(image.shape[1]), int(image.shape[0])],
                "boxes": [[round(float(v), 3) for v in boxes[i]] for i in keep],
                "scores": [round(float(scores[i]), 6) for i in keep], "category_ids": cats,
                "labels": names_of(cats)}
