"""Image -> network input: resizing, cropping and normalisation (numpy + Pillow, no torch).

Two ways to feed a classifier:

- :func:`classification_input` is the evaluation transform the weights were
  validated with: resize the shorter side to ``resize_size``, centre-crop
  ``input_size`` (as torchvision's ``Resize`` + ``CenterCrop`` and timm's eval
  transform do).
- :func:`whole_image_input` keeps the whole picture (a grounder must see every
  object): the image is scaled so that its shorter side is about
  ``shorter_side``, each side rounded to a multiple of the network stride. The
  scaling is separate in x and y, so a box on the input maps back to the
  original by multiplying with ``(W / w_in, H / h_in)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from discover_core.errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_PIL_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}


@dataclass(frozen=True)
class Preprocess:
    """How a backbone's weights expect their input."""

    input_size: int = 224
    """Side of the square centre crop fed to the network when classifying."""
    resize_size: int = 256
    """Shorter side after resizing, before the centre crop."""
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    """Per-channel mean of RGB values scaled to [0, 1]."""
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.interpolation not in _PIL_FILTERS:
            raise ValueError(f"unknown interpolation {self.interpolation!r}; one of {sorted(_PIL_FILTERS)}")

    def normalise(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 -> (3, H, W) float32, normalised."""
        x = rgb.astype(np.float32) / 255.0
        x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1))


def check_image(image: np.ndarray) -> np.ndarray:
    """The image if it is (H, W, 3) uint8 RGB, else an :class:`InputError`."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"expected an image as numpy.ndarray, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(
            f"expected an (H, W, 3) uint8 RGB image, got shape {image.shape} and dtype {image.dtype}",
            "convert with discover_core.images (or numpy.asarray(PIL.Image.open(path).convert('RGB')))",
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"empty image of shape {image.shape}")
    return image


def _resize(image: np.ndarray, width: int, height: int, interpolation: str) -> np.ndarray:
    if image.shape[1] == width and image.shape[0] == height:
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), _PIL_FILTERS[interpolation]))


def classification_input(image: np.ndarray, pp: Preprocess) -> np.ndarray:
    """Resize the shorter side to ``pp.resize_size``, centre-crop ``pp.input_size``, normalise -> (3, S, S)."""
    check_image(image)
    h, w = image.shape[:2]
    short, long = (w, h) if w <= h else (h, w)
    # Same arithmetic as torchvision.transforms.Resize(int) on PIL images.
    new_short, new_long = pp.resize_size, int(pp.resize_size * long / short)
    nw, nh = (new_short, new_long) if w <= h else (new_long, new_short)
    resized = _resize(image, nw, nh, pp.interpolation)
    s = pp.input_size
    if nh < s or nw < s:  # resize_size < input_size: pad like torchvision's CenterCrop does
        pad_y, pad_x = max(0, s - nh), max(0, s - nw)
        resized = np.pad(resized, ((pad_y // 2, pad_y - pad_y // 2), (pad_x // 2, pad_x - pad_x // 2), (0, 0)))
        nh, nw = resized.shape[:2]
    top, left = int(round((nh - s) / 2.0)), int(round((nw - s) / 2.0))
    return pp.normalise(resized[top : top + s, left : left + s])


def whole_image_input(
    image: np.ndarray, pp: Preprocess, shorter_side: int, multiple: int = 32, max_aspect: float = 4.0
) -> tuple[np.ndarray, tuple[int, int]]:
    """The whole image scaled so its shorter side is about ``shorter_side``; sides are multiples of ``multiple``.

    The longer side is capped at ``max_aspect * shorter_side`` (very elongated
    images are squeezed rather than fed at many times the usual cost).
    Returns the normalised (3, h_in, w_in) array and ``(w_in, h_in)``.
    """
    check_image(image)
    h, w = image.shape[:2]
    scale = shorter_side / min(h, w)
    cap = max_aspect * shorter_side
    h_in = max(multiple, int(round(min(h * scale, cap) / multiple)) * multiple)
    w_in = max(multiple, int(round(min(w * scale, cap) / multiple)) * multiple)
    return pp.normalise(_resize(image, w_in, h_in, pp.interpolation)), (w_in, h_in)
