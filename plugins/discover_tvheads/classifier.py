"""``resnet50-classifier``: the paper's ImageNet head (ResNet-50), as ``imagenet-classifier`` with ResNet-50."""

from __future__ import annotations

from pydantic import Field

from discover_core.interfaces import PATH_OPTION

from discover_imagenet.cam import BACKBONE_HELP, WEIGHTS_HELP
from discover_imagenet.classifier import ImagenetClassifier


class Resnet50Classifier(ImagenetClassifier):
    """ImageNet-1k classification with torchvision ResNet-50 (the paper's classifier); top-1, top-5, agreement."""

    name = "resnet50-classifier"

    class Options(ImagenetClassifier.Options):
        backbone: str = Field("torchvision:resnet50", min_length=1, description=BACKBONE_HELP)
        weights: str = Field("hub", min_length=1, description=WEIGHTS_HELP + "; here: a state-dict file of "
                             "ResNet-50, or 'hub' / 'hub:<tag>' (torchvision's file in torch's hub checkpoint "
                             "folder)", json_schema_extra=PATH_OPTION)
