"""Built-in plugin ``tvheads``: the paper's evaluation networks from torchvision, as task heads.

- ``coco-instance-segmenter``: Mask R-CNN R50-FPN, COCO mask AP and box AP, agreement AP.

The paper's other torchvision networks are served by the plugins of their task: Faster R-CNN R50-FPN is the
``faster-rcnn`` backend of ``coco-detector`` (``centernet`` plugin; the R-CNN code both use is
:mod:`discover_core.rcnn`), ResNet-50 is ``resnet50-classifier`` (``imagenet`` plugin).

Weights come from a state-dict file or a torchvision weights name (``MaskRCNN_ResNet50_FPN_Weights.COCO_V1``,
read from torch's hub checkpoint folder, never downloaded here).
"""

from discover_core.hookspecs import hookimpl

from .detection import MaskRcnnSegmenter

__all__ = ["MaskRcnnSegmenter"]


@hookimpl
def register_task_heads(register):
    register(MaskRcnnSegmenter)
