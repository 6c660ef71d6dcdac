"""Built-in plugin ``imagenet``: ImageNet-1k networks as a grounder and as a task head.

- grounder ``cam``: boxes from class activation maps (default EfficientNet-Lite0);
- task head ``imagenet-classifier``: top-k classes, agreement and accuracy
  (default MobileNetV2).

Both load their weights offline from registry packages by default. Nothing
heavy is imported here: torch and the networks load when a component is built.
"""

from discover_core.hookspecs import hookimpl

from .cam import CamGrounder
from .classifier import ImagenetClassifier

__all__ = ["CamGrounder", "ImagenetClassifier"]


@hookimpl
def register_grounders(register):
    register(CamGrounder)


@hookimpl
def register_task_heads(register):
    register(ImagenetClassifier)
