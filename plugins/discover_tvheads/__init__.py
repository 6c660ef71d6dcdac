"""Built-in plugin ``tvheads``: the paper's evaluation networks from torchvision, as task heads.

- the ``faster-rcnn`` backend of ``coco-detector`` (``backend: faster-rcnn``; :func:`.detection.faster_rcnn`,
  imported only when that backend is built): Faster R-CNN R50-FPN, the same prediction format and scores;
- ``coco-instance-segmenter``: Mask R-CNN R50-FPN, COCO mask AP and box AP, agreement AP;
- ``resnet50-classifier``: ResNet-50 ImageNet-1k top-1 / top-5 (``imagenet-classifier`` with ResNet-50).

Weights come from a state-dict file or a torchvision weights name (``FasterRCNN_ResNet50_FPN_Weights.COCO_V1``,
read from torch's hub checkpoint folder, never downloaded here).
"""

from discover_core.hookspecs import hookimpl

from .classifier import Resnet50Classifier
from .detection import MaskRcnnSegmenter

__all__ = ["MaskRcnnSegmenter", "Resnet50Classifier"]


@hookimpl
def register_task_heads(register):
    for cls in (MaskRcnnSegmenter, Resnet50Classifier):
        register(cls)
