"""Options shared by the head and the grounder, and loading the segmenter they name."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from discover_core.devices import component_device
from discover_core.interfaces import PATH_OPTION, Options

WEIGHTS_HELP = ("the model's TensorFlow.js files: a folder holding <model>.json + <model>.bin, or the path of the "
                ".json (relative to the pipeline file); default: the files that `discover models fetch selfie` "
                "(or meet) stores in the cache folder")


class SegmenterOptions(Options):
    model: Literal["selfie", "meet"] = Field(
        "selfie", description="selfie: MediaPipe Selfie Segmentation, 256x256, Apache-2.0; meet: the Google Meet "
        "segmenter, 144x256, licence unclear (docs/segmentation.md)")
    weights: str | None = Field(None, min_length=1, description=WEIGHTS_HELP, json_schema_extra=PATH_OPTION)
    threshold: float = Field(0.5, gt=0.0, lt=1.0, description="pixels whose person probability is at least this "
                             "belong to the mask")
    min_area: float = Field(0.001, ge=0.0, lt=1.0, description="instances (8-connected components of the mask) "
                            "smaller than this fraction of the image are left out (not out of the mask)")
    device: str | None = Field(None, description="torch device (cpu, cuda, cuda:1, mps); default: the pipeline's "
                               "device")


def load_for(component):
    """The segmenter a component's ``model`` / ``weights`` / ``device`` options name (cached per process)."""
    from .fetch import model_json
    from .model import load

    o = component.options
    return load(model_json(o.model, o.weights, component.context), component_device(component), fetch=o.model)


def fingerprint_of(component) -> str:
    """``sha256:...`` of the model files a component loaded (computed once per component)."""
    cached = getattr(component, "_fingerprint", None)
    if cached is None:
        from .fetch import weights_fingerprint

        cached = component._fingerprint = weights_fingerprint(component.model.path, component.context)
    return cached
