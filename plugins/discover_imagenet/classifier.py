"""The ``imagenet-classifier`` task head: ImageNet-1k top-k classes, agreement and accuracy; and
``resnet50-classifier``, the paper's ImageNet head: ``imagenet-classifier`` with ResNet-50 defaults.

A prediction is JSON: ``{"classes": [class indices, most probable first],
"probs": [their probabilities], "labels": [their names]}``; ``classes`` holds
``top_k`` entries (5 by default).

The default network (torchvision MobileNetV2) differs from the ``cam``
grounder's (EfficientNet-Lite0), so a pipeline is not judged by the network
that chose its regions.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from pydantic import Field

from discover_core.errors import InputError
from discover_core.interfaces import PATH_OPTION, Context, Options, TaskHead

from .cam import BACKBONE_HELP, WEIGHTS_HELP, BackboneOptions


def _top(prediction: Any, index: int, what: str) -> list[int]:
    top = prediction.get("classes") if isinstance(prediction, dict) else None
    ok = isinstance(top, (list, tuple)) and top and all(isinstance(i, int) and not isinstance(i, bool) for i in top)
    if not ok:
        raise InputError(
            f"{what} {index} is not an imagenet-classifier prediction (needs a non-empty 'classes' list of class indices)",
            "pass what ImagenetClassifier.predict returned",
        )
    return list(top)


class ImagenetClassifier(TaskHead):
    """ImageNet-1k classification with a pretrained network; scores agreement with the original and accuracy."""

    name = "imagenet-classifier"
    task = "classification"
    requires = ("torch", "torchvision", "timm")
    extra = "vision"

    class Options(BackboneOptions):
        # A different default network than the cam grounder's, so a pipeline is not judged by the network
        # that chose its regions.
        backbone: str = Field("mobilenet_v2", min_length=1, description=BACKBONE_HELP)
        top_k: int = Field(5, ge=1, le=1000, description="how many classes a prediction lists (its 'classes' key)")

    def __init__(self, options: Options | None = None, context: Context | None = None):
        super().__init__(options, context)
        self.check_requirements()
        from .backbones import backbone_for
        from .classes import imagenet_classes

        self.backbone = backbone_for(self)
        self.classes = imagenet_classes()

    def weights_fingerprint(self) -> str:
        """``sha256:...`` of the network's weights file (computed once, cached under the cache folder)."""
        return self.backbone.fingerprint(self.context)

    provides_features = True

    def image_features(self, images: np.ndarray) -> np.ndarray:
        """``(N, H, W, 3)`` uint8 -> ``(N, D)``: the network's last feature map, pooled (FID / KID proxy features)."""
        import torch

        from .preprocess import classification_input

        x = torch.from_numpy(np.stack([classification_input(p, self.backbone.preprocess) for p in images]))
        feats, _ = self.backbone.features_and_logits(x)
        return feats.mean(dim=(2, 3)).double().cpu().numpy()

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """The 1000 class probabilities for an (H, W, 3) uint8 RGB image."""
        import torch

        from .preprocess import classification_input

        x = classification_input(image, self.backbone.preprocess)
        logits = self.backbone.logits(torch.from_numpy(x)[None])
        return logits[0].float().softmax(-1).cpu().numpy()

    def predict(self, image: np.ndarray) -> dict[str, list]:
        p = self.probabilities(image)
        k = min(self.options.top_k, p.size)
        order = np.argsort(-p, kind="stable")[:k]
        return {
            "classes": [int(i) for i in order],
            "probs": [float(p[i]) for i in order],
            "labels": [self.classes.names[i] for i in order],
        }

    def score(
        self,
        predictions: Sequence[Any],
        references: Sequence[Any] | None = None,
        targets: Sequence[Any] | None = None,
    ) -> dict[str, float]:
        """Metrics over a set of predictions.

        - ``agreement``: fraction whose top-1 class equals the reference's top-1;
          ``agreement_top5``: fraction whose top 5 contain the reference's top-1.
        - ``top1`` / ``top5``: accuracy against ``targets`` (per image a class
          index, a class name / synonym / COCO-80 name, or a list of
          acceptable ones; any hit counts). ``top5`` needs predictions with
          at least 5 classes.
        """
        tops = [_top(p, i, "prediction") for i, p in enumerate(predictions)]
        n = len(tops)
        out: dict[str, float] = {}
        if references is not None:
            if len(references) != n:
                raise InputError(f"{n} predictions but {len(references)} references")
            refs = [_top(r, i, "reference")[0] for i, r in enumerate(references)]
            if n:
                out["agreement"] = sum(t[0] == r for t, r in zip(tops, refs)) / n
                out["agreement_top5"] = sum(r in t[:5] for t, r in zip(tops, refs)) / n
        if targets is not None:
            if len(targets) != n:
                raise InputError(f"{n} predictions but {len(targets)} targets")
            accept = [self.classes.resolve_target(t) for t in targets]
            if n:
                out["top1"] = sum(t[0] in a for t, a in zip(tops, accept)) / n
                if all(len(t) >= 5 for t in tops):
                    out["top5"] = sum(any(i in a for i in t[:5]) for t, a in zip(tops, accept)) / n
        return out


class Resnet50Classifier(ImagenetClassifier):
    """ImageNet-1k classification with torchvision ResNet-50 (the paper's classifier); top-1, top-5, agreement."""

    name = "resnet50-classifier"

    class Options(ImagenetClassifier.Options):
        backbone: str = Field("torchvision:resnet50", min_length=1, description=BACKBONE_HELP)
        weights: str = Field("hub", min_length=1, description=WEIGHTS_HELP + "; here: a state-dict file of "
                             "ResNet-50, or 'hub' / 'hub:<tag>' (torchvision's file in torch's hub checkpoint "
                             "folder)", json_schema_extra=PATH_OPTION)
