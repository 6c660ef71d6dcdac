"""Options shared by the grounder and the task head, and loading the detector they name."""

from __future__ import annotations

from pydantic import Field

from discover_core.devices import component_device
from discover_core.interfaces import PATH_OPTION, Options

WEIGHTS_HELP = ("the CenterNet TensorFlow.js model: a folder holding centernet.json + centernet.bin, or the "
                "path of the .json (relative to the pipeline file); default: the files that "
                "`discover models fetch centernet` stores in the cache folder")


class DetectorOptions(Options):
    weights: str | None = Field(None, min_length=1, description=WEIGHTS_HELP, json_schema_extra=PATH_OPTION)
    device: str | None = Field(None, description="torch device (cpu, cuda, cuda:1, mps); default: the pipeline's device")


def load_for(component):
    """The CenterNet a component's ``weights`` / ``device`` options name (cached per process)."""
    from .fetch import model_json
    from .model import load

    path = model_json(component.options.weights, component.context)
    return load(path, component_device(component))


def fingerprint_of(component) -> str:
    """``sha256:...`` of the model files a component loaded (computed once per component)."""
    cached = getattr(component, "_fingerprint", None)
    if cached is None:
        from .fetch import weights_fingerprint

        cached = component._fingerprint = weights_fingerprint(component.model.path, component.context)
    return cached
