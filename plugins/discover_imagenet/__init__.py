"""Built-in plugin ``imagenet``: ImageNet-1k networks as a grounder and as task heads.

- grounder ``cam``: boxes from class activation maps (default EfficientNet-Lite0);
- task head ``imagenet-classifier``: top-k classes, agreement and accuracy
  (default MobileNetV2);
- task head ``resnet50-classifier``: the paper's ImageNet head, ``imagenet-classifier`` with
  torchvision ResNet-50 defaults (weights from a state-dict file or torch's hub checkpoint folder).

``cam`` and ``imagenet-classifier`` load their weights offline from registry packages by default. Nothing
heavy is imported here: torch and the networks load when a component is built.
"""

from discover_core.hookspecs import hookimpl

from .cam import CamGrounder
from .classifier import ImagenetClassifier, Resnet50Classifier

__all__ = ["CamGrounder", "ImagenetClassifier", "Resnet50Classifier"]


@hookimpl
def register_grounders(register):
    register(CamGrounder)


@hookimpl
def register_task_heads(register):
    for cls in (ImagenetClassifier, Resnet50Classifier):
        register(cls)
